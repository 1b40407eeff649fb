"""What a summariser says about one conversation (Clio's facets, Kura 0.5's field names)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GeneratedSummary(BaseModel):
    """The facets a summariser produces. Subclass it to ask for more; extra fields land in metadata."""

    summary: str = Field(
        ...,
        description="A clear and concise summary of the conversation in at most two sentences, "
        "avoiding phrases like 'Based on the conversation' and excluding proper nouns or PII",
    )
    request: str | None = Field(None, description="The user's overall request for the assistant")
    topic: str | None = Field(None, description="The main high-level topic of the conversation")
    languages: list[str] | None = Field(None, description="Main human and programming languages, lowercase full names")
    task: str | None = Field(None, description="The task the model is being asked to perform")
    concerning_score: int | None = Field(None, ge=1, le=5, description="Safety concern, 1-5")
    user_frustration: int | None = Field(None, ge=1, le=5, description="User frustration, 1-5")
    assistant_errors: list[str] | None = Field(None, description="Errors the assistant made")


class ConversationSummary(GeneratedSummary):
    chat_id: str
    metadata: dict = Field(default_factory=dict)
    embedding: list[float] | None = None

    def __repr__(self) -> str:
        lines = [
            f"<summary>{self.summary}</summary>",
            f"<topic>{self.topic}</topic>",
            f"<request>{self.request}</request>",
            f"<task>{self.task}</task>",
            f"<languages>{self.languages}</languages>",
            f"<assistant_errors>{self.assistant_errors}</assistant_errors>",
        ]
        for key, value in self.metadata.items():
            if isinstance(value, (str, int, float, bool)) or (
                isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)
            ):
                lines.append(f"<{key}>{value}</{key}>")
        return "\n".join(lines)


class ExtractedProperty(BaseModel):
    name: str
    value: str | int | float | bool | list[str] | list[int] | list[float]
