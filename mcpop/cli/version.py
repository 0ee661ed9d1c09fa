"""`mcp version`: the client's version and, when a cluster is configured, the API server's, the operator's
(from its Deployment, found by the chart's labels, mcpop.apply.resources.OPERATOR_LABELS) and the CRDs'
(served and storage versions)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

from cyclopts import Parameter

from mcpop import __version__
from mcpop.apply.resources import CRD, DEPLOYMENT, OPERATOR_SELECTOR
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import Cluster, Output, guarded

CRD_NAMES = ("mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io")


def _image_tag(image: str) -> str | None:
    last = image.rsplit("/", 1)[-1]
    return last.split("@")[0].partition(":")[2] or None


def operator_versions(client: Client) -> list[dict[str, Any]]:
    """The operator Deployments found in any namespace (none when there are none or listing is forbidden)."""
    try:
        deps, _ = client.list_objects(DEPLOYMENT, None, label_selector=OPERATOR_SELECTOR)
    except ClusterError as exc:
        if exc.status in (403, 404):
            return []
        raise
    found = []
    for d in deps:
        meta = d.get("metadata") or {}
        containers = (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
        image = str(containers[0].get("image") or "")
        version = (meta.get("labels") or {}).get("app.kubernetes.io/version") or _image_tag(image) or "unknown"
        found.append({"namespace": meta.get("namespace"), "name": meta.get("name"), "version": version,
                      "image": image})  # fmt: skip
    return found


def crd_versions(client: Client) -> list[dict[str, Any]]:
    out_: list[dict[str, Any]] = []
    for name in CRD_NAMES:
        try:
            crd = client.get(CRD, None, name)
        except ClusterError as exc:
            if exc.status == 403:
                out_.append({"name": name, "error": "forbidden"})
                continue
            raise
        if crd is None:
            out_.append({"name": name, "installed": False})
            continue
        versions = (crd.get("spec") or {}).get("versions") or []
        entry: dict[str, Any] = {
            "name": name,
            "installed": True,
            "served": [v["name"] for v in versions if v.get("served")],
            "storage": next((v["name"] for v in versions if v.get("storage")), None),
        }
        label = ((crd.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/version")
        if label:
            entry["version"] = label
        out_.append(entry)
    return out_


def collect(cluster: Cluster, client_only: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"clientVersion": {"version": __version__, "python": sys.version.split()[0]}}
    if client_only:
        return info
    try:
        client = cluster.client()
    except ClusterError as exc:
        if exc.message.startswith("no cluster configured"):
            return info
        raise
    server = client.request("GET", "/version")
    info["serverVersion"] = {"gitVersion": server.get("gitVersion"), "platform": server.get("platform")}
    info["operator"] = operator_versions(client)
    info["crds"] = crd_versions(client)
    return info


def human(info: dict[str, Any]) -> str:
    lines = [f"Client Version: {info['clientVersion']['version']}"]
    if "serverVersion" in info:
        lines.append(f"Server Version: {info['serverVersion'].get('gitVersion')}")
        ops = info.get("operator") or []
        if ops:
            lines += [f"Operator Version: {o['version']} ({o['namespace']}/{o['name']})" for o in ops]
        else:
            lines.append(f"Operator Version: not found (no Deployment labelled {OPERATOR_SELECTOR})")
        for c in info.get("crds") or []:
            if c.get("error"):
                lines.append(f"CRD {c['name']}: {c['error']}")
            elif not c.get("installed"):
                lines.append(f"CRD {c['name']}: not installed")
            else:
                extra = f", {c['version']}" if c.get("version") else ""
                lines.append(f"CRD {c['name']}: served {','.join(c['served'])}, storage {c['storage']}{extra}")
    return "\n".join(lines) + "\n"


def version(
    *,
    output: Output = "table",
    client_only: Annotated[
        bool, Parameter(name="--client", negative=(), help="Only the client version (no cluster).")
    ] = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Print the client version, and the API server's, operator's and CRDs' versions when a cluster is reachable."""

    def body() -> int:
        info = collect(cluster, client_only)
        sys.stdout.write(human(info) if output == "table" else out.dump(info, output))
        return 0

    return guarded(body)
