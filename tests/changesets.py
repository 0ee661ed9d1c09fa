"""Change sets for status tests: what an apply of a set would have reported."""

from __future__ import annotations

from mcpop.apply.ssa.changeset import Change, ChangeSet


def changes(
    applied: int = 0,
    conflicts: tuple[tuple[str, str, str], ...] = (),
    skipped: tuple[tuple[str, str], ...] = (),
    failed: tuple[str, str] | None = None,
    exists: tuple[str, ...] = (),
) -> ChangeSet:
    """`applied` unchanged ConfigMaps; conflicts (kind, field, manager); skipped (kind, apiVersion); a failed
    Deployment apply with `failed` (name, message); objects of these kinds that exist and are not ours."""
    out = ChangeSet([Change("unchanged", "ConfigMap", f"c{i}", "ns", "v1") for i in range(applied)])
    for kind, fld, manager in conflicts:
        out.add(Change("conflict", kind, "x", "ns", "v1", conflicts=((fld, manager),)))
    for kind, api_version in skipped:
        out.add(Change("skipped", kind, "x", "ns", api_version, reason=f"{api_version} is not served"))
    for kind in exists:
        out.add(Change("conflict", kind, "x", "ns", "v1", reason=f"ObjectExists: {kind} ns/x exists"))
    if failed is not None:
        out.add(Change("failed", "Deployment", failed[0], "ns", "apps/v1", reason=failed[1]))
    return out
