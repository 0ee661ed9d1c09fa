"""The test images run the objects mcpop renders unmodified, offline: each rendered container (its image,
args, env, emptyDirs, uid 1000, read-only root) under runc in a network namespace with only loopback,
answering the official MCP SDK client (initialize, tools/list, one tools/call)."""

from __future__ import annotations

import json
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest
from oci_registry import crane, image_archives, image_config, oci_registry, push_archive
from runc_harness import (
    Container,
    Netns,
    mcp_client,
    pod_container,
    rootfs,
    run_container,
    runc,
    runc_bundle,
    wait_port,
)

from mcpop.render.normalize import BRIDGE_BIN, STDIO_IMAGES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "images"
STDIO_IMAGE = "registry.mcpop.test/mcp/memory-stdio:2026.8.31"
STATIC_STDIO_IMAGE = "registry.mcpop.test/mcp/go-hello-stdio:1.8.0"


@pytest.fixture(scope="module")
def archives() -> dict[str, Path]:
    return {name: Path(path) for name, path in image_archives().items()}


def server(registry_name: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: mcp.allbeone.io/v1
        kind: MCPServer
        metadata:
          name: under-test
        spec:
          registry:
            name: {registry_name}
        """)


def serve(archives: dict[str, Path], container: Container, transport: str, path: str, tool: str,
          arguments: dict[str, object]) -> dict[str, object]:  # fmt: skip
    """Run the container offline and report what the SDK client saw."""
    assert container.port is not None
    with Netns() as netns, run_container(archives[container.image], container, netns) as running:
        wait_port(netns, container.port, running)
        try:
            return mcp_client(netns, transport, f"http://127.0.0.1:{container.port}{path}", "--call", tool,
                              "--arguments", json.dumps(arguments), "--wait", "60")  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ncontainer log:\n{running.logs()[-4000:]}") from None


def test_the_archives_carry_the_exact_image_names_the_renderer_emits(archives: dict[str, Path]) -> None:
    for name in STDIO_IMAGES.values():
        with tarfile.open(archives[name]) as tar:
            index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == name


def test_npm_server_from_the_catalogue_serves_offline_through_mcpop_bridge(archives: dict[str, Path]) -> None:
    container = pod_container(server("io.github.modelcontextprotocol/server-memory"))
    assert container.image == STDIO_IMAGES["node"] and container.command == [BRIDGE_BIN]
    assert container.read_only_root and container.run_as_user == 1000
    entity = {"name": "mcpop", "entityType": "project", "observations": ["runs offline"]}
    report = serve(archives, container, "streamable-http", "/mcp", "create_entities", {"entities": [entity]})
    assert "create_entities" in report["tools"]  # type: ignore[operator]
    assert report["call"]["isError"] is False  # type: ignore[index]
    assert "mcpop" in report["call"]["text"]  # type: ignore[index]


def test_registry_enriched_example_serves_offline(archives: dict[str, Path]) -> None:
    manifest = (ROOT / "examples" / "03-mcpserver-registry-enriched.yaml").read_text()
    container = pod_container(manifest)
    report = serve(archives, container, "streamable-http", "/mcp", "list_allowed_directories", {})
    assert report["serverInfo"]["name"] == "secure-filesystem-server"  # type: ignore[index]
    assert "/tmp" in report["call"]["text"]  # type: ignore[index]


def test_pypi_server_from_the_catalogue_serves_offline_through_mcpop_bridge_in_the_uv_image(
    archives: dict[str, Path],
) -> None:
    container = pod_container(server("io.github.modelcontextprotocol/server-time"))
    assert container.image == STDIO_IMAGES["python"] and container.command == [BRIDGE_BIN]
    report = serve(archives, container, "streamable-http", "/mcp", "get_current_time", {"timezone": "UTC"})
    assert report["serverInfo"]["name"] == "mcp-time"  # type: ignore[index]
    assert json.loads(report["call"]["text"])["timezone"] == "UTC"  # type: ignore[index]


@pytest.mark.parametrize(("kind", "transport", "path"), [("sse", "sse", "/sse"),
                                                         ("streamable", "streamable-http", "/mcp")])  # fmt: skip
def test_oci_http_image_from_a_registry_entry_serves_mcp(
    archives: dict[str, Path], kind: str, transport: str, path: str
) -> None:
    fixture = FIXTURES / f"io.example.everything-{kind}.server.json"
    container = pod_container(server(f"io.example/everything-{kind}"), registry=fixture)
    assert container.image == json.loads(fixture.read_text())["packages"][0]["identifier"]
    report = serve(archives, container, transport, path, "echo", {"message": "offline"})
    assert "echo" in report["tools"]  # type: ignore[operator]
    assert "offline" in report["call"]["text"]  # type: ignore[index]


def stdio_report(archive: Path, image: str, tool: str, arguments: dict[str, object]) -> dict[str, object]:
    """The SDK client over the stdio of `runc run` of the image's own entrypoint (uid 1000, read-only root,
    /tmp an emptyDir, a loopback-only netns)."""
    container = Container(image=image, command=None, args=None, env={"HOME": "/tmp"}, empty_dirs=["/tmp"],
                          run_as_user=1000, read_only_root=True, port=None)  # fmt: skip
    with Netns() as netns, runc_bundle(archive, container, netns.path) as (cid, bundle):
        try:
            # the client on the host, the server in the container's netns (config.json)
            run = runc("run", "--bundle", str(bundle), cid)
            return mcp_client(None, "stdio", "--call", tool, "--arguments", json.dumps(arguments), "--", *run)
        finally:
            subprocess.run(runc("delete", "--force", cid), capture_output=True)


def test_oci_stdio_image_entrypoint_speaks_stdio_without_a_bridge(archives: dict[str, Path]) -> None:
    archive = archives[STDIO_IMAGE]
    report = stdio_report(archive, STDIO_IMAGE, "read_graph", {})
    assert report["serverInfo"]["name"] == "memory-server"  # type: ignore[index]
    assert json.loads(report["call"]["text"]) == {"entities": [], "relations": []}  # type: ignore[index]


def test_static_oci_stdio_image_has_no_shell_node_or_python_and_speaks_stdio(archives: dict[str, Path]) -> None:
    archive = archives[STATIC_STDIO_IMAGE]
    root = rootfs(archive)
    assert [p for p in ("bin/sh", "usr/bin/sh", "usr/local/bin/node", "usr/bin/python3") if (root / p).exists()] == []
    report = stdio_report(archive, STATIC_STDIO_IMAGE, "greet", {"name": "mcpop"})
    assert report["serverInfo"]["name"] == "greeter"  # type: ignore[index]
    assert report["tools"] == ["greet"]
    assert "mcpop" in report["call"]["text"]  # type: ignore[index]


def test_oci_stdio_image_config_names_its_entrypoint_in_the_local_registry(archives: dict[str, Path]) -> None:
    with oci_registry() as host:
        ref = push_archive(host, archives[STDIO_IMAGE], "mcp/memory-stdio:2026.8.31")
        config = image_config(ref)["config"]
        digest = crane("digest", "--insecure", ref).strip()
    assert config["Entrypoint"][:1] == ["node"]  # type: ignore[index]
    assert config["User"] == "1000:1000"  # type: ignore[index]
    with tarfile.open(archives[STDIO_IMAGE]) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert digest == index["manifests"][0]["digest"]


def test_a_pod_network_namespace_has_no_route_out() -> None:
    with Netns() as netns:
        out = netns.exec("python3", "-c", "import socket; socket.create_connection(('192.0.2.1', 80), timeout=3)")
    assert out.returncode != 0
    assert "Network is unreachable" in out.stderr


def test_every_stdio_npm_and_pypi_server_of_the_catalogue_is_pre_installed(archives: dict[str, Path]) -> None:
    catalogue = json.loads((ROOT / "mcpop" / "data" / "catalog.json").read_text())
    stdio = [p for e in catalogue for p in e.get("packages") or [] if p["transport"]["type"] == "stdio"]
    node_root = rootfs(archives[STDIO_IMAGES["node"]])
    wheels = {w.name.split("-")[0].lower() + "==" + w.name.split("-")[1]
              for w in (rootfs(archives[STDIO_IMAGES["python"]]) / "opt/uv/wheels").glob("*.whl")}  # fmt: skip
    for pkg in stdio:
        if pkg["registryType"] == "npm":
            installed = json.loads((node_root / "app/node_modules" / pkg["identifier"] / "package.json").read_text())
            assert installed["version"] == pkg["version"], pkg["identifier"]
        elif pkg["registryType"] == "pypi":
            assert f"{pkg['identifier'].replace('-', '_')}=={pkg['version']}" in wheels, pkg["identifier"]
