"""metav1.Condition and the object metadata subset the API models carry."""

from typing import Any, Literal

from pydantic import Field

from mcpop.api.base import DNSLabel, DNSSubdomain, Model
from mcpop.api.validation import Annotations, Labels


class Condition(Model):
    """A metav1.Condition."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: str
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)


class ObjectMeta(Model):
    """metav1.ObjectMeta: what users write is validated as the apiserver does; unknown fields are errors.

    Fields only the server sets are accepted as they come (the operator reads live objects).
    """

    name: DNSSubdomain
    generate_name: str | None = None
    namespace: DNSLabel | None = None
    uid: str | None = None
    generation: int | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None
    resource_version: str | None = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: int | None = None
    finalizers: list[str] | None = None
    owner_references: list[Any] | None = None
    managed_fields: list[Any] | None = None
    self_link: str | None = None


class ObjectReference(Model):
    name: DNSSubdomain
    namespace: DNSLabel | None = None
