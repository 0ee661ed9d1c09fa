"""`mcp deploy`'s flags become an MCPServer (pure parts): env and secret env, image splitting, default
names, required-variable errors rephrased with the flag that sets them; `--dry-run=client` offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcpop.cli.deploy import (
    build_server,
    default_name,
    explain,
    parse_env,
    parse_node_selector,
    parse_secret_env,
    parse_tolerations,
    split_image,
)
from mcpop.cli.options import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_env_flags() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == [{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"},
                                                {"name": "C", "value": ""}]  # fmt: skip
    assert parse_secret_env(["TOKEN=gh/token"]) == [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "gh", "key": "token"}}}]  # fmt: skip
    for bad in (["novalue"], ["1A=x"]):
        with pytest.raises(UsageError, match="--env"):
            parse_env(bad)
    for bad in (["K=secret"], ["K=/key"], ["K=s/"]):
        with pytest.raises(UsageError, match="--secret-env"):
            parse_secret_env(bad)


@pytest.mark.parametrize(("image", "split"), [
    ("ghcr.io/x/y:1.2", ("ghcr.io/x/y", "1.2")), ("localhost:5000/y", ("localhost:5000/y", None)),
    ("localhost:5000/y:3", ("localhost:5000/y", "3")), ("y", ("y", None)),
    ("y@sha256:abc", ("y@sha256:abc", None)),
])  # fmt: skip
def test_images_split_into_image_and_tag(image: str, split: tuple[str, str | None]) -> None:
    assert split_image(image) == split


def test_default_names_are_dns_labels_of_the_last_segment() -> None:
    assert default_name("filesystem-server") == "filesystem-server"
    assert default_name("io.github.modelcontextprotocol/server-Fetch") == "server-fetch"


def test_build_server_from_flags() -> None:
    obj = build_server("fetch", "team", object_name=None, version="1.0", replicas=2, env=[{"name": "A", "value": "1"}],
                       image=None, transport="sse", port=9000, registry_ref="corp")  # fmt: skip
    assert obj == {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                   "metadata": {"name": "fetch", "namespace": "team"},
                   "spec": {"registry": {"name": "fetch", "version": "1.0", "registryRef": "corp"},
                            "replicas": 2, "port": 9000, "transport": {"type": "sse"},
                            "env": [{"name": "A", "value": "1"}]}}  # fmt: skip
    img = build_server("mine", "default", object_name="x", version=None, replicas=None, env=[],
                       image="ghcr.io/a/b:2", transport=None, port=None, registry_ref=None)  # fmt: skip
    assert img["metadata"]["name"] == "x" and img["spec"] == {"image": "ghcr.io/a/b", "tag": "2"}


def test_node_selector_flags_become_a_node_selector() -> None:
    assert parse_node_selector(["disk=ssd", "example.com/zone=a", "disk=nvme", "empty="]) == {
        "disk": "nvme", "example.com/zone": "a", "empty": ""}  # fmt: skip


@pytest.mark.parametrize("bad", ["disk", "=ssd", "-disk=ssd", "disk=not valid", "Ex_ample.com/z=a"])
def test_a_bad_node_selector_names_the_flag_and_what_is_allowed(bad: str) -> None:
    with pytest.raises(UsageError, match=r"--node-selector .*(expected KEY=VALUE|qualified name|label value|prefix)"):
        parse_node_selector([bad])


def test_toleration_flags_read_as_kubectl_taint_writes_them() -> None:
    assert parse_tolerations(["example.com/gpu=true:NoSchedule", "dedicated:NoExecute", "spot", "k=v"]) == [
        {"key": "example.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
        {"key": "spot", "operator": "Exists"},
        {"key": "k", "operator": "Equal", "value": "v"},
    ]


@pytest.mark.parametrize(("bad", "why"), [("gpu=true:Never", "effect 'Never' is not one of NoSchedule"),
                                          ("=true:NoSchedule", "empty name"), ("gpu=a b", "label value")])  # fmt: skip
def test_a_bad_toleration_names_the_flag_and_the_syntax(bad: str, why: str) -> None:
    with pytest.raises(UsageError, match="--toleration") as err:
        parse_tolerations([bad])
    assert why in str(err.value) and "KEY[=VALUE][:EFFECT]" in str(err.value)


def test_placement_flags_land_in_the_spec() -> None:
    obj = build_server("fetch", "team", object_name=None, version=None, replicas=None, env=[], image=None,
                       transport=None, port=None, registry_ref=None, node_selector={"disk": "ssd"},
                       tolerations=[{"key": "spot", "operator": "Exists"}])  # fmt: skip
    assert obj["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert obj["spec"]["tolerations"] == [{"key": "spot", "operator": "Exists"}]


def test_client_dry_run_places_the_pods_as_the_flags_say(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", "from mcpop.cli.main import run; run()", "deploy", "fetch", "--dry-run",
                        "client", "--kubeconfig", str(tmp_path / "none"), "--node-selector", "disk=ssd",
                        "--toleration", "spot=yes:NoSchedule"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    pod = next(d for d in yaml.safe_load_all(r.stdout) if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == [{"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}]


def test_required_variables_name_the_flag() -> None:
    secret = "spec.registry: x/postgres needs the secret environment variable DATABASE_URL: add secretRefs ..."
    assert explain(secret).endswith("pass --secret-env DATABASE_URL=SECRET/KEY")
    plain = "spec.registry: x/memory needs the environment variable MEMORY_FILE_PATH (a path): set it in env"
    assert explain(plain).endswith("pass --env MEMORY_FILE_PATH=VALUE")
    assert explain("something else") == "something else"


def test_client_dry_run_works_without_a_cluster(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", "from mcpop.cli.main import run; run()", "deploy", "fetch", "--dry-run",
                        "--kubeconfig", str(tmp_path / "none"), "-n", "team"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert docs[0]["metadata"] == {"name": "fetch", "namespace": "team"}
    assert {d["kind"] for d in docs} >= {"MCPServer", "Deployment", "Service"}
    assert "embedded catalogue" in r.stderr
