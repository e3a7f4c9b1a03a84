"""The "add job" form, generated from a job type's pydantic payload model (one declaration per job type: jobs.core.registry).

The model's JSON Schema drives it: each property becomes a field of the
matching kind (text, number, whole number, yes/no, choice, email, a list
one item per line), with the model's default, its Field description as help
text, and its bounds; anything richer (objects, lists of objects, unions)
gets a JSON text box. The form only shapes input: validation is the type's
own (``build_job``), and its field errors are put back next to the fields.
"""
from __future__ import annotations

import json
from typing import Any

from django import forms

from jobs.core.config import PRIORITY_RANGE, get_config
from jobs.core.errors import JobTypeError
from jobs.core.registry import JobType
from jobs.engine.build import timeout_ceiling

#: Text longer than this (or unbounded) gets a text area instead of a one-line input.
LONG_TEXT = 2000
#: Prefixes of the job-option fields, so that payload property names never clash with them.
OPTION_FIELDS = ("job_queue", "job_priority", "job_timeout", "job_delay", "job_unique_key")


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property's own schema (``$ref`` followed) and whether it accepts null."""
    nullable = False
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = len(options) < len(prop["anyOf"])
        if len(options) == 1:
            prop = {**prop, **options[0]}
            prop.pop("anyOf", None)
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        prop = {**schema.get("$defs", {}).get(name, {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop, nullable


def _bounds_help(prop: dict[str, Any]) -> str:
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f"at least {low:g}" if "minimum" in prop else f"more than {low:g}"
    if high is not None:
        return f"at most {high:g}" if "maximum" in prop else f"less than {high:g}"
    return ""


class ListField(forms.CharField):
    """A list of strings (or emails), one per line."""

    def __init__(self, *, item: dict[str, Any], **kwargs: Any) -> None:
        self.email = item.get("format") == "email"
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        items = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
        if self.email:
            for item in items:
                try:
                    forms.EmailField().clean(item)
                except forms.ValidationError:
                    raise forms.ValidationError(f"{item!r} is not a valid email address.") from None
        return items


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def field_for(schema: dict[str, Any], name: str, prop: dict[str, Any], required: bool) -> forms.Field:
    prop, nullable = _resolve(schema, prop)
    kind = prop.get("type")
    help_parts = [prop.get("description", "")]
    common: dict[str, Any] = {"label": prop.get("title") or name.replace("_", " "), "required": required}
    if "default" in prop:
        common["initial"] = prop["default"]
    if "enum" in prop:
        choices = [(v, str(v)) for v in prop["enum"]]
        if nullable or (not required and "default" not in prop):  # a default is always one of the choices
            choices = [("", "—"), *choices]
        field: forms.Field = forms.TypedChoiceField(choices=choices, coerce=type(prop["enum"][0]),
                                                    empty_value=None, **common)
    elif kind == "boolean":
        field = forms.BooleanField(**{**common, "required": False})
    elif kind == "integer":
        field = forms.IntegerField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
        help_parts.append(_bounds_help(prop))
    elif kind == "number":
        field = forms.FloatField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
        help_parts.append(_bounds_help(prop))
    elif kind == "string" and prop.get("format") == "email":
        field = forms.EmailField(**common)
    elif kind == "string":
        max_length = prop.get("maxLength")
        long_text = max_length is None or max_length > LONG_TEXT
        widget = forms.Textarea(attrs={"rows": 4}) if long_text else forms.TextInput(attrs={"size": 60})
        field = forms.CharField(max_length=max_length, min_length=prop.get("minLength"), strip=False,
                                widget=widget, empty_value=None if nullable or not required else "", **common)
        if prop.get("pattern"):
            help_parts.append(f"pattern {prop['pattern']}")
    elif kind == "array" and _resolve(schema, prop.get("items", {}))[0].get("type") == "string" \
            and "enum" not in _resolve(schema, prop.get("items", {}))[0]:
        field = ListField(item=_resolve(schema, prop.get("items", {}))[0], **common)
        help_parts.append("one per line")
    else:
        field = PrettyJSONField(widget=forms.Textarea(attrs={"rows": 5, "class": "json"}), **common)
        help_parts.append("JSON")
    field.help_text = " — ".join(p for p in help_parts if p)
    field.widget.attrs.setdefault("data-payload", name)
    return field


class AddJobForm(forms.Form):
    """Payload fields of one job type, then the job's options (queue, priority, delay, unique key)."""

    def __init__(self, job_type: JobType, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job_type = job_type
        schema = job_type.payload_model.model_json_schema()
        required = set(schema.get("required", []))
        self.payload_names = list(schema.get("properties", {}))
        for name, prop in schema.get("properties", {}).items():
            self.fields[name] = field_for(schema, name, prop, name in required)
        config = get_config()
        self.fields["job_queue"] = forms.ChoiceField(
            label="Queue", choices=[(q, q) for q in config.queues], initial=job_type.queue)
        self.fields["job_priority"] = forms.TypedChoiceField(
            label="Priority", required=False, coerce=int, empty_value=None,
            choices=[("", f"default ({job_type.default_priority()})")] + [(p, str(p)) for p in PRIORITY_RANGE],
            help_text="0 runs first, 9 last")
        longest = timeout_ceiling(job_type)
        self.fields["job_timeout"] = forms.FloatField(
            label="Time limit", required=False, min_value=0.001, max_value=longest,
            widget=forms.NumberInput(attrs={"placeholder": f"{job_type.default_timeout():g}", "step": "any"}),
            help_text=f"seconds the handler may run (empty: the type's {job_type.default_timeout():g} s; "
                      f"at most {longest:g} s)")
        self.fields["job_delay"] = forms.FloatField(label="Delay", required=False, min_value=0,
                                                    help_text="seconds before it may run (empty: now)")
        self.fields["job_unique_key"] = forms.CharField(
            label="Unique key", required=False, max_length=200,
            help_text="while a live job holds this key, adding another returns that job")

    def payload_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.payload_names]

    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in OPTION_FIELDS]

    def payload(self) -> dict[str, Any]:
        """The cleaned payload: empty optional fields are left out, so the model's defaults apply."""
        data = {}
        for name in self.payload_names:
            value = self.cleaned_data.get(name)
            if value is None or (value == "" and not self.fields[name].required):
                continue
            data[name] = value
        return data

    def enqueue_request(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "type": self.job_type.name,
            "payload": self.payload(),
            "queue": data["job_queue"],
            "priority": data.get("job_priority"),
            "timeout": data.get("job_timeout") or None,
            "delay": data.get("job_delay") or None,
            "unique_key": data.get("job_unique_key") or None,
        }

    def add_job_errors(self, exc: JobTypeError) -> None:
        """Put the job type's own validation errors next to the fields they concern."""
        options = {"queue": "job_queue", "priority": "job_priority", "timeout": "job_timeout", "delay": "job_delay",
                   "unique_key": "job_unique_key"}
        for error in exc.errors or [{"field": "", "message": str(exc)}]:
            parts = str(error.get("field", "")).split(".")
            message = error.get("message", "invalid")
            if parts[0] == "payload" and len(parts) > 1 and parts[1] in self.fields:
                suffix = f" (item {'.'.join(parts[2:])})" if len(parts) > 2 else ""
                self.add_error(parts[1], f"{message}{suffix}")
            elif parts[0] in options:
                self.add_error(options[parts[0]], message)
            else:
                self.add_error(None, f"{error.get('field') or 'payload'}: {message}")
