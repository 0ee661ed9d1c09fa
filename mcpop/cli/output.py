"""Human-readable and machine-readable output of cluster objects: pure functions of the objects and a clock.

Ages follow kubectl (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`); tables are kubectl's
(columns separated by three spaces, headers upper case); `-o json` and `-o yaml` are the one emitter's
(`mcpop.codec.emitter`), imported only when asked for: `mcp --help` loads this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from mcpop.api.urls import strip_userinfo

#: conditions that are good when False (kstatus "abnormal-true" polarity)
NEGATIVE = frozenset({"Stalled", "Reconciling"})


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, or None."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """`5m`, `2m30s`, `3h10m`, `4d` as kubectl prints ages."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: float) -> str:
    t = parse_time(timestamp)
    return "<unknown>" if t is None else human_duration(now - t)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, as kubectl prints them."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows)


def object_table(objs: Iterable[dict[str, Any]]) -> str:
    """`-o table` of a set of objects (what `mcp render` and a client dry run print): KIND, NAMESPACE, NAME, in
    their order."""
    rows = [["KIND", "NAMESPACE", "NAME"]]
    for o in objs:
        meta = o.get("metadata") or {}
        rows.append([str(o.get("kind")), str(meta.get("namespace") or "-"), str(meta.get("name"))])
    return table(rows)


def dump(obj: Any, output: str) -> str:
    """`obj` as JSON or as one YAML document (keys in order, no `---`)."""
    from mcpop.codec.emitter import json_text, yaml_text

    return json_text(obj) if output == "json" else yaml_text(obj)


def dump_all(objs: Sequence[dict[str, Any]], output: str) -> str:
    """Several objects: a JSON `List`, or YAML documents each started by `---`, as `mcp render` prints them."""
    from mcpop.codec.emitter import dump_yaml, json_text

    if output == "json":
        return json_text({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    return dump_yaml(objs)


def as_list(objs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(objs), "metadata": {"resourceVersion": ""}}


# ---------------------------------------------------------------------------- MCPServer


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions(obj) if c.get("type") == type_), None)


def good(cond: dict[str, Any]) -> bool:
    """Whether a condition is in its healthy state (✓)."""
    status, type_ = cond.get("status"), cond.get("type")
    if type_ in NEGATIVE:
        return status == "False"
    if type_ == "Progressing":
        return cond.get("reason") != "ProgressDeadlineExceeded"
    return status == "True"


def condition_line(cond: dict[str, Any]) -> str:
    """`✓ Ready: True - message` or `✗ Ready: False - Reason: message`."""
    mark = "✓" if good(cond) else "✗"
    text = f"{mark} {cond.get('type')}: {cond.get('status')}"
    message, reason = str(cond.get("message") or ""), str(cond.get("reason") or "")
    if not good(cond) and reason:
        return f"{text} - {reason}: {message}" if message else f"{text} - {reason}"
    return f"{text} - {message}" if message else text


def desired_replicas(obj: dict[str, Any]) -> int:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("replicas") is not None:
        return int(spec["replicas"])
    return int(st.get("replicas") or 1)


def replicas(obj: dict[str, Any]) -> str:
    return f"{int((obj.get('status') or {}).get('readyReplicas') or 0)}/{desired_replicas(obj)}"


def registry_name(obj: dict[str, Any]) -> str:
    return str(((obj.get("spec") or {}).get("registry") or {}).get("name") or "-")


def phase(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    return str((obj.get("status") or {}).get("phase") or "Pending")


def event_time(ev: dict[str, Any]) -> str | None:
    series = ev.get("series") or {}
    return str(series.get("lastObservedTime") or ev.get("lastTimestamp") or ev.get("eventTime")
               or (ev.get("metadata") or {}).get("creationTimestamp") or "") or None  # fmt: skip


def recent_warnings(events: Iterable[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The newest Warning events, oldest first (as `kubectl describe` lists them)."""
    warnings = [e for e in events if e.get("type") == "Warning"]
    warnings.sort(key=lambda e: parse_time(event_time(e)) or 0.0)
    return warnings[-limit:]


def status_block(obj: dict[str, Any], events: Iterable[dict[str, Any]], now: float) -> str:
    """One MCPServer in the original README's format, then its recent Warning events."""
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    lines = [
        f"Name: {meta.get('name')}",
        f"Namespace: {meta.get('namespace')}",
        f"Phase: {phase(obj)}",
        f"Replicas: {replicas(obj)}",
        f"Endpoint: {st.get('serviceEndpoint') or '-'}",
        f"Age: {age(meta.get('creationTimestamp'), now)}",
        f"Registry: {registry_name(obj)}",
        *remote_lines(obj),
        *auth_lines(obj),
        *mcp_lines(st.get("mcp")),
        "",
        "Conditions:",
    ]
    conds = conditions(obj)
    lines += [f"  {condition_line(c)}" for c in conds] if conds else ["  <none>"]
    warnings = recent_warnings(events)
    if warnings:
        rows = [["Type", "Reason", "Age", "From", "Message"]]
        for e in warnings:
            count = int(e.get("count") or (e.get("series") or {}).get("count") or 1)
            when = age(event_time(e), now)
            src = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
            rows.append([str(e.get("type")), str(e.get("reason") or ""),
                         when if count <= 1 else f"{when} (x{count})", src, str(e.get("message") or "")])  # fmt: skip
        lines += ["", "Events:"] + ["  " + r for r in table(rows).splitlines()]
    return "\n".join(lines) + "\n"


def auth_lines(obj: dict[str, Any]) -> list[str]:
    """`Auth:` when spec.auth is set: the issuer, the audiences tokens must name (default: the server's URL, as
    mcpop-bridge is told) and the required scopes; the ServiceAccounts whose tokens it takes and their audience;
    or that an exposed server takes anyone."""
    auth = ((obj.get("spec") or {}).get("auth")) or {}
    jwt, sa = auth.get("jwt"), auth.get("serviceAccounts")
    if not jwt and sa is None:
        return ["Auth: none (allowUnauthenticated)"] if auth.get("allowUnauthenticated") else []
    url = (obj.get("status") or {}).get("url")
    resource = next((a for a in (jwt or {}).get("audiences") or [] if a.startswith(("https://", "http://"))), None)
    default = f"{resource or url or 'the server URL'} (default)"
    out = []
    if jwt:
        scopes = jwt.get("requiredScopes") or []
        audiences = ", ".join(jwt.get("audiences") or []) or default
        out.append(f"Auth: Bearer JWT from {jwt.get('issuer')}, audience {audiences}"
                   + (f", scopes {' '.join(scopes)}" if scopes else ""))  # fmt: skip
    if sa is not None:
        namespaces = sa.get("namespaces") or [(obj.get("metadata") or {}).get("namespace") or "its namespace"]
        who = ", ".join(f"{ns}/{n}" for ns in namespaces for n in sa.get("names") or ["*"])
        out.append(f"Auth: ServiceAccount tokens of {who}, audience {sa.get('audience') or default}")
    return out


def remote_lines(obj: dict[str, Any]) -> list[str]:
    """A remote-only server's `URL:` line (where clients reach it; nothing of it runs in the cluster)."""
    st = obj.get("status") or {}
    if phase(obj) != "Remote" or not st.get("url"):
        return []
    return [f"URL: {strip_userinfo(st['url'])}" + (f" ({st['transport']})" if st.get("transport") else "")]


#: tool names `mcp status` lists (status.mcp.tools has up to 50)
SHOWN_TOOLS = 10


def mcp_lines(mcp: Any) -> list[str]:
    """`MCP:` and `Tools:` lines from status.mcp (the last MCP handshake that worked); none without one."""
    if not isinstance(mcp, dict) or not mcp:
        return []
    info = mcp.get("serverInfo") or {}
    who = " ".join(str(v) for v in (info.get("name"), info.get("version")) if v) or "-"
    lines = [f"MCP: {who} (protocol {mcp.get('protocolVersion') or '-'})"]
    tools = mcp.get("tools")
    if isinstance(tools, dict):
        count = int(tools.get("count") or 0)
        names = [str(n) for n in tools.get("names") or []][:SHOWN_TOOLS]
        more = f", ... {count - len(names)} more" if count > len(names) else ""
        lines.append(f"Tools: {count}" + (f" ({', '.join(names)}{more})" if names else ""))
    return lines


SERVER_COLUMNS = ["NAME", "PHASE", "READY", "ENDPOINT", "REGISTRY", "AGE"]


def server_row(obj: dict[str, Any], now: float, with_namespace: bool) -> list[str]:
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    row = [str(meta.get("name")), phase(obj), replicas(obj), str(st.get("serviceEndpoint") or "-"),
           registry_name(obj), age(meta.get("creationTimestamp"), now)]  # fmt: skip
    return [str(meta.get("namespace")), *row] if with_namespace else row


def server_header(with_namespace: bool) -> list[str]:
    return ["NAMESPACE", *SERVER_COLUMNS] if with_namespace else list(SERVER_COLUMNS)


def server_table(objs: Iterable[dict[str, Any]], now: float, with_namespace: bool) -> str:
    """A `kubectl get`-style table of MCPServers (`with_namespace` adds NAMESPACE first)."""
    rows = [server_header(with_namespace)]
    rows += [server_row(o, now, with_namespace) for o in objs]
    return table(rows)
