"""ai.summarize: extractive summary by sentence scoring (word frequency, position).

No model weights or network: it ranks the text's own sentences, which is
what a summariser running here can honestly do, and reports each stage.
"""
from __future__ import annotations

import re
from collections import Counter

from pydantic import BaseModel, Field

from jobs.core.registry import job_type
from jobs.execution.context import JobContext

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-zA-Z\u00C0-\u024F']+")
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or our she that the their "
    "them they this to was we were what when which who will with you your not no so than then there these those "
    "been being do does did can could would should may might must also into over such only".split()
)


class SummarizePayload(BaseModel):
    text: str = Field(min_length=1, max_length=200_000, description="Text to summarise")
    max_sentences: int = Field(3, ge=1, le=50, description="Sentences to keep")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def score_sentences(sentences: list[str]) -> list[float]:
    """Sum of normalised content-word frequencies per sentence, lightly favouring the opening."""
    words = [[w.lower() for w in _WORD.findall(s) if w.lower() not in _STOPWORDS] for s in sentences]
    frequency = Counter(w for sentence in words for w in sentence)
    top = max(frequency.values(), default=1)
    scores = []
    for index, sentence_words in enumerate(words):
        base = sum(frequency[w] / top for w in sentence_words) / (len(sentence_words) ** 0.5 or 1)
        scores.append(base * (1.15 if index == 0 else 1.0))
    return scores


@job_type("ai.summarize", payload=SummarizePayload, queue="ai", timeout=60)
def summarize(ctx: JobContext) -> dict:
    """Extractive summary of a text: keeps its highest-scoring sentences in their original order."""
    payload: SummarizePayload = ctx.payload  # type: ignore[assignment]
    ctx.progress(5, stage="initializing", message="Preparing")
    ctx.progress(15, stage="validating", message="Splitting sentences")
    sentences = split_sentences(payload.text)
    if not sentences:
        sentences = [payload.text.strip()]
    ctx.progress(30, stage="executing", message=f"Scoring {len(sentences)} sentences")
    scores = score_sentences(sentences)
    ctx.progress(70, stage="processing_output", message="Selecting sentences")
    keep = sorted(sorted(range(len(sentences)), key=lambda i: -scores[i])[: payload.max_sentences])
    summary = " ".join(sentences[i] for i in keep)
    ctx.progress(90, stage="finalizing", message="Done")
    return {
        "summary": summary,
        "sentences": len(sentences),
        "kept": len(keep),
        "compression": round(len(summary) / max(len(payload.text), 1), 3),
    }
