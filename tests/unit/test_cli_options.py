"""The options commands share (mcpop.cli.options): `-o/--output table|json|yaml` on every printing command,
`-A/--all-namespaces` on every listing command, `--timeout DURATION` on every waiting one, each defined once;
and what they do where they are new (`delete --dry-run`, `-o` of delete, version, render, registry refresh,
`registry list -A`)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from cli_process import NO_CLUSTER, mcp
from fakekube import FakeKube

from mcpop.api.serverjson import ServerJSON
from mcpop.apply import catalog_store
from mcpop.apply.resources import MCPREGISTRY, MCPSERVER, REFRESH_ANNOTATION
from mcpop.cli import apply, backup, delete, deploy, registry, render, status, version
from mcpop.cli.options import OUTPUT, AllNamespaces, Timeout, UsageError

ROOT = Path(__file__).resolve().parents[2]

PRINTING: dict[str, Callable[..., Any]] = {
    "render": render.render, "status": status.status, "deploy": deploy.deploy, "apply": apply.apply,
    "delete": delete.delete, "version": version.version, "registry list": registry.list_,
    "registry search": registry.search, "registry inspect": registry.inspect, "registry refresh": registry.refresh,
    "backup list": backup.list_,
}  # fmt: skip
LISTING: dict[str, Callable[..., Any]] = {
    "status": status.status, "registry list": registry.list_, "registry search": registry.search,
}  # fmt: skip
WAITING: dict[str, Callable[..., Any]] = {
    "deploy": deploy.deploy, "delete": delete.delete, "backup now": backup.now, "registry refresh": registry.refresh,
}  # fmt: skip


def _metadata(fn: Callable[..., Any], name: str) -> tuple[Any, tuple[Any, ...]]:
    """The type and the Annotated metadata (outermost last) of parameter `name` of command `fn`."""
    hint = inspect.signature(fn, eval_str=True).parameters[name].annotation
    meta: list[Any] = []
    while hasattr(hint, "__metadata__"):
        meta = [*hint.__metadata__, *meta]
        hint = hint.__origin__
    return hint, tuple(meta)


def _strings(hint: Any) -> set[str]:
    """The strings of the Literals in `hint` (through unions)."""
    if isinstance(hint, str):
        return {hint}
    return set().union(*(_strings(a) for a in get_args(hint)))


# ---------------------------------------------------------------------------------------- the definitions


@pytest.mark.parametrize("command", sorted(PRINTING))
def test_every_printing_command_takes_the_one_output_option_with_table_json_and_yaml(command: str) -> None:
    hint, meta = _metadata(PRINTING[command], "output")
    assert OUTPUT in meta
    assert {"table", "json", "yaml"} == _strings(hint)


@pytest.mark.parametrize("command", sorted(LISTING))
def test_every_listing_command_takes_the_one_all_namespaces_option(command: str) -> None:
    hint = inspect.signature(LISTING[command], eval_str=True).parameters["all_namespaces"].annotation
    assert hint == AllNamespaces


@pytest.mark.parametrize("command", sorted(WAITING))
def test_every_waiting_command_takes_the_one_timeout_option(command: str) -> None:
    hint = inspect.signature(WAITING[command], eval_str=True).parameters["timeout"].annotation
    assert hint == Timeout


# ---------------------------------------------------------------------------------------- --timeout


def test_deploy_takes_timeout_as_a_duration() -> None:
    r = mcp("deploy", "filesystem", "--wait", "--timeout", "5m", "--dry-run", *NO_CLUSTER)
    assert r.returncode == 2 and "Unknown option" not in r.stderr
    assert (
        r.stderr.strip().splitlines()[-1]
        == "error: --wait cannot be used with --dry-run: nothing is applied to wait for"
    )


def test_the_original_wait_timeout_spelling_still_works() -> None:
    r = mcp("deploy", "filesystem", "--wait-timeout", "5m", "--dry-run", *NO_CLUSTER)
    assert r.returncode == 0, r.stderr


def test_a_timeout_without_a_unit_is_refused_in_one_line_naming_the_option() -> None:
    r = mcp("registry", "refresh", "--timeout", "300", *NO_CLUSTER)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: --timeout: invalid duration") and len(r.stderr.splitlines()) == 1


def test_registry_refresh_takes_timeout_as_a_duration() -> None:
    r = mcp("registry", "refresh", "--timeout", "5m", *NO_CLUSTER)
    assert r.returncode == 1 and r.stderr.startswith("error: no cluster")


# ---------------------------------------------------------------------------------------- -o table


def test_version_prints_its_lines_as_the_table_and_the_same_facts_as_json() -> None:
    table = mcp("version", "--client", "-o", "table")
    assert table.returncode == 0 and table.stdout.startswith("Client Version: ")
    info = json.loads(mcp("version", "--client", "-o", "json").stdout)
    assert table.stdout == f"Client Version: {info['clientVersion']['version']}\n"


def test_render_as_a_table_lists_kind_namespace_and_name() -> None:
    r = mcp("render", "-f", str(ROOT / "examples/02-mcpserver-basic.yaml"), "-o", "table")
    assert r.returncode == 0, r.stderr
    assert [ln.split() for ln in r.stdout.splitlines()] == [
        ["KIND", "NAMESPACE", "NAME"], ["ServiceAccount", "default", "filesystem-server"],
        ["Service", "default", "filesystem-server"], ["Deployment", "default", "filesystem-server"],
    ]  # fmt: skip


def test_a_client_dry_run_deploy_as_a_table_lists_the_objects() -> None:
    r = mcp("deploy", "filesystem", "--dry-run", "-o", "table", *NO_CLUSTER)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["KIND", "NAMESPACE", "NAME"]
    assert r.stdout.splitlines()[1].split()[0] == "MCPServer"


# ---------------------------------------------------------------------------------------- delete


class DeleteClient:
    """The calls `run_delete` makes, against a dict of MCPServers."""

    def __init__(self, *names: str) -> None:
        self.servers = {n: {"metadata": {"name": n, "namespace": "ns", "uid": f"u-{n}"}} for n in names}
        self.deletes: list[tuple[str, bool]] = []

    def get(self, res: Any, namespace: str, name: str) -> dict[str, Any] | None:
        return self.servers.get(name)

    def list_objects(self, res: Any, namespace: str | None, label_selector: str | None = None) -> Any:
        return list(self.servers.values()), "1"

    def delete_object(self, res: Any, namespace: str, name: str, uid: str | None = None, *,
                      dry_run: bool = False) -> dict[str, Any] | None:  # fmt: skip
        self.deletes.append((name, dry_run))
        obj = self.servers.get(name) if dry_run else self.servers.pop(name, None)
        return None if obj is None else {"apiVersion": MCPSERVER.api_version, "kind": "MCPServer", **obj}


def test_delete_client_dry_run_prints_what_would_be_deleted_and_deletes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = DeleteClient("a", "b")
    assert delete.run_delete(client, "ns", [], True, False, False, 60.0, "client") == 0  # type: ignore[arg-type]
    assert client.deletes == [] and set(client.servers) == {"a", "b"}
    assert capsys.readouterr().out.splitlines() == [f"{MCPSERVER.resource_name}/{n} deleted (dry run)" for n in "ab"]


def test_delete_server_dry_run_asks_the_apiserver_with_dry_run_and_deletes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = DeleteClient("a")
    assert delete.run_delete(client, "ns", ["a"], False, False, False, 60.0, "server") == 0  # type: ignore[arg-type]
    assert client.deletes == [("a", True)] and "a" in client.servers
    assert capsys.readouterr().out == f"{MCPSERVER.resource_name}/a deleted (server dry run)\n"


def test_delete_dry_run_with_wait_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--wait cannot be used with --dry-run"):
        delete.run_delete(DeleteClient("a"), "ns", ["a"], False, False, True, 60.0, "client")  # type: ignore[arg-type]


def test_delete_as_json_prints_the_deleted_servers(capsys: pytest.CaptureFixture[str]) -> None:
    client = DeleteClient("a", "b")
    assert delete.run_delete(client, "ns", ["a", "b"], False, False, False, 60.0, "none", "json") == 0  # type: ignore[arg-type]
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "List" and [o["metadata"]["name"] for o in doc["items"]] == ["a", "b"]
    assert client.servers == {}


def test_the_command_line_accepts_delete_dry_run_and_output() -> None:
    r = mcp("delete", "x", "--dry-run", "-o", "yaml", *NO_CLUSTER)
    assert r.returncode == 1 and "Unknown option" not in r.stderr and r.stderr.startswith("error: ")


# ---------------------------------------------------------------------------------------- registry


class StubCluster:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.namespace = None

    def client(self) -> Any:
        return self._client

    def ns(self, client: Any) -> str:
        return "ns"


def _registry(kube: FakeKube, namespace: str, name: str, entries: list[ServerJSON]) -> None:
    reg = kube.put({"apiVersion": MCPREGISTRY.api_version, "kind": "MCPRegistry",
                    "metadata": {"name": name, "namespace": namespace}, "spec": {}})  # fmt: skip
    for cm in catalog_store.desired_configmaps(reg, entries):
        kube.put(cm)


def _entry(name: str) -> ServerJSON:
    return ServerJSON.model_validate(
        {
            "name": f"io.github.x/{name}",
            "version": "1.0.0",
            "description": name,
            "remotes": [{"type": "streamable-http", "url": "https://x.example/mcp"}],
        }
    )


def test_registry_list_all_namespaces_lists_every_registry_of_every_namespace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube = FakeKube()
    _registry(kube, "a", "default", [_entry("one")])
    _registry(kube, "b", "team", [_entry("two")])
    assert registry._print_all(registry.load_all(StubCluster(kube)), "json") == 0  # type: ignore[arg-type]
    items = json.loads(capsys.readouterr().out)
    assert [(i["namespace"], i["registry"], i["name"]) for i in items] == [
        ("a", "default", "io.github.x/one"), ("b", "team", "io.github.x/two")]  # fmt: skip


def test_registry_list_all_namespaces_without_a_cluster_is_one_line() -> None:
    r = mcp("registry", "list", "-A", *NO_CLUSTER)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("error: -A/--all-namespaces needs a cluster") and len(r.stderr.splitlines()) == 1


def test_registry_refresh_as_yaml_prints_the_mcpregistry(capsys: pytest.CaptureFixture[str]) -> None:
    kube = FakeKube()
    _registry(kube, "ns", "default", [])

    class Client:
        def get(self, res: Any, namespace: str, name: str) -> Any:
            return kube.get(res, namespace, name)

        def merge_patch(self, res: Any, namespace: str, name: str, patch: Any) -> Any:
            return kube.merge_patch(res, namespace, name, patch)

    assert registry._refresh(StubCluster(Client()), "default", False, 60.0, "yaml") == 0  # type: ignore[arg-type]
    captured = capsys.readouterr()
    obj = yaml.safe_load(captured.out)
    assert obj["kind"] == "MCPRegistry" and REFRESH_ANNOTATION in obj["metadata"]["annotations"]
    assert "refresh requested" in captured.err
