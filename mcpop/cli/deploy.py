"""`mcp deploy NAME`: create or update an MCPServer for a catalogue entry (or an image) by server-side apply.

The entry is resolved where the operator resolves it: the MCPRegistry `--registry-ref` (default `default`)
in the namespace when it exists, else the embedded catalogue. The spec is rendered locally first, so a
required variable with no value fails before anything is applied, naming the flag that sets it.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any, Literal

from cyclopts import Parameter

from mcpop import API_VERSION
from mcpop.apply.resources import MCPSERVER
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import OUTPUT, Cluster, Format, Timeout, UsageError, guarded, timeout_seconds

DryRun = Literal["none", "client", "server"]
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_NEEDS = re.compile(r"needs the (secret )?environment variable (\S+?)[: ]")


def parse_env(items: list[str]) -> list[dict[str, Any]]:
    """`K=V` pairs as env entries (UsageError naming the bad one)."""
    env = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.match(key):
            raise UsageError(f"--env {item!r}: expected NAME=VALUE with a valid variable name")
        env.append({"name": key, "value": value})
    return env


def parse_secret_env(items: list[str]) -> list[dict[str, Any]]:
    """`K=SECRET/KEY` pairs as env entries taken from Secrets."""
    env = []
    for item in items:
        key, sep, ref = item.partition("=")
        secret, slash, skey = ref.partition("/")
        if not sep or not slash or not _ENV_NAME.match(key) or not secret or not skey:
            raise UsageError(f"--secret-env {item!r}: expected NAME=SECRET/KEY (the value stays in the Secret)")
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": skey}}})
    return env


_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _label_problem(key: str, value: str | None) -> str | None:
    """What is wrong with a label key (and value), in the apiserver's words, or None."""
    from mcpop.api.validation import check_label_value, check_qualified_name

    try:
        check_qualified_name(key)
        if value is not None:
            check_label_value(value)
    except ValueError as exc:
        return str(exc)
    return None


def parse_node_selector(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` pairs as a nodeSelector (UsageError naming the bad one; a repeated key keeps the last)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        problem = _label_problem(key, value) if sep else "expected KEY=VALUE"
        if problem:
            raise UsageError(f"--node-selector {item!r}: {problem}")
        out[key] = value
    return out


def parse_tolerations(items: list[str]) -> list[dict[str, str]]:
    """`KEY[=VALUE][:EFFECT]` (the syntax of `kubectl taint`) as tolerations: a value means operator Equal,
    none means Exists; no effect tolerates every effect of the key."""
    out: list[dict[str, str]] = []
    for item in items:
        head, colon, effect = item.rpartition(":") if ":" in item else (item, "", "")
        key, eq, value = head.partition("=")
        problem = _label_problem(key, value if eq else None)
        if problem is None and colon and effect not in _EFFECTS:
            problem = f"effect {effect!r} is not one of {', '.join(_EFFECTS)}"
        if problem:
            raise UsageError(f"--toleration {item!r}: {problem} (expected KEY[=VALUE][:EFFECT])")
        tol = {"key": key, "operator": "Equal" if eq else "Exists"}
        if eq:
            tol["value"] = value
        if effect:
            tol["effect"] = effect
        out.append(tol)
    return out


def split_image(image: str) -> tuple[str, str | None]:
    """`repo/name:tag` → (`repo/name`, `tag`); a digest or no tag leaves the image whole."""
    if "@" in image:
        return image, None
    head, _, last = image.rpartition("/")
    name, colon, tag = last.partition(":")
    if not colon:
        return image, None
    return (f"{head}/{name}" if head else name), tag


def default_name(name: str) -> str:
    """The object name for a catalogue name: its last path segment as a DNS label."""
    from mcpop.render.names import dns_label

    return dns_label(name.rsplit("/", 1)[-1].lower())


def build_server(name: str, namespace: str, *, object_name: str | None, version: str | None, replicas: int | None,
                 env: list[dict[str, Any]], image: str | None, transport: str | None, port: int | None,
                 registry_ref: str | None, node_selector: dict[str, str] | None = None,
                 tolerations: list[dict[str, str]] | None = None) -> dict[str, Any]:  # fmt: skip
    """The MCPServer the flags describe."""
    spec: dict[str, Any] = {}
    if image:
        repo, tag = split_image(image)
        spec["image"] = repo
        if tag:
            spec["tag"] = tag
    else:
        reg: dict[str, Any] = {"name": name}
        if version:
            reg["version"] = version
        if registry_ref:
            reg["registryRef"] = registry_ref
        spec["registry"] = reg
    if replicas is not None:
        spec["replicas"] = replicas
    if port is not None:
        spec["port"] = port
    if transport:
        spec["transport"] = {"type": transport}
    if env:
        spec["env"] = env
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    meta = {"name": object_name or default_name(name), "namespace": namespace}
    return {"apiVersion": API_VERSION, "kind": "MCPServer", "metadata": meta, "spec": spec}


def explain(message: str) -> str:
    """A renderer error about a required variable, rephrased with the flag that sets it."""
    m = _NEEDS.search(message)
    if m is None:
        return message
    var = m.group(2)
    if m.group(1):
        return f"the registry entry requires the secret environment variable {var}: pass --secret-env {var}=SECRET/KEY"
    return f"the registry entry requires the environment variable {var}: pass --env {var}=VALUE"


def _validate(obj: dict[str, Any], client: Client | None, registry_ref: str | None) -> tuple[list[dict[str, Any]],
                                                                                            list[str]]:  # fmt: skip
    from mcpop.cli.plan import PlanError, render_server, resolve_entry
    from mcpop.render.errors import RenderError

    reg = obj["spec"].get("registry")
    entry = None
    if reg:
        try:
            entry = resolve_entry(client, obj["metadata"]["namespace"], reg["name"], reg.get("version"), registry_ref,
                                  explicit=registry_ref is not None)  # fmt: skip
        except RenderError as exc:
            raise ClusterError(exc.message) from None
    try:
        return render_server(obj, entry, None)
    except PlanError as exc:
        raise ClusterError(explain(str(exc))) from None


def run_deploy(cluster: Cluster, obj_args: dict[str, Any], dry_run: DryRun, wait: bool, wait_timeout: str,
               output: Format | None) -> int:  # fmt: skip
    """Deploy; `output` None prints what each mode prints by default (the objects as YAML for a client dry run,
    a line per change otherwise), `table` a person's view (a table of the objects for a client dry run)."""
    from mcpop.cli.wait import wait_ready

    if wait and dry_run != "none":
        raise UsageError("--wait cannot be used with --dry-run: nothing is applied to wait for")
    if obj_args["image"] and (obj_args["version"] or obj_args["registry_ref"]):
        raise UsageError("--image deploys an image that is in no registry: it cannot be combined with "
                         "--version or --registry-ref")  # fmt: skip
    timeout = timeout_seconds(wait_timeout)
    if dry_run == "client":
        # offline when there is no cluster: the embedded catalogue (noted), unless an MCPRegistry was named
        try:
            client: Client | None = cluster.client()
            namespace = cluster.ns(client) if client is not None else "default"
            obj = build_server(namespace=namespace, **obj_args)
            objs, warnings = _validate(obj, client, obj_args["registry_ref"])
        except ClusterError as exc:
            if exc.status != 0 or obj_args["registry_ref"]:
                raise
            print(f"note: {exc.message}: resolved from the embedded catalogue", file=sys.stderr)
            obj = build_server(namespace=cluster.namespace or "default", **obj_args)
            objs, warnings = _validate(obj, None, None)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if output == "table":
            sys.stdout.write(out.object_table([obj, *objs]))
        else:
            sys.stdout.write(out.dump_all([obj, *objs], output or "yaml"))
        return 0
    client = cluster.client()
    assert client is not None
    namespace = cluster.ns(client)
    obj = build_server(namespace=namespace, **obj_args)
    _, warnings = _validate(obj, client, obj_args["registry_ref"])
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if dry_run == "server":
        from mcpop.cli.plan import PlanError, change_line, plan_server

        try:
            plan = plan_server(client, obj, obj_args["registry_ref"])
        except PlanError as exc:
            raise ClusterError(explain(str(exc))) from None
        note = plan.client_side_note()
        if note:
            print(note, file=sys.stderr)
        if output in ("json", "yaml"):
            sys.stdout.write(out.dump_all([p.merged for p in plan.objects if p.merged is not None], output))
        else:
            for c in plan.changes:
                print(change_line(c, "server dry run"))
        return 0
    name = obj["metadata"]["name"]
    live = client.get(MCPSERVER, namespace, name)
    applied = client.apply(MCPSERVER, obj)
    before = (live or {}).get("metadata", {}).get("resourceVersion")
    action = "created" if live is None else ("unchanged" if before == applied["metadata"].get("resourceVersion")
                                             else "configured")  # fmt: skip
    if output in ("json", "yaml"):
        sys.stdout.write(out.dump(applied, output))
    else:
        print(f"{MCPSERVER.resource_name}/{name} {action}")
    if wait:
        ready = wait_ready(client, namespace, name, timeout)
        st = ready.get("status") or {}
        print(f"mcpserver/{name} is Ready: {out.replicas(ready)} replicas, endpoint {st.get('serviceEndpoint') or '-'}",
              file=sys.stderr if output in ("json", "yaml") else sys.stdout)  # fmt: skip
    return 0


def deploy(
    name: str,
    /,
    *,
    version: Annotated[str | None, Parameter(name="--version", help="Registry entry version (default newest).")] = None,
    replicas: Annotated[int | None, Parameter(name="--replicas", help="Number of replicas.")] = None,
    env: Annotated[
        list[str] | None,
        Parameter(name="--env", consume_multiple=False, negative=(), help="Environment variable K=V (repeat)."),
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        Parameter(
            name="--secret-env",
            consume_multiple=False,
            negative=(),
            help="Environment variable from a Secret: K=SECRET/KEY (repeat).",
        ),
    ] = None,
    image: Annotated[str | None, Parameter(name="--image", help="Deploy this image (no registry entry).")] = None,
    transport: Annotated[
        Literal["streamable-http", "http", "sse", "stdio"] | None, Parameter(name="--transport", help="MCP transport.")
    ] = None,
    port: Annotated[int | None, Parameter(name="--port", help="The server's port.")] = None,
    object_name: Annotated[
        str | None, Parameter(name="--name", help="MCPServer name (default: derived from NAME).")
    ] = None,
    registry_ref: Annotated[
        str | None, Parameter(name="--registry-ref", help="The MCPRegistry to resolve NAME in (default `default`).")
    ] = None,
    node_selector: Annotated[
        list[str] | None,
        Parameter(
            name="--node-selector",
            consume_multiple=False,
            negative=(),
            help="Run on nodes labelled KEY=VALUE (repeat).",
        ),
    ] = None,
    toleration: Annotated[
        list[str] | None,
        Parameter(
            name="--toleration",
            consume_multiple=False,
            negative=(),
            help="Tolerate a taint: KEY[=VALUE][:EFFECT], as `kubectl taint` writes it (repeat).",
        ),
    ] = None,
    dry_run: Annotated[
        DryRun,
        Parameter(
            name="--dry-run",
            help="client: print what would be applied; server: the change set of a "
            "server-side dry run. Nothing is applied.",
        ),
    ] = "none",
    wait: Annotated[bool, Parameter(name="--wait", negative=(), help="Wait until the server is Ready.")] = False,
    timeout: Timeout = "5m",
    output: Annotated[Format | None, OUTPUT] = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Deploy an MCP server from the catalogue (the MCPRegistry, else the embedded one), or an image.

    Parameters
    ----------
    name
        Catalogue name (`filesystem`, `io.github.owner/name`), or the server name with --image.
    """
    if replicas is not None and replicas < 0:
        print("error: --replicas must be 0 or more", file=sys.stderr)
        return 2

    def body() -> int:
        env_list = parse_env(env or []) + parse_secret_env(secret_env or [])
        args = {"name": name, "object_name": object_name, "version": version, "replicas": replicas, "env": env_list,
                "image": image, "transport": transport, "port": port, "registry_ref": registry_ref,
                "node_selector": parse_node_selector(node_selector or []),
                "tolerations": parse_tolerations(toleration or [])}  # fmt: skip
        return run_deploy(cluster, args, dry_run, wait, timeout, output)

    return guarded(body)
