"""MCPServer status from what a reconcile found: pure functions, tested without a cluster.

Conditions are merged with the live ones by `mcpop.apply.runtime.conditions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mcpop.api.mcpserver import MAX_TOOL_NAMES, MCPServer
from mcpop.api.validation import strip_userinfo
from mcpop.apply.runtime.conditions import Cond, get_condition, merge_conditions, now_rfc3339
from mcpop.apply.runtime.timefmt import parse_time
from mcpop.apply.ssa.changeset import ChangeSet
from mcpop.apply.ssa.manager import conflict_text
from mcpop.render.workload import PATH_ANNOTATION, REMOTE_URL, TRANSPORT_ANNOTATION

READY = "Ready"
#: Rendered/Ready reason when an OCI stdio image's config (its entrypoint) cannot be read from its registry
IMAGE_CONFIG_UNAVAILABLE = "ImageConfigUnavailable"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
RENDERED = "Rendered"
APPLIED = "Applied"
REGISTRY_FETCHED = "RegistryFetched"
RECONCILING = "Reconciling"
STALLED = "Stalled"
VERIFIED = "Verified"
TOOLS_CHANGED = "ToolsChanged"
#: the condition types this operator writes, in the order they are written
CONDITION_ORDER = (READY, AVAILABLE, PROGRESSING, RENDERED, APPLIED, REGISTRY_FETCHED, VERIFIED, TOOLS_CHANGED,
                   RECONCILING, STALLED)  # fmt: skip


@dataclass
class Outcome:
    """What one reconcile found out; input to `compute_status`."""

    generation: int | None
    terminating: bool = False
    #: the spec cannot be rendered (validation or RenderError): terminal until the spec changes
    invalid: str | None = None
    #: what applying the object set did (empty when nothing was applied)
    changes: ChangeSet = field(default_factory=ChangeSet)
    #: how many objects were rendered (0: as many as the change set applied)
    rendered: int = 0
    deployment: dict[str, Any] | None = None
    service_endpoint: str | None = None
    #: the MCP endpoint's in-cluster URL (with the transport's path) and the transport, from the Service
    url: str | None = None
    #: the URL through spec.expose.gateway once its HTTPRoute is Accepted (status.url then; url is still probed)
    external_url: str | None = None
    transport: str | None = None
    selector: str | None = None
    #: the image reference the Deployment runs (status splits it into image and tag)
    image: str | None = None
    #: None when spec.registry is not set, else (status, reason, message) of RegistryFetched
    registry: tuple[str, str, str] | None = None
    registry_status: dict[str, Any] | None = None
    #: a remote-only server (an ExternalName Service, no Deployment): `url` is the remote endpoint
    remote: bool = False
    #: the config of the image whose entrypoint is the command could not be read (retried)
    image_error: str | None = None
    #: None when verification is off (or the spec was rejected), else (status, reason, message) of Verified
    verified: tuple[str, str, str] | None = None
    #: status.mcp of a successful handshake (kept from the live status otherwise: the last one that worked)
    mcp: dict[str, Any] | None = None
    #: the audience of the operator's token for the MCP handshake (None: it sends none; render says)
    token_audience: str | None = None
    #: spec.tools.approved as name → `sha256:<hex>` (None: no approved inventory, no ToolsChanged condition)
    approved: dict[str, str] | None = None

    @property
    def objects(self) -> int:
        """How many objects the set holds (applied, unchanged or refused; not the pruned or skipped)."""
        return sum(1 for c in self.changes if c.action not in ("deleted", "skipped"))

    @property
    def apply_error(self) -> str | None:
        """A transient failure applying an object (retried)."""
        failed = self.changes.of("failed")
        return f"{failed[0].subject}: {failed[0].reason}" if failed else None

    @property
    def conflicts(self) -> list[str]:
        """Objects not applied: fields another manager owns, or an object of that name that is not ours."""
        return [conflict_text(c) for c in self.changes.of("conflict")]

    @property
    def conflict_reason(self) -> str:
        exists = any(c.reason.startswith("ObjectExists") for c in self.changes.of("conflict"))
        return "ObjectExists" if exists else "Conflict"

    @property
    def skipped(self) -> list[str]:
        """Kinds not applied because their API is not installed: `VerticalPodAutoscaler (autoscaling.k8s.io/v1)`."""
        return [f"{c.kind} ({c.api_version})" for c in self.changes.of("skipped")]


@dataclass(frozen=True)
class Rollout:
    """A Deployment's rollout state."""

    exists: bool
    want: int
    replicas: int
    ready: int
    updated: int
    available: bool
    done: bool
    deadline_exceeded: bool
    #: the Deployment's pods being deleted that have not stopped yet (status.terminatingReplicas: Kubernetes 1.35 and
    #: later report it, beta; 0 where the cluster does not)
    terminating: int = 0
    #: when the pods a completed rollout replaced have had their termination grace period (seconds since the epoch:
    #: the Progressing condition's lastUpdateTime, NewReplicaSetAvailable, plus terminationGracePeriodSeconds);
    #: None when no pod is terminating or the rollout's completion is not known
    stopped_by: float | None = None


#: seconds past the old pods' termination grace period after which a handshake no longer waits for them to stop (a
#: pod on a lost node stays terminating until the node comes back)
STOP_MARGIN = 5.0


def rollout(dep: dict[str, Any] | None) -> Rollout:
    """Read a live Deployment: how many replicas are wanted, ready, updated; is the rollout done."""
    if dep is None:
        return Rollout(False, 0, 0, 0, 0, False, False, False)
    spec, st = dep.get("spec") or {}, dep.get("status") or {}
    want = int(spec.get("replicas", 1))
    replicas = int(st.get("replicas") or 0)
    ready = int(st.get("readyReplicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    avail_n = int(st.get("availableReplicas") or 0)
    conds = {c.get("type"): c for c in st.get("conditions") or []}
    observed = int(st.get("observedGeneration") or 0) >= int((dep.get("metadata") or {}).get("generation") or 0)
    avail_cond = conds.get("Available", {}).get("status") == "True"
    available = want == 0 or (avail_cond and avail_n > 0)
    deadline = conds.get("Progressing", {}).get("reason") == "ProgressDeadlineExceeded"
    done = observed and updated >= want and ready >= want and replicas == want and avail_n >= want
    terminating = int(st.get("terminatingReplicas") or 0)
    progressing = conds.get("Progressing", {})
    completed = (
        parse_time(progressing.get("lastUpdateTime")) if progressing.get("reason") == "NewReplicaSetAvailable" else None
    )
    grace = ((spec.get("template") or {}).get("spec") or {}).get("terminationGracePeriodSeconds")
    stopped_by = None
    if terminating and completed is not None:
        stopped_by = completed + float(30 if grace is None else grace) + STOP_MARGIN
    return Rollout(True, want, replicas, ready, updated, available, done, deadline, terminating, stopped_by)


def compute_status(outcome: Outcome, old: dict[str, Any] | None, now: str | None = None) -> dict[str, Any]:
    """The MCPServer status for `outcome`, given the live status `old`."""
    now = now or now_rfc3339()
    old = old or {}
    ro = rollout(outcome.deployment)
    conds: list[Cond] = []
    invalid, error, conflicts = outcome.invalid, outcome.apply_error, outcome.conflicts

    if outcome.terminating:
        conds.append(Cond(READY, "False", "Terminating", "the MCPServer is being deleted"))
    # Rendered / Applied
    image_error = outcome.image_error if not invalid else None
    if invalid:
        conds.append(Cond(RENDERED, "False", "InvalidSpec", invalid))
        conds.append(Cond(APPLIED, "False", "InvalidSpec", "nothing applied: the spec was rejected"))
    elif image_error:
        conds.append(Cond(RENDERED, "False", IMAGE_CONFIG_UNAVAILABLE, image_error))
        conds.append(Cond(APPLIED, "False", IMAGE_CONFIG_UNAVAILABLE, "nothing applied: retried until the image "
                          "config can be read"))  # fmt: skip
    else:
        conds.append(Cond(RENDERED, "True", "Rendered", f"rendered {outcome.rendered or outcome.objects} objects"))
        if error:
            conds.append(Cond(APPLIED, "False", "ApplyFailed", error))
        elif conflicts:
            conds.append(Cond(APPLIED, "False", outcome.conflict_reason, "; ".join(conflicts)))
        elif outcome.skipped:
            msg = "applied; skipped (API not installed in the cluster): " + ", ".join(outcome.skipped)
            conds.append(Cond(APPLIED, "True", "SkippedUnavailableAPIs", msg))
        else:
            conds.append(Cond(APPLIED, "True", "Applied", f"applied {outcome.objects} objects"))
    # Available / Progressing from the Deployment
    counts = f"{ro.ready}/{ro.want} replicas ready"
    remote = outcome.remote and not invalid
    if remote:
        where = f"remote-only: nothing runs in the cluster; clients reach {outcome.url or 'the remote URL'}"
        conds.append(Cond(AVAILABLE, "True", "Remote", where))
        conds.append(Cond(PROGRESSING, "False", "Remote", where))
    elif not ro.exists:
        conds.append(Cond(AVAILABLE, "False", "DeploymentMissing", "the Deployment does not exist"))
    elif ro.want == 0:
        conds.append(Cond(AVAILABLE, "True", "ScaledToZero", "replicas is 0"))
    elif ro.available:
        conds.append(Cond(AVAILABLE, "True", "MinimumReplicasAvailable", counts))
    else:
        conds.append(Cond(AVAILABLE, "False", "MinimumReplicasUnavailable", counts))
    if remote:
        pass
    elif ro.deadline_exceeded:
        conds.append(Cond(PROGRESSING, "False", "ProgressDeadlineExceeded", f"rollout stuck: {counts}"))
    elif ro.exists and not ro.done:
        conds.append(Cond(PROGRESSING, "True", "RollingOut", f"{ro.updated}/{ro.want} updated, {counts}"))
    elif ro.exists:
        conds.append(Cond(PROGRESSING, "False", "RolloutComplete", counts))
    else:
        conds.append(Cond(PROGRESSING, "True", "Creating", "waiting for the Deployment"))
    # registry
    if outcome.registry is not None:
        st, reason, msg = outcome.registry
        conds.append(Cond(REGISTRY_FETCHED, st, reason, msg))
    if outcome.verified is not None:
        conds.append(Cond(VERIFIED, *outcome.verified))
    if outcome.approved is not None and not invalid and not remote:
        conds.append(approval_condition(outcome.approved, outcome.mcp or old.get("mcp")))
    # Ready, kstatus Reconciling / Stalled
    stalled_msg = invalid or ("; ".join(conflicts) if conflicts else None)
    if ro.deadline_exceeded and not stalled_msg:
        stalled_msg = f"the Deployment exceeded its progress deadline: {counts}"
    if not outcome.terminating:
        if invalid:
            conds.append(Cond(READY, "False", "InvalidSpec", invalid))
        elif image_error:
            conds.append(Cond(READY, "False", IMAGE_CONFIG_UNAVAILABLE, image_error))
        elif error:
            conds.append(Cond(READY, "False", "ApplyFailed", error))
        elif conflicts:
            conds.append(Cond(READY, "False", outcome.conflict_reason, "; ".join(conflicts)))
        elif remote:
            conds.append(Cond(READY, "True", "Remote", f"remote-only: served at {outcome.url or 'the remote URL'}"))
        elif not ro.available:
            conds.append(Cond(READY, "False", "Unavailable", counts))
        elif not ro.done:
            conds.append(Cond(READY, "False", "RollingOut", counts))
        else:
            conds.append(Cond(READY, "True", "Ready", counts))
    if stalled_msg:
        reason = "InvalidSpec" if invalid else outcome.conflict_reason if conflicts else "ProgressDeadlineExceeded"
        conds.append(Cond(STALLED, "True", reason, stalled_msg))
        conds.append(Cond(RECONCILING, "False", reason, "stalled: not retried until something changes"))
    else:
        conds.append(Cond(STALLED, "False", "NotStalled", ""))
        if outcome.terminating:
            conds.append(Cond(RECONCILING, "True", "Terminating", "deleting owned objects"))
        elif image_error:
            conds.append(Cond(RECONCILING, "True", IMAGE_CONFIG_UNAVAILABLE, image_error))
        elif error:
            conds.append(Cond(RECONCILING, "True", "ApplyFailed", error))
        elif remote or (ro.exists and ro.done):
            conds.append(Cond(RECONCILING, "False", "Reconciled", "up to date"))
        else:
            conds.append(Cond(RECONCILING, "True", "RollingOut", counts))

    ready = any(c.type == READY and c.status == "True" for c in conds)
    if outcome.terminating:
        phase = "Terminating"
    elif invalid or ro.deadline_exceeded:
        phase = "Failed"
    elif remote:
        phase = "Remote"
    elif ready or (ro.available and ro.done):
        phase = "Running"
    else:
        phase = "Pending"

    image, tag = split_image(outcome.image) if outcome.image else (old.get("image"), old.get("tag"))
    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": outcome.generation,
        "replicas": ro.replicas if ro.exists else old.get("replicas", 0),
        "readyReplicas": ro.ready if ro.exists else 0,
        "selector": outcome.selector or old.get("selector"),
        "image": image,
        "tag": tag,
        "serviceEndpoint": outcome.service_endpoint or old.get("serviceEndpoint"),
        "url": outcome.external_url or outcome.url or old.get("url"),
        "transport": outcome.transport or old.get("transport"),
        "registry": outcome.registry_status,
        "mcp": outcome.mcp or old.get("mcp"),
        "conditions": merge_conditions(old.get("conditions"), conds, outcome.generation, now, CONDITION_ORDER),
    }
    return {k: v for k, v in status.items() if v is not None}


def split_image(ref: str) -> tuple[str, str | None]:
    """An image reference as (repository, tag or digest), as the flat spec form writes them.

    `ghcr.io/a/b:1.0` → (`ghcr.io/a/b`, `1.0`); `a@sha256:…` → (`a`, `sha256:…`); `a:1@sha256:…` →
    (`a`, `1@sha256:…`); a registry port (`host:5000/a`) is not a tag.
    """
    name, at, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1 :]
    else:
        repository, tag = name, ""
    if at:
        tag = f"{tag}@{digest}" if tag else digest
    return repository, tag or None


def service_status(service: dict[str, Any], namespace: str) -> tuple[str, str | None, str | None]:
    """(serviceEndpoint, url, transport) of a rendered Service: `name.ns.svc.cluster.local:port`, the URL
    with the MCP path from the Service's annotations, and the transport they name. For a remote-only
    server (ExternalName) the URL is the remote's (credentials in it redacted)."""
    port = service["spec"]["ports"][0]["port"]
    endpoint = f"{service['metadata']['name']}.{namespace}.svc.cluster.local:{port}"
    annotations = service["metadata"].get("annotations") or {}
    if REMOTE_URL in annotations:
        return endpoint, strip_userinfo(annotations[REMOTE_URL]), annotations.get(TRANSPORT_ANNOTATION)
    path = annotations.get(PATH_ANNOTATION)
    url = f"http://{endpoint}{path}" if path else None
    return endpoint, url, annotations.get(TRANSPORT_ANNOTATION)


def is_remote(service: dict[str, Any] | None) -> bool:
    """Whether a rendered Service is a remote-only server's ExternalName Service."""
    return service is not None and service.get("spec", {}).get("type") == "ExternalName"


def verify_wait(ro: Rollout, now: float | None = None) -> tuple[str, str, str] | None:
    """The Verified condition while the Deployment is not (yet) worth a handshake, else None.

    A rollout is complete as soon as its new pods are available, while the pods it replaced are still stopping:
    the Service may lead a handshake to one of them for a moment yet (kube-proxy reprograms within its sync period),
    where it is refused, never answered, cut, or worse answered by the release being replaced. So a handshake waits
    until they have stopped, or their termination grace period is over (`Rollout.stopped_by`)."""
    if not ro.exists or (ro.want > 0 and not (ro.available and ro.done)):
        return ("Unknown", "WaitingForRollout", "verified once the Deployment has rolled out and is available")
    if ro.want == 0:
        return ("Unknown", "ScaledToZero", "replicas is 0: nothing to verify")
    if ro.terminating and ro.stopped_by is not None and (time.time() if now is None else now) < ro.stopped_by:
        return ("Unknown", "WaitingForRollout", "verified once the pods the rollout replaced have stopped")
    return None


def is_ready(status: dict[str, Any] | None) -> bool:
    c = get_condition(status, READY)
    return bool(c and c.get("status") == "True")


def label_selector(match_labels: dict[str, str]) -> str:
    """A matchLabels map as a label selector string (`a=b,c=d`, sorted)."""
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def route_accepted(route: dict[str, Any] | None) -> bool:
    """Whether a live HTTPRoute is Accepted by at least one of its parents (its Gateway's controller says so)."""
    parents = ((route or {}).get("status") or {}).get("parents") or []
    return any(c.get("type") == "Accepted" and c.get("status") == "True"
               for p in parents for c in p.get("conditions") or [])  # fmt: skip


def approved_tools(server: MCPServer) -> dict[str, str] | None:
    """spec.tools.approved as name → `sha256:<hex>`, the form status.mcp.tools digests take; None when unset."""
    pol = server.spec.tools
    if pol is None or pol.approved is None:
        return None
    return {t.name: f"sha256:{t.sha256}" for t in pol.approved}


def inventory_difference(approved: dict[str, str], listed: dict[str, str]) -> dict[str, list[str]]:
    """What the server lists beyond the approved inventory: tools `changed`, `added` (not approved) and `removed`
    (approved, no longer listed), each sorted by name; empty lists when they match."""
    return {
        "changed": sorted(n for n in listed.keys() & approved.keys() if listed[n] != approved[n]),
        "added": sorted(listed.keys() - approved.keys()),
        "removed": sorted(approved.keys() - listed.keys()),
    }


def approval_condition(approved: dict[str, str], mcp: dict[str, Any] | None) -> Cond:
    """ToolsChanged: True while the tools the last handshake listed (status.mcp.tools, mcpop-bridge's withheld
    ones included) differ from spec.tools.approved; those are hidden from clients until approved again."""
    if not mcp:
        return Cond(TOOLS_CHANGED, "Unknown", "NotVerified", "no verified tool inventory yet (see Verified)")
    tools = mcp.get("tools") or {}  # none: the server does not offer tools
    listed = {d["name"]: d["digest"] for d in tools.get("definitions") or []}
    if int(tools.get("count") or 0) > len(listed):
        return Cond(TOOLS_CHANGED, "Unknown", "TooManyTools", f"the server lists {tools.get('count')} tools; an "
                    f"approved inventory covers at most {MAX_TOOL_NAMES}")  # fmt: skip
    diff = inventory_difference(approved, listed)
    if not any(diff.values()):
        return Cond(TOOLS_CHANGED, "False", "Approved", f"the {len(listed)} tools the server lists are the ones "
                    "spec.tools.approved names")  # fmt: skip
    parts = "; ".join(f"{label} {', '.join(names)}" for label, names in diff.items() if names)
    return Cond(TOOLS_CHANGED, "True", "NotApproved", f"the server's tools differ from spec.tools.approved ({parts}): "
                "changed and added tools are hidden from clients until approved (`mcp tools diff`, "
                "`mcp tools approve`)")  # fmt: skip


def tools_changed(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """The ToolsChanged event's message when the tools the server lists changed between two verified
    handshakes (status.mcp.tools digests), else None (also when either side has no digest yet)."""
    before = ((old or {}).get("mcp") or {}).get("tools") or {}
    after = ((new or {}).get("mcp") or {}).get("tools") or {}
    if not before.get("digest") or not after.get("digest") or before["digest"] == after["digest"]:
        return None
    was = {d["name"]: d["digest"] for d in before.get("definitions") or []}
    now = {d["name"]: d["digest"] for d in after.get("definitions") or []}
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (
            ("added", sorted(now.keys() - was.keys())),
            ("removed", sorted(was.keys() - now.keys())),
            ("changed", sorted(n for n in now.keys() & was.keys() if now[n] != was[n])),
        )
        if names
    ]
    counts = f"{before.get('count', 0)} -> {after.get('count', 0)} tools"
    detail = "; ".join(parts) if parts else "beyond the first tools status lists"
    return f"the server's tools changed ({counts}): {detail}"[:1024]
