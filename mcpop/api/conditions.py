"""metav1.Condition and the object metadata subset the API models carry."""

from typing import Literal

from pydantic import Field

from mcpop.api.base import DNSSubdomain, Model, ignoring_extra


class Condition(Model):
    """A metav1.Condition."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: str
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)


class ObjectMeta(Model):
    """The parts of ObjectMeta the renderer reads; everything else is ignored, not rejected."""

    model_config = ignoring_extra()

    name: DNSSubdomain
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ObjectReference(Model):
    name: DNSSubdomain
    namespace: str | None = None
