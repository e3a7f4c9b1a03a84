"""The raw-RQ side's job function: nothing of Django or the project is imported here."""


def noop() -> None:
    """Does nothing; RQ's own per-job cost is all that is measured."""
