"""Every error path of the `mcp` CLI is one clear line, never a traceback.

Covers: not found (exit 1), forbidden (a ServiceAccount without rights, exit 1), unreachable (refused,
and a server that never answers: within the request timeout, 10 s by default), a missing kubeconfig or
context, apply conflicts, and invalid flag combinations (exit 2).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import kubeenv
import pytest
import yaml
from cli_harness import *  # noqa: F403
from cli_harness import mcp, one_line_error, server_file
from operator_harness import *  # noqa: F403
from operator_harness import Servers, apply_as


def test_not_found(cli_kubeconfig: str, namespace: str) -> None:
    for args in (["status", "ghost"], ["server", "logs", "ghost"], ["delete", "ghost"]):
        r = mcp(cli_kubeconfig, *args)
        assert r.returncode == 1, args
        assert one_line_error(r) == f'error: MCPServer "ghost" not found in namespace "{namespace}"'


def test_forbidden(noperm_kubeconfig: str, namespace: str) -> None:
    r = mcp(noperm_kubeconfig, "status", "x")
    line = one_line_error(r)
    assert r.returncode == 1 and line.startswith("error: Forbidden: ") and "cannot get resource" in line
    r = mcp(noperm_kubeconfig, "deploy", "filesystem-server")
    assert r.returncode == 1 and "Forbidden" in one_line_error(r)
    r = mcp(noperm_kubeconfig, "status", "-A")
    assert r.returncode == 1 and "cannot list resource" in one_line_error(r)


def _kubeconfig_to(server: str, tmp: Path) -> str:
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
           "users": [{"name": "u", "user": {"token": "t"}}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}  # fmt: skip
    path = tmp / "unreachable-kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_unreachable_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = _kubeconfig_to(f"https://127.0.0.1:{port}", tmp_path)
    for args in (["status", "x"], ["deploy", "fetch"], ["version"], ["delete", "x"]):
        r = mcp(kc, *args)
        assert r.returncode == 1, args
        assert (
            one_line_error(r)
            == f"error: cannot reach the cluster at https://127.0.0.1:{port} (context c): connection refused"
        )


def test_unreachable_silent_server_fails_within_the_request_timeout(tmp_path: Path) -> None:
    with socket.socket() as s:  # accepts connections (the kernel's backlog) but never answers TLS
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        kc = _kubeconfig_to(f"https://127.0.0.1:{s.getsockname()[1]}", tmp_path)
        t0 = time.monotonic()
        r = mcp(kc, "status", "x", "--request-timeout", "2s")
        took = time.monotonic() - t0
        assert r.returncode == 1 and "no answer within 2s (--request-timeout)" in one_line_error(r)
        assert took < 8
        t0 = time.monotonic()
        r = mcp(kc, "status", "x")  # the default: 10 s
        assert r.returncode == 1 and time.monotonic() - t0 < 15 and "no answer within 10s" in one_line_error(r)


def test_no_kubeconfig_or_context(tmp_path: Path, cli_kubeconfig: str) -> None:
    r = mcp(None, "status", "x", "--kubeconfig", str(tmp_path / "nope"))
    assert r.returncode == 1 and one_line_error(r) == f"error: kubeconfig {tmp_path / 'nope'} does not exist"
    r = mcp(cli_kubeconfig, "status", "x", "--context", "other")
    assert r.returncode == 1 and one_line_error(r) == "error: context 'other' does not exist in the kubeconfig"
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text("clusters: [")
    r = mcp(str(bad), "status", "x")
    assert r.returncode == 1 and "is not valid YAML" in one_line_error(r)


def test_apply_conflict_with_another_field_manager(
    kube_cluster: kubeenv.KubeCluster, servers: Servers, cli_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    theirs = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
              "metadata": {"name": "owned", "namespace": namespace},
              "spec": {"image": "ghcr.io/example/mcp", "replicas": 2}}  # fmt: skip
    apply_as(kube_cluster.api_client, theirs, "someone-else")
    f = server_file(tmp_path, "owned", {"image": "ghcr.io/example/mcp", "replicas": 3})
    r = mcp(cli_kubeconfig, "apply", "-f", str(f))
    line = one_line_error(r)
    assert r.returncode == 1 and "Conflict" in line and "someone-else" in line and ".spec.replicas" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "x", "-A"], "-A/--all-namespaces cannot be used with a NAME"),
        (["deploy", "fetch", "--dry-run", "--wait"], "--wait cannot be used with --dry-run"),
        (["deploy", "x", "--image", "a/b:1", "--version", "1"], "--image deploys an image that is in no registry"),
        (["deploy", "fetch", "--wait-timeout", "soon"], "--timeout: invalid duration: 'soon' is not a duration"),
        (["deploy", "fetch", "--env", "no-equals"], "--env 'no-equals': expected NAME=VALUE"),
        (["deploy", "fetch", "--secret-env", "K=novalue"], "--secret-env 'K=novalue': expected NAME=SECRET/KEY"),
        (["delete", "x", "--all"], "--all cannot be used with names"),
        (["delete"], "give the MCPServers to delete"),
        (["delete", "x", "-A"], "-A/--all-namespaces is not supported by delete"),
        (["server", "logs", "x", "--follow", "--previous"], "--follow cannot be used with --previous"),
        (["status", "--request-timeout", "0"], "--request-timeout: must be greater than 0"),
    ],
)
def test_invalid_flag_combinations_fail_with_one_line(cli_kubeconfig: str, args: list[str], message: str) -> None:
    r = mcp(cli_kubeconfig, *args)
    line = one_line_error(r)
    assert r.returncode == 2 and message in line, line


def test_unknown_options_and_bad_values_exit_2_without_traceback(cli_kubeconfig: str) -> None:
    for args in (["status", "--bogus"], ["deploy", "x", "--replicas", "many"], ["status", "-o", "xml"]):
        r = mcp(cli_kubeconfig, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
