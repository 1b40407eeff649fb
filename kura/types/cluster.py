"""Clusters of conversations and the tree they form."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, computed_field


class Cluster(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    name: str
    description: str
    slug: str = Field(..., description="A three-word snake_case summary of what this cluster is about")
    chat_ids: list[str]
    parent_id: str | None = None

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


class ClusterTreeNode(BaseModel):
    id: str
    name: str
    description: str
    slug: str
    count: int
    children: list[str]
