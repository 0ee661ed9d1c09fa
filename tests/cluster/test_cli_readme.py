"""Every `mcp` command line in the original README's code blocks works as written, against the cluster.

The lines are copied into tests/fixtures/cli/readme-commands.txt. Each runs in order (so `deploy` comes
before `status`, `logs` and `delete`) with the operator running, as the cli-user ClusterRole, with the test
namespace as the context's; `--watch` and `--follow` run until their first output and are stopped with ^C. None
may fail as an unknown command or option, and none may print a traceback.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import kubeenv
from cli_harness import *  # noqa: F403
from cli_harness import CLI, bind_cli_user, cli_env, cri_line, interruptible, namespace_logs
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import ROOT, OperatorProcess, start_operator
from registry_harness import Registries

COMMANDS = ROOT / "tests" / "fixtures" / "cli" / "readme-commands.txt"
UNKNOWN = ("Unknown command", "Unknown option", "unknown command", "unknown option", "Invalid value", "usage error")


def readme_commands() -> list[str]:
    return [ln.strip() for ln in COMMANDS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def test_the_fixture_holds_the_readme_lines() -> None:
    lines = readme_commands()
    assert len(lines) == 38 and all(ln.startswith("mcp ") for ln in lines)
    assert "mcp registry inspect filesystem --format json" in lines
    assert "mcp server logs filesystem-server --namespace mcp-servers --follow --tail 100" in lines


def _run(line: str, kubeconfig: str) -> tuple[int, str, str]:
    args = shlex.split(line)[1:]
    streaming = "--watch" in args or "--follow" in args
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=cli_env(kubeconfig), stdin=subprocess.DEVNULL,
                            preexec_fn=interruptible)  # fmt: skip
    if streaming:
        return _run_until_it_streams(line, proc)
    try:
        out, err = proc.communicate(timeout=360)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{line}: did not finish\n{err}") from None
    return proc.returncode, out, err


def _run_until_it_streams(line: str, proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """A `--watch` or `--follow` command runs until it has printed its first output (or exits), then ^C."""
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.extend(iter(s.readline, "")), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]  # fmt: skip
    for r in readers:
        r.start()
    try:
        kubeenv.wait_until(lambda: out or proc.poll() is not None, timeout=timeout, interval=0.1,
                           message=f"the first output of {line!r}")  # fmt: skip
    except TimeoutError as exc:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{exc}\n{''.join(err)}") from None
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{line}: did not stop on ^C\n{''.join(err)}") from None
    for r in readers:
        r.join(timeout=10)
    return proc.returncode, "".join(out), "".join(err)


def _target_namespace(args: list[str], default: str) -> str:
    return args[args.index("--namespace") + 1] if "--namespace" in args else default


def test_every_readme_command_runs_against_the_cluster(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str,
    cli_kubeconfig: str, tmp_path: Path,
) -> None:  # fmt: skip
    api = kube_cluster.api_client
    core = client.CoreV1Api(api)
    for ns in ("mcp-servers", "mcp-system"):
        with contextlib.suppress(client.ApiException):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        bind_cli_user(api, ns)
    registries = {ns: Registries(api, ns) for ns in (namespace, "mcp-system")}
    log = tmp_path / "server.log"
    log.write_text(cri_line("server started"))
    second = start_operator(operator_kubeconfig, "mcp-servers", tmp_path)  # for `--namespace mcp-servers`
    results: dict[str, tuple[int, str, str]] = {}
    try:
        with namespace_logs(api, [namespace, "mcp-servers"], log):
            for line in readme_commands():
                args = shlex.split(line)[1:]
                # without --namespace, every command (`mcp registry` too) uses the context's namespace
                target = _target_namespace(args, namespace)
                if args[0] == "registry" and args[1:2] == ["refresh"] and "--help" not in args:
                    # refresh asks the operator to sync a named MCPRegistry: give it one to ask about
                    reg = args[args.index("--name") + 1] if "--name" in args else "default"
                    with contextlib.suppress(client.ApiException):
                        registries[target].create(reg, {"source": {"configMap": {"name": "none"}}})
                if args[0] in ("status", "server", "delete") and "--help" not in args:
                    _ensure_server(api, target, cli_kubeconfig)
                code, out, err = _run(line, cli_kubeconfig)
                results[line] = (code, out, err)
                if args[0] == "registry" and args[1:2] == ["refresh"] and "--help" not in args:
                    # it never syncs (no such ConfigMap): gone, so later commands see no catalogue at all
                    with contextlib.suppress(client.ApiException):
                        client.CustomObjectsApi(api).delete_namespaced_custom_object(
                            "mcp.allbeone.io", "v1", target, "mcpregistries", reg)  # fmt: skip
                assert "Traceback" not in err and "Traceback" not in out, f"{line}\n{err}"
                assert not any(u in err for u in UNKNOWN), f"{line}\n{err}"
    finally:
        _delete_all(api, "mcp-servers")
        second.terminate()
        for ns, reg in ((namespace, "default"), (namespace, "myregistry"), ("mcp-system", "default")):
            with contextlib.suppress(client.ApiException):
                client.CustomObjectsApi(api).delete_namespaced_custom_object(
                    "mcp.allbeone.io", "v1", ns, "mcpregistries", reg
                )
    failed = {ln: (code, err) for ln, (code, _, err) in results.items() if code not in (0, 130)}
    assert not failed, failed
    assert results["mcp status filesystem-server"][1].startswith("Name: filesystem-server")
    assert "server started" in results["mcp server logs filesystem-server"][1]
    assert "server started" in results["mcp server logs filesystem-server --namespace mcp-servers"][1]
    assert results["mcp status filesystem-server --watch"][0] == 130


def _ensure_server(api: client.ApiClient, namespace: str, kubeconfig: str) -> None:
    """filesystem-server exists (not terminating) and is Ready in `namespace` (deployed again after a delete)."""
    custom = client.CustomObjectsApi(api)

    def state() -> str:
        try:
            obj = custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpservers",
                                                      "filesystem-server")  # fmt: skip
        except client.ApiException as e:
            if e.status == 404:
                return "absent"
            raise
        return "terminating" if obj["metadata"].get("deletionTimestamp") else "present"

    kubeenv.wait_until(lambda: state() != "terminating", timeout=90, message="the previous delete to finish")
    if state() == "absent":
        code, _, err = _run(f"mcp deploy filesystem-server --namespace {namespace} --wait", kubeconfig)
        assert code == 0, err


def _delete_all(api: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api)
    with contextlib.suppress(client.ApiException):
        custom.delete_collection_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpservers")
    with contextlib.suppress(TimeoutError):
        kubeenv.wait_until(
            lambda: not custom.list_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpservers")["items"],
            timeout=60, message="servers deleted",
        )  # fmt: skip
