"""OCI stdio servers without a command: the image's own entrypoint runs behind the static bridge.

The image config (Entrypoint, Cmd, User...) is an input of the pure renderer; offline it comes from
`mcp render --image-config REF=FILE`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpop.api.imageconfig import ImageConfig, canonical_ref, load_image_config, parse_image_config
from mcpop.api.mcpserver import MCPServer
from mcpop.api.serverjson import ServerJSON
from mcpop.cli.render import render_files
from mcpop.render import RenderOptions, render
from mcpop.render.errors import ImageConfigNeeded, RenderError
from mcpop.render.normalize import BRIDGE_BIN, BRIDGE_IMAGE, NONROOT_UID
from mcpop.render.validate import validate
from tests.restricted import violations

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests/fixtures/specs/registry-oci-stdio-github.yaml"
REGISTRY = ROOT / "tests/fixtures/registry/oci-stdio.json"
CONFIG_FILE = ROOT / "tests/fixtures/image-configs/github-mcp-server.json"
GITHUB = "ghcr.io/github/github-mcp-server:0.20.2"
IMAGE = "ghcr.io/example/stdio-server:1.0"
CONFIG = ImageConfig(entrypoint=("/bin/server",), cmd=("stdio", "--verbose"), user="10001")


def entry(**pkg: Any) -> ServerJSON:
    package = {"registryType": "oci", "identifier": IMAGE, "transport": {"type": "stdio"}, **pkg}
    return ServerJSON.model_validate({"name": "io.github.example/stdio", "description": "d", "version": "1.0",
                                      "packages": [package]})  # fmt: skip


def server(spec: dict[str, Any] | None = None) -> MCPServer:
    return MCPServer.model_validate({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"registry": {"name": "io.github.example/stdio"}, **(spec or {})},
    })  # fmt: skip


def pod(spec: dict[str, Any] | None = None, configs: dict[str, ImageConfig] | None = None,
        pkg: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    out = render(server(spec), entry(**(pkg or {})), RenderOptions(image_configs=configs or {IMAGE: CONFIG}))
    dep = next(o for o in out.objects if o["kind"] == "Deployment")
    return dep["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def mcp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from mcpop.cli.main import run; run()", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip


# --- the image config model -------------------------------------------------------------------------


def test_parse_reads_entrypoint_cmd_working_dir_user_and_env() -> None:
    conf = load_image_config(CONFIG_FILE.read_text())
    assert conf.entrypoint == ("/server/github-mcp-server",)
    assert conf.cmd == ("stdio",)
    assert conf.working_dir == "/server"
    assert conf.user is None
    assert conf.env[0].startswith("PATH=")


def test_command_is_entrypoint_then_cmd_and_args_replace_cmd() -> None:
    assert CONFIG.command() == ["/bin/server", "stdio", "--verbose"]
    assert CONFIG.command(["http"]) == ["/bin/server", "http"]
    assert ImageConfig(cmd=("/app/run",)).command() == ["/app/run"]


@pytest.mark.parametrize(("user", "uid"), [("1000", 1000), ("1000:1000", 1000), ("nonroot", None), (None, None)])
def test_numeric_user_is_the_uid_only_when_numeric(user: str | None, uid: int | None) -> None:
    assert ImageConfig(user=user).numeric_user() == uid


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object, not list"),
        ('{"architecture": "amd64"}', "no `config` object"),
        ('{"schemaVersion": 2, "manifests": []}', "manifest or index"),
        ('{"config": {"Entrypoint": "/bin/sh -c x"}}', "config.Entrypoint must be a list of strings"),
        ('{"config": {"User": 0}}', "config.User must be a string"),
    ],
)
def test_a_file_that_is_not_an_image_config_is_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        load_image_config(text)
    assert fragment in str(err.value)


def test_a_null_config_means_no_entrypoint() -> None:
    assert parse_image_config({"config": None}) == ImageConfig()


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("node", "docker.io/library/node:latest"),
        ("mcp/fetch:1", "docker.io/mcp/fetch:1"),
        ("index.docker.io/library/node:22", "docker.io/library/node:22"),
        ("ghcr.io/github/github-mcp-server", "ghcr.io/github/github-mcp-server:latest"),
        ("localhost:5000/x@sha256:ab", "localhost:5000/x@sha256:ab"),
    ],
)
def test_canonical_ref_spells_out_registry_namespace_and_tag(short: str, full: str) -> None:
    assert canonical_ref(short) == full


@given(st.from_regex(r"[a-z0-9]+(\.[a-z]+)?(:[0-9]+)?/[a-z0-9]+(/[a-z0-9]+)?(:[a-z0-9.]+)?", fullmatch=True))
def test_canonical_ref_is_idempotent(ref: str) -> None:
    assert canonical_ref(canonical_ref(ref)) == canonical_ref(ref)


# --- rendering --------------------------------------------------------------------------------------


def test_the_server_image_runs_unchanged_with_the_bridge_spawning_its_entrypoint() -> None:
    spec = pod()
    (main,) = spec["containers"]
    assert main["image"] == IMAGE
    assert main["command"] == [BRIDGE_BIN]
    assert main["args"] == ["--port", "8000", "--path", "/mcp", "--health", "/healthz", "--ready", "/readyz",
                            "--allowed-hosts", "s,s.ns,s.ns.svc,s.ns.svc.cluster.local", "--",
                            "/bin/server", "stdio", "--verbose"]  # fmt: skip


def test_an_init_container_copies_the_bridge_into_a_shared_empty_dir() -> None:
    spec = pod()
    (init,) = spec["initContainers"]
    assert init["image"] == BRIDGE_IMAGE
    assert init["command"] == ["/mcpop-bridge", "--copy-to", "/mcpop-bin"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "mcpop-bridge"]
    assert "emptyDir" in volume
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["mcpop-bridge"] == {"name": "mcpop-bridge", "mountPath": "/mcpop-bin", "readOnly": True}
    assert init["volumeMounts"] == [{"name": "mcpop-bridge", "mountPath": "/mcpop-bin"}]


def test_the_shared_directory_is_not_where_the_bridge_image_keeps_its_binary() -> None:
    """A directory mounted over a file of the image cannot start (runc: "not a directory"): the real
    kubelet refused the init container while the bridge image's /mcpop-bridge was also the mount path."""
    (init,) = pod()["initContainers"]
    binary = init["command"][0]
    for mount in init["volumeMounts"]:
        path = mount["mountPath"].rstrip("/")
        assert binary != path and not binary.startswith(path + "/")


def test_the_static_bridge_pod_meets_the_restricted_profile_with_read_only_roots() -> None:
    spec = pod()
    assert violations(spec) == []
    for c in spec["initContainers"] + spec["containers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_probes_hit_the_bridge_health_and_ready_endpoints_on_the_serving_port() -> None:
    (main,) = pod()["containers"]
    assert main["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_gateway_port_moves_the_bridge() -> None:
    (main,) = pod({"gateway": {"port": 9100}})["containers"]
    assert main["args"][:2] == ["--port", "9100"] and main["ports"][0]["containerPort"] == 9100


def test_package_arguments_replace_the_image_cmd() -> None:
    (main,) = pod(pkg={"packageArguments": [{"type": "positional", "value": "http-mode"}]})["containers"]
    assert main["args"][-2:] == ["/bin/server", "http-mode"]


def test_the_config_is_found_by_the_full_form_of_the_reference() -> None:
    (main,) = pod(configs={"docker.io/library/srv:2": CONFIG}, pkg={"identifier": "srv:2"})["containers"]
    assert main["image"] == "srv:2" and main["args"][-3] == "/bin/server"


def test_without_the_config_rendering_names_the_image_and_the_flag() -> None:
    with pytest.raises(ImageConfigNeeded) as err:
        render(server(), entry(), RenderOptions())
    assert err.value.image == IMAGE
    assert f"--image-config {IMAGE}=FILE" in err.value.message


def test_an_image_with_neither_entrypoint_nor_cmd_is_a_render_error() -> None:
    with pytest.raises(RenderError) as err:
        pod(configs={IMAGE: ImageConfig()})
    assert err.value.field == "spec.command" and "neither Entrypoint nor Cmd" in err.value.message


def test_a_user_command_with_gateway_image_runs_behind_the_bridge_in_that_image() -> None:
    spec = pod({"command": ["/bin/server"], "gateway": {"image": "ghcr.io/example/both:1"}})
    (main,) = spec["containers"]
    assert [c["image"] for c in spec["initContainers"]] == [BRIDGE_IMAGE]
    assert main["image"] == "ghcr.io/example/both:1" and main["command"] == [BRIDGE_BIN]


def test_a_root_image_user_gets_the_nonroot_uid_when_run_as_user_is_cleared() -> None:
    out = render(server({"securityContext": {"runAsUser": None}}), entry(),
                 RenderOptions(image_configs={IMAGE: ImageConfig(entrypoint=("/srv",), user="nonroot")}))  # fmt: skip
    dep = next(o for o in out.objects if o["kind"] == "Deployment")
    (main,) = dep["spec"]["template"]["spec"]["containers"]
    assert main["securityContext"]["runAsUser"] == NONROOT_UID
    assert any("runs as user 'nonroot'" in w for w in out.warnings)


def test_a_user_volume_named_like_the_bridge_volume_is_refused() -> None:
    spec = {"volumes": [{"name": "mcpop-bridge", "emptyDir": {}}]}
    with pytest.raises(RenderError) as err:
        pod(spec)
    assert err.value.field == "spec.volumes[0].name" and "static stdio bridge" in err.value.message


def test_admission_leaves_the_image_config_to_reconcile_time() -> None:
    from mcpop.render.catalog import Catalog

    obj = server().wire()
    verdict = validate(obj, Catalog([entry()], source="test"))
    assert verdict.problems == []


# --- mcp render --image-config ----------------------------------------------------------------------


def test_render_with_image_config_flag_prints_the_bridged_pod() -> None:
    res = mcp("render", "-f", str(SPEC), "--registry", str(REGISTRY), "--image-config", f"{GITHUB}={CONFIG_FILE}")
    assert res.returncode == 0, res.stderr
    assert "- /server/github-mcp-server" in res.stdout and BRIDGE_IMAGE in res.stdout


def test_render_without_the_flag_exits_2_naming_the_image_and_the_flag() -> None:
    res = mcp("render", "-f", str(SPEC), "--registry", str(REGISTRY))
    assert res.returncode == 2 and res.stdout == ""
    assert f"error: {SPEC}: document 0 (line 9): spec.registry:" in res.stderr
    assert f"--image-config {GITHUB}=FILE" in res.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{not json", "not an OCI image config: not JSON"), (json.dumps({"os": "linux"}), "no `config` object")],
)
def test_a_bad_image_config_file_exits_2_with_a_clear_error(tmp_path: Path, content: str, fragment: str) -> None:
    bad = tmp_path / "config.json"
    bad.write_text(content)
    res = mcp("render", "-f", str(SPEC), "--registry", str(REGISTRY), "--image-config", f"{GITHUB}={bad}")
    assert res.returncode == 2 and res.stdout == ""
    assert f"error: --image-config {GITHUB}={bad}: " in res.stderr and fragment in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("ghcr.io/x/y:1", "expected REF=FILE"), ("=config.json", "expected REF=FILE"),
     ("ghcr.io/x/y:1=/no/such/file.json", "cannot read /no/such/file.json")],
)  # fmt: skip
def test_a_malformed_flag_value_is_a_clear_error(value: str, fragment: str) -> None:
    text, problems, _ = render_files([SPEC], registry=REGISTRY, image_configs=[value])
    assert text == "" and len(problems) == 1 and fragment in problems[0]


def _k8s_expand(arg: str, env: dict[str, str] | None = None) -> str:
    """The kubelet's expansion of a container arg: `$$` -> `$`, `$(VAR)` -> its value when defined."""
    out, i = [], 0
    while i < len(arg):
        if arg.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if arg.startswith("$(", i) and (j := arg.find(")", i + 2)) != -1:
            out.append((env or {}).get(arg[i + 2 : j], arg[i : j + 1]))
            i = j + 1
            continue
        out.append(arg[i])
        i += 1
    return "".join(out)


ARGV = st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12), max_size=4)


@given(entrypoint=ARGV.filter(bool), cmd=ARGV)
def test_the_image_argv_reaches_the_bridge_verbatim(entrypoint: list[str], cmd: list[str]) -> None:
    conf = ImageConfig(entrypoint=tuple(entrypoint), cmd=tuple(cmd))
    (main,) = pod(configs={IMAGE: conf})["containers"]
    server_argv = main["args"][main["args"].index("--") + 1 :]
    assert [_k8s_expand(a, {"HOME": "/tmp"}) for a in server_argv] == [*entrypoint, *cmd]


def test_dollar_signs_in_the_image_argv_stay_literal() -> None:
    conf = ImageConfig(entrypoint=("/bin/sh", "-c"), cmd=("echo $$ $(HOME) $HOME",))
    (main,) = pod(configs={IMAGE: conf})["containers"]
    assert main["args"][-1] == "echo $$$$ $$(HOME) $$HOME"


@given(entrypoint=ARGV.filter(bool), cmd=ARGV)
def test_every_static_bridge_pod_meets_the_restricted_profile(entrypoint: list[str], cmd: list[str]) -> None:
    assert violations(pod(configs={IMAGE: ImageConfig(entrypoint=tuple(entrypoint), cmd=tuple(cmd))})) == []
