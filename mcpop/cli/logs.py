"""`mcp server logs NAME`: the logs of an MCP server's pods, through the API server's `pods/log`.

By default the newest ready pod (else the newest pod); `--all-pods` reads every pod, each line prefixed
with `[pod/NAME/CONTAINER]` as `kubectl logs -l ... --prefix` does. `--follow` streams every chosen pod
at once, until interrupted.
"""

from __future__ import annotations

import sys
import threading
from typing import Annotated, Any

from cyclopts import App, Parameter

from mcpop.apply.resources import POD
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import Cluster, UsageError, guarded, parse_duration
from mcpop.cli.status import get_server

server_app = App(name="server", help="Work with the pods of an MCP server.")


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def server_pods(client: Client, namespace: str, name: str) -> list[dict[str, Any]]:
    """The pods of MCPServer `name` (selected by its status selector, else its instance label), newest first."""
    obj = get_server(client, namespace, name)
    selector = (obj.get("status") or {}).get("selector")
    if not selector:
        from mcpop.render.names import selector_labels

        selector = ",".join(f"{k}={v}" for k, v in sorted(selector_labels(name).items()))
    pods = [p for p in client.list_objects(POD, namespace, label_selector=selector)[0]
            if not (p.get("metadata") or {}).get("deletionTimestamp")]  # fmt: skip
    pods.sort(key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]), reverse=True)
    return pods


def choose(pods: list[dict[str, Any]], all_pods: bool) -> list[dict[str, Any]]:
    """Every pod with `all_pods`, else the newest ready one (else the newest)."""
    if all_pods or not pods:
        return sorted(pods, key=lambda p: p["metadata"]["name"])
    ready = [p for p in pods if _ready(p)]
    return [(ready or pods)[0]]


def container_of(pod: dict[str, Any], container: str | None) -> str:
    """The container to read: `container` (checked), the default-container annotation, or the first."""
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
    if container:
        if container not in names:
            raise ClusterError(f'container "{container}" is not in pod {pod["metadata"]["name"]} '
                               f"(containers: {', '.join(names)})")  # fmt: skip
        return container
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    return str(default) if default in names else names[0]


def log_query(container: str, follow: bool, tail: int | None, since: float | None, timestamps: bool,
              previous: bool) -> dict[str, Any]:  # fmt: skip
    return {"container": container, "follow": "true" if follow else None,
            "tailLines": tail if tail is not None and tail >= 0 else None,
            "sinceSeconds": max(1, int(since)) if since else None,
            "timestamps": "true" if timestamps else None, "previous": "true" if previous else None}  # fmt: skip


def run_logs(client: Client, namespace: str, name: str, *, follow: bool, tail: int | None, container: str | None,
             since: str | None, timestamps: bool, previous: bool, all_pods: bool) -> int:  # fmt: skip
    since_s = parse_duration(since, "--since") if since else None
    pods = choose(server_pods(client, namespace, name), all_pods)
    if not pods:
        raise ClusterError(f"mcpserver/{name} has no pods in namespace {namespace}")
    prefix = len(pods) > 1
    lock = threading.Lock()
    errors: list[str] = []

    def emit(line: bytes, label: str) -> None:
        text = line.decode(errors="replace")
        with lock:
            sys.stdout.write((label + text) if prefix else text)
            if not text.endswith("\n"):
                sys.stdout.write("\n")
            sys.stdout.flush()

    def read(pod: dict[str, Any]) -> None:
        pname = pod["metadata"]["name"]
        cname = container_of(pod, container)
        label = f"[pod/{pname}/{cname}] "
        path = POD.path(namespace, pname, "log")
        query = log_query(cname, follow, tail, since_s, timestamps, previous)
        try:
            if follow:
                for line in client.stream(path, query):
                    emit(line, label)
            else:
                data = client.stream(path, query)
                for line in data:
                    emit(line, label)
        except ClusterError as exc:
            with lock:
                errors.append(f"pod/{pname}: {exc.message}")

    for pod in pods:
        container_of(pod, container)  # a wrong --container fails before anything is printed
    if len(pods) == 1:
        read(pods[0])
    else:
        threads = [threading.Thread(target=read, args=(p,), daemon=True) for p in pods]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # short joins keep ^C deliverable
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


@server_app.command
def logs(
    name: str,
    /,
    *,
    follow: Annotated[bool, Parameter(name=["--follow", "-f"], negative=(), help="Stream new lines until ^C.")] = False,
    tail: Annotated[int | None, Parameter(name="--tail", help="Only the last N lines (-1: all).")] = None,
    container: Annotated[str | None, Parameter(name=["--container", "-c"], help="The container to read.")] = None,
    since: Annotated[str | None, Parameter(name="--since", help="Only lines newer than this (10m, 1h).")] = None,
    timestamps: Annotated[bool, Parameter(name="--timestamps", negative=(), help="Prefix each line's time.")] = False,
    previous: Annotated[
        bool, Parameter(name=["--previous", "-p"], negative=(), help="The previous (crashed) container's logs.")
    ] = False,
    all_pods: Annotated[
        bool, Parameter(name="--all-pods", negative=(), help="Every pod (default: the newest ready one).")
    ] = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Print the logs of an MCP server's pods.

    Parameters
    ----------
    name
        The MCPServer.
    """

    def body() -> int:
        if follow and previous:
            raise UsageError("--follow cannot be used with --previous: a terminated container has no new lines")
        client = cluster.client()
        return run_logs(client, cluster.ns(client), name, follow=follow, tail=tail, container=container,
                        since=since, timestamps=timestamps, previous=previous, all_pods=all_pods)  # fmt: skip

    return guarded(body)
