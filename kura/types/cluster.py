"""Clusters of conversations and the tree they form."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, computed_field
from pydantic.json_schema import SkipJsonSchema


class Cluster(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    name: str
    description: str
    slug: str = Field(..., description="A three-word snake_case summary of what this cluster is about")
    chat_ids: list[str]
    parent_id: str | None = None
    #: Which namer made the name: a model ("local/qwen2.5-coder-0.5b", "openai/gpt-4o-mini") or
    #: "terms" (distinctive terms, no model); None where a run did not record it.
    named_by: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> int:
        return len(self.chat_ids)

    def __str__(self) -> str:
        return f"Name: {self.name}\nDescription: {self.description}"


class GeneratedCluster(BaseModel):
    """What a namer returns for one cluster (Kura 0.5's schema)."""

    name: str = Field(..., description="A short imperative sentence (at most ten words) naming the cluster")
    summary: str = Field(..., description="A two-sentence past-tense description without PII or proper nouns")
    slug: str = Field(..., description="A three-word snake_case summary")
    #: Which namer made the name (becomes ``Cluster.named_by``); not part of what a model is asked for.
    named_by: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class ClusterTreeNode(BaseModel):
    id: str
    name: str
    description: str
    slug: str
    count: int
    children: list[str]
