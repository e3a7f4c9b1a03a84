"""indexing.reindex: build or update the full-text search document of an entity."""
from __future__ import annotations

from django.contrib.postgres.search import SearchVector
from django.db.models import Value
from pydantic import BaseModel, Field

from jobs.core.registry import job_type
from jobs.execution.context import JobContext
from jobs.models import SearchDocument

LANGUAGES = ("simple", "english", "french", "german", "spanish", "italian", "portuguese", "dutch")


class ReindexPayload(BaseModel):
    entity_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.-]+$")
    entity_id: str = Field(min_length=1, max_length=100)
    title: str = Field("", max_length=500)
    body: str = Field("", max_length=1_000_000)
    language: str = Field("english", description=f"One of: {', '.join(LANGUAGES)}")

    def model_post_init(self, __context: object) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")


@job_type("indexing.reindex", payload=ReindexPayload, queue="indexing",
          unique=lambda p: f"{p.entity_type}:{p.entity_id}")  # type: ignore[attr-defined]
def reindex(ctx: JobContext) -> dict:
    """Upsert the entity's search document and recompute its weighted tsvector (title A, body B)."""
    payload: ReindexPayload = ctx.payload  # type: ignore[assignment]
    ctx.progress(10, stage="upserting")
    document, created = SearchDocument.objects.update_or_create(
        entity_type=payload.entity_type,
        entity_id=payload.entity_id,
        defaults={"title": payload.title, "body": payload.body, "language": payload.language},
    )
    ctx.progress(60, stage="vectorizing")
    SearchDocument.objects.filter(pk=document.pk).update(
        vector=SearchVector(Value(payload.title), weight="A", config=payload.language)
        + SearchVector(Value(payload.body), weight="B", config=payload.language)
    )
    return {"document_id": document.pk, "created": created}
