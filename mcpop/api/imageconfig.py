"""An OCI image's runtime configuration (the part of its config blob the renderer needs): a pure model.

The input is the image config JSON as the registry stores it and `crane config REF` prints it
(`{"architecture": ..., "os": ..., "config": {"Entrypoint": [...], "Cmd": [...], ...}}`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpop.codec.reader import YAMLInputError, load_json


@dataclass(frozen=True)
class ImageConfig:
    """Entrypoint, Cmd, WorkingDir, User and Env of an image (`config` of its OCI config blob)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str | None = None
    user: str | None = None
    env: tuple[str, ...] = ()
    #: the config blob's digest, when known (the operator reads it by digest)
    digest: str | None = None

    def command(self, args: list[str] | None = None) -> list[str]:
        """What the container runs: Entrypoint + Cmd, with `args` (when given) replacing Cmd, as Docker does."""
        return [*self.entrypoint, *(args if args else self.cmd)]

    def numeric_user(self) -> int | None:
        """The image's user as a UID when it is numeric (`1000` or `1000:1000`), else None."""
        uid = (self.user or "").split(":", 1)[0]
        return int(uid) if uid.isdigit() else None


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"config.{what} must be a list of strings, not {type(value).__name__}")
    return tuple(value)


def _text(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"config.{what} must be a string, not {type(value).__name__}")
    return value


def parse_image_config(data: object, digest: str | None = None) -> ImageConfig:
    """An ImageConfig from a decoded OCI image config blob; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"an OCI image config is a JSON object, not {type(data).__name__}")
    if "config" not in data:
        if "manifests" in data or "layers" in data:
            raise ValueError("this is a manifest or index, not an image config (use `crane config REF`)")
        raise ValueError("no `config` object: not an OCI image config (use `crane config REF`)")
    conf = data["config"]
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise ValueError(f"`config` must be an object, not {type(conf).__name__}")
    return ImageConfig(
        entrypoint=_strings(conf.get("Entrypoint"), "Entrypoint"),
        cmd=_strings(conf.get("Cmd"), "Cmd"),
        working_dir=_text(conf.get("WorkingDir"), "WorkingDir"),
        user=_text(conf.get("User"), "User"),
        env=_strings(conf.get("Env"), "Env"),
        digest=digest,
    )


def load_image_config(text: str | bytes, digest: str | None = None) -> ImageConfig:
    """Parse image config JSON text; ValueError when it is not JSON or not an image config."""
    try:
        data = load_json(text)
    except YAMLInputError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return parse_image_config(data, digest)


def canonical_ref(ref: str) -> str:
    """An image reference in full form: registry host, `library/` for Docker Hub, `:latest` when untagged."""
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        first, rest = "docker.io", name
    if first in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        first = "docker.io"
        if "/" not in rest:
            rest = f"library/{rest}"
    last = rest.rsplit("/", 1)[-1]
    if not at and ":" not in last:
        rest += ":latest"
    return f"{first}/{rest}{at}{digest}"
