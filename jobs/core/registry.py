"""Job types, declared once.

A declaration names the handler, its pydantic payload model, queue, retry
policy, timeout, priority and uniqueness. The API, the admin form, the CLI
and the docs all read this registry; nothing else defines what a job is.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from django.conf import settings

from jobs.core.config import Retention, get_config
from jobs.core.errors import JobTypeError
from jobs.core.retry import RetryPolicy

#: A handler takes the run's jobs.execution.context.JobContext (core does not import the layers above it).
Handler = Callable[[Any], Any]
UniqueKeyFn = Callable[[pydantic.BaseModel], str]
#: Who may enqueue a type from the API, the dashboard and the CLI (jobs/core/permissions.py):
#: "public" needs add_queuejob; "restricted" also ``jobs.enqueue_<type>``; "internal" types are
#: the engine's own work (webhook deliveries, maintenance): hidden from people, and refused to
#: anyone without ``jobs.enqueue_<type>`` (the CLI: without --allow-internal).
Access = Literal["public", "restricted", "internal"]
ACCESS_LEVELS: tuple[Access, ...] = ("public", "restricted", "internal")


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    payload_model: type[pydantic.BaseModel]
    queue: str = "default"
    #: Overrides the queue's retry policy when set.
    retry: RetryPolicy | None = None
    timeout: float | None = None
    priority: int | None = None
    #: True: one live job per identical payload; a function: one per key it returns.
    unique: bool | UniqueKeyFn = False
    description: str = ""
    access: Access = "public"
    #: The longest time limit a caller may ask for (None: the queue's ``max_timeout``).
    max_timeout: float | None = None
    #: The least time a payload needs, where that is knowable (``demo.sleep``: its seconds): a job whose
    #: time limit is shorter is flagged when it is enqueued (``time_warning``).
    min_time: Callable[[Any], float] | None = None
    #: Its own retention, counted apart from its queue's (None: the queue's; jobs/plugins/pruner.py).
    keep_completed: Retention | None = None
    keep_failed: Retention | None = None

    @property
    def enqueue_permission(self) -> str:
        return f"jobs.enqueue_{self.name}"

    def time_warning(self, payload: pydantic.BaseModel, timeout: float) -> str | None:
        """Why this job will time out, if its payload says so; None otherwise."""
        needed = self.min_time(payload) if self.min_time is not None else 0.0
        if needed >= timeout:
            return (f"{self.name} needs at least {needed:g} s but its time limit is {timeout:g} s: it will time out; "
                    f"ask for a longer timeout")
        return None

    def enqueue_access(self) -> Access:
        """The declared access, unless the JOB_TYPE_ACCESS setting overrides it for this deployment."""
        return settings.JOB_TYPE_ACCESS.get(self.name, self.access)

    def retry_policy(self) -> RetryPolicy:
        return self.retry or get_config().queue(self.queue).retry

    def default_timeout(self) -> float:
        return self.timeout if self.timeout is not None else get_config().job_timeout

    def default_priority(self) -> int:
        return self.priority if self.priority is not None else get_config().queue(self.queue).priority

    def validate(self, payload: Any) -> pydantic.BaseModel:
        """Parse a payload, turning pydantic's errors into field-level ones."""
        try:
            return self.payload_model.model_validate(payload if payload is not None else {})
        except pydantic.ValidationError as exc:
            errors = [
                {
                    "field": ".".join(["payload", *(str(part) for part in err["loc"])]),
                    "message": self._unknown_field(err) if err["type"] == "extra_forbidden" else err["msg"],
                    "type": err["type"],
                }
                for err in exc.errors(include_url=False)
            ]
            raise JobTypeError(f"invalid payload for {self.name}", errors) from None

    def _unknown_field(self, err: Any) -> str:
        model = self.payload_model if len(err["loc"]) == 1 else None
        known = ", ".join(model.model_fields) if model is not None else ""
        return f"unknown field; known fields: {known}" if known else "unknown field"

    def unique_key_for(self, payload: pydantic.BaseModel) -> str | None:
        if not self.unique:
            return None
        if callable(self.unique):
            return f"{self.name}:{self.unique(payload)}"
        digest = hashlib.sha256(
            json.dumps(payload.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()[:32]
        return f"{self.name}:{digest}"


_registry: dict[str, JobType] = {}


def job_type(
    name: str,
    *,
    payload: type[pydantic.BaseModel],
    queue: str = "default",
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    priority: int | None = None,
    unique: bool | UniqueKeyFn = False,
    access: Access = "public",
    max_timeout: float | None = None,
    min_time: Callable[[Any], float] | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of job type ``name``."""

    if access not in ACCESS_LEVELS:
        raise ValueError(f"job type {name!r}: access must be one of {', '.join(ACCESS_LEVELS)}")

    def register(handler: Handler) -> Handler:
        existing = _registry.get(name)
        model = strict_payload(payload)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job type {name!r} is already registered by {existing.handler!r}")
        _registry[name] = JobType(
            name=name,
            handler=handler,
            payload_model=model,
            queue=queue,
            retry=retry,
            timeout=timeout,
            priority=priority,
            unique=unique,
            access=access,
            max_timeout=max_timeout,
            min_time=min_time,
            description=(handler.__doc__ or "").strip().split("\n\n")[0],
        )
        return handler

    return register


def strict_payload(model: type[pydantic.BaseModel]) -> type[pydantic.BaseModel]:
    """The payload model refusing unknown fields, so a typo (``max_sentence`` for ``max_sentences``) is a
    422 naming it rather than a default silently used. A model that sets ``extra`` itself (for instance
    ``ConfigDict(extra="ignore")``) keeps its choice: that is how a type opts out."""
    if "extra" in model.model_config:
        return model
    return type(model.__name__, (model,), {"model_config": pydantic.ConfigDict(extra="forbid"),
                                           "__module__": model.__module__, "__doc__": model.__doc__})


#: Ways a worker may find a type no module registered yet (jobs.tasks adds one: a Django task is
#: known by its module path and registers itself when that module is imported).
_loaders: list[Callable[[str], JobType | None]] = []


def add_loader(loader: Callable[[str], JobType | None]) -> None:
    if loader not in _loaders:
        _loaders.append(loader)


def register(jt: JobType, *, replace: bool = False) -> JobType:
    """Add a built declaration (``job_type`` builds its own); unless ``replace``, the first of a name stays."""
    if replace:
        _registry[jt.name] = jt
        return jt
    return _registry.setdefault(jt.name, jt)


def get_job_type(name: str, *, load: bool = False) -> JobType:
    """The declaration of ``name``. ``load=True`` (workers only) lets the loaders import it: never on a
    name from a request, since importing a module runs its code."""
    try:
        return _registry[name]
    except KeyError:
        pass
    for loader in _loaders if load else ():
        found = loader(name)
        if found is not None:
            return found
    known = ", ".join(sorted(_registry)) or "none"
    raise JobTypeError(
        f"unknown job type {name!r}",
        [{"field": "type", "message": f"unknown job type; known types: {known}", "type": "unknown_type"}],
    )


def time_warning(type_name: str, payload: Any, timeout: float) -> str | None:
    """The type's warning for a job of ``payload`` under a ``timeout`` time limit (``JobType.min_time``)."""
    jt = get_job_type(type_name)
    return jt.time_warning(jt.validate(payload), timeout) if jt.min_time is not None else None


def all_job_types() -> list[JobType]:
    return sorted(_registry.values(), key=lambda jt: jt.name)


def load_job_type_modules() -> None:
    for module in settings.JOB_TYPE_MODULES:
        importlib.import_module(module)
