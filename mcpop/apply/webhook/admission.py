"""AdmissionReview (admission.k8s.io/v1) in, AdmissionReview out: the webhooks' decisions. Pure but for
`Policy.access`, the cluster lookups an MCPServer naming an existing ServiceAccount needs.

Validation is `mcpop.render.validate` (one code path with `mcp render`). Deletes are never blocked, and an
update that leaves the spec as it was (the operator's own finalizer and ApplySet metadata writes, status
is a subresource the webhook does not see) is admitted without re-validating (also when the only change
is the mutating webhook's own defaults), so a spec accepted before a
stricter release can always be finalised and cleaned up.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import jsonpatch

from mcpop import GROUP
from mcpop.api.mcpserver import MCPServer
from mcpop.apply.resources import ApiError
from mcpop.apply.webhook.defaults import defaulted
from mcpop.render.accounts import account_refusal, existing_account, pods_forbidden
from mcpop.render.options import RenderOptions
from mcpop.render.podsecurity import Level
from mcpop.render.validate import KINDS, Verdict, validate

#: the apiserver truncates warnings longer than this
MAX_WARNING = 120 * 4


class Access(Protocol):
    """What the webhook asks the cluster about a request that names an existing ServiceAccount."""

    def may_create_pods(self, user: Mapping[str, Any], namespace: str) -> tuple[bool, str]:
        """A SubjectAccessReview for `user` (the request's userInfo): (allowed, the authorizer's reason)."""
        ...

    def account(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The live ServiceAccount, None when it does not exist."""
        ...


@dataclass(frozen=True)
class Policy:
    """What the validating webhook checks with: the operator's feature switches (for warnings), the Pod
    Security level each namespace allows (`--pod-security-levels`; restricted when not listed), and the
    cluster access checks for `serviceAccount.create: false` (None: not checked, e.g. offline)."""

    options: RenderOptions = field(default_factory=RenderOptions)
    pod_security: Mapping[str, Level] = field(default_factory=dict)
    access: Access | None = None
    operator_account: tuple[str, str] | None = None


def _response(review: dict[str, Any], **fields: Any) -> dict[str, Any]:
    uid = (review.get("request") or {}).get("uid", "")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": True, **fields}}  # fmt: skip


def _forbidden(review: dict[str, Any], kind: str, name: str, message: str) -> dict[str, Any]:
    status = {"code": 403, "reason": "Forbidden", "message": f'{kind}.{GROUP} "{name}" is forbidden: {message}',
              "details": {"name": name, "group": GROUP, "kind": kind}}  # fmt: skip
    return _response(review, allowed=False, status=status)


def _account_problem(policy: Policy, req: Mapping[str, Any], server: MCPServer, namespace: str) -> str | None:
    """Why this request may not make the server run as an existing ServiceAccount, or None."""
    name = existing_account(server.spec, server.metadata.name)
    if name is None or policy.access is None:
        return None
    try:
        account = policy.access.account(namespace, name)
    except ApiError as exc:
        return f"spec.serviceAccount.name: could not read ServiceAccount {name!r}: {exc.status} {exc.reason}"
    refused = account_refusal(namespace, name, account, policy.operator_account)
    if refused is not None:
        return refused
    user = req.get("userInfo") or {}
    allowed, reason = policy.access.may_create_pods(user, namespace)
    return None if allowed else pods_forbidden(namespace, name, str(user.get("username") or ""), reason)


def _denied(review: dict[str, Any], kind: str, name: str, verdict: Verdict) -> dict[str, Any]:
    problems = verdict.problems
    listed = "; ".join(str(p) for p in problems)
    message = f'{kind}.{GROUP} "{name}" is invalid: {listed}'
    causes = [{"reason": "FieldValueInvalid", "field": p.field, "message": p.message} for p in problems]
    status = {"code": 422, "reason": "Invalid", "message": message,
              "details": {"name": name, "group": GROUP, "kind": kind, "causes": causes}}  # fmt: skip
    out = _response(review, allowed=False, status=status)
    if verdict.warnings:
        out["response"]["warnings"] = [w[:MAX_WARNING] for w in verdict.warnings]
    return out


def _target(review: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, str] | None:
    """(object, old object, kind) of a request this webhook decides on; None to admit it unexamined."""
    req = review.get("request") or {}
    if req.get("operation") not in ("CREATE", "UPDATE") or req.get("subResource"):
        return None
    obj = req.get("object")
    kind = (req.get("kind") or {}).get("kind") or (obj or {}).get("kind")
    if not isinstance(obj, dict) or kind not in KINDS:
        return None
    return obj, req.get("oldObject"), str(kind)


def validating(review: dict[str, Any], policy: Policy = Policy()) -> dict[str, Any]:
    """The validating webhook's answer to `review`."""
    target = _target(review)
    if target is None:
        return _response(review)
    obj, old, kind = target
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp") or (
        old is not None and obj.get("spec") in (old.get("spec"), defaulted(old).get("spec"))
    ):
        return _response(review)  # fmt: skip
    req = review["request"]
    if not meta.get("namespace") and req.get("namespace"):
        obj = {**obj, "metadata": {**meta, "namespace": req["namespace"]}}
    name = str(meta.get("name") or meta.get("generateName") or "")
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    options = replace(policy.options, pod_security=policy.pod_security.get(ns, "restricted"))
    verdict = validate(obj, None, options)
    if not verdict.ok:
        return _denied(review, kind, name, verdict)
    if isinstance(verdict.resource, MCPServer):
        problem = _account_problem(policy, req, verdict.resource, ns)
        if problem is not None:
            return _forbidden(review, kind, name, problem)
    out = _response(review)
    if verdict.warnings:
        out["response"]["warnings"] = [w[:MAX_WARNING] for w in verdict.warnings]
    return out


def mutating(review: dict[str, Any]) -> dict[str, Any]:
    """The mutating webhook's answer: a JSONPatch setting the defaults that are absent."""
    target = _target(review)
    if target is None:
        return _response(review)
    obj, _, _ = target
    ops = jsonpatch.make_patch(obj, defaulted(obj)).patch
    if not ops:
        return _response(review)
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return _response(review, patchType="JSONPatch", patch=patch)


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def handlers(policy: Policy) -> dict[str, Handler]:
    """URL path → handler: one path for every kind (`mcp operator webhook-config`), and one per kind as
    controller-runtime names them (`/validate-mcp-allbeone-io-v1-mcpserver`, the chart's)."""
    routes: dict[str, Handler] = {VALIDATE_PATH: lambda r: validating(r, policy), MUTATE_PATH: mutating}
    for kind in KINDS:
        routes[f"{VALIDATE_PATH}-{kind.lower()}"] = routes[VALIDATE_PATH]
        routes[f"{MUTATE_PATH}-{kind.lower()}"] = mutating
    return routes


VALIDATE_PATH = "/validate-mcp-allbeone-io-v1"
MUTATE_PATH = "/mutate-mcp-allbeone-io-v1"
