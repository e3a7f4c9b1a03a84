"""Demo Django tasks (``@task``, README "Using Django's Tasks API"), loaded with the demo job types."""
from __future__ import annotations

from jobs.tasks.api import task
from jobs.tasks.types import JobTaskContext


@task
def add(a: float, b: float) -> float:
    """Adds two numbers: the smallest task, runnable from the dashboard's add form."""
    return a + b


@task(takes_context=True, queue_name="ai", priority=50)
def count_words(context: JobTaskContext, text: str) -> dict:
    """Counts the words of a text, reporting progress: a task that takes the context."""
    context.progress(50, stage="counting")
    return {"words": len(text.split()), "attempt": context.attempt}
