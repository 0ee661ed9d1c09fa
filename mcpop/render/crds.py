"""The CRDs as YAML text, exactly as `schemas/` holds them (written by `tools/gen-crds`)."""

from mcpop.api.crd import RESOURCES, crd, crd_file_name
from mcpop.codec.emitter import dump_yaml


def crd_files() -> dict[str, str]:
    """File name → YAML text of every CRD."""
    return {crd_file_name(m): dump_yaml([crd(m)]) for m in RESOURCES}
