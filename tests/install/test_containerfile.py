"""The Containerfile's promises, read from the file (CI builds and runs it: `tools/image build && check`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "Containerfile").read_text()
LINES = [line.strip() for line in TEXT.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in LINES:
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_base_is_a_build_argument_of_every_stage() -> None:
    froms = [s[0] for s in _stages()]
    assert froms == ["FROM ${BUILD_BASE} AS build", "FROM ${BASE}"]
    assert "ARG BASE=docker.io/library/python:3.11-slim-bookworm" in LINES
    assert "ARG BUILD_BASE=${BASE}" in LINES


def test_the_final_stage_copies_only_the_virtual_environment() -> None:
    final = _stages()[-1]
    copies = [line for line in final if line.startswith(("COPY", "ADD"))]
    assert copies == ["COPY --from=build /opt/mcpop /opt/mcpop"]
    assert not any(line.startswith("RUN") for line in final), "no build steps (or tools) in the final stage"


def test_the_build_installs_wheels_only_and_drops_pip() -> None:
    build = " ".join(_stages()[0])
    assert "COPY dist/wheels/ /wheels/" in build
    assert "--no-index --find-links /wheels 'mcpop[storage]'" in build
    assert "pip uninstall --yes pip setuptools" in build


def test_the_context_holds_nothing_but_wheels() -> None:
    ignore = [line for line in (ROOT / ".containerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore == ["*", "!dist/wheels/*.whl", "!dist/mcp-sdk-wheels/*.whl"]


def test_the_mcp_sdk_goes_beside_the_venv_without_its_console_scripts() -> None:
    build = " ".join(_stages()[0])
    assert "COPY dist/mcp-sdk-wheels/ /mcp-sdk-wheels/" in build
    joined = re.sub(r"\s*\\\s*", " ", build)
    assert (
        "--find-links /mcp-sdk-wheels --find-links /wheels --constraint /tmp/venv-constraints.txt --no-compile "
        '--target /opt/mcpop/mcp-sdk "mcp==${MCP_SDK_VERSION}"'
    ) in joined
    assert "rm -rf /opt/mcpop/mcp-sdk/bin" in build, "the SDK's `mcp` script must not replace mcpop's"
    assert "compileall -q /opt/mcpop/lib /opt/mcpop/mcp-sdk" in build


def test_the_mcp_sdk_is_resolved_with_the_versions_the_venv_holds() -> None:
    """The SDK's directory comes last on sys.path, so the venv's copies of shared packages are the ones it loads:
    it is resolved against exactly those (a conflict fails the build, not the verifier at run time)."""
    joined = re.sub(r"\s*\\\s*", " ", " ".join(_stages()[0]))
    freeze = joined.index("/opt/mcpop/bin/python -m pip freeze --exclude mcpop > /tmp/venv-constraints.txt")
    assert joined.index("--find-links /wheels 'mcpop[storage]'") < freeze < joined.index("--target /opt/mcpop/mcp-sdk")


def test_the_image_pins_the_sdk_the_operator_looks_for() -> None:
    from mcpop.apply.verify.sdk import IMAGE_PATH, MCP_SDK_VERSION

    assert f"ARG MCP_SDK_VERSION={MCP_SDK_VERSION}" in LINES
    assert IMAGE_PATH == "/opt/mcpop/mcp-sdk"


def test_the_user_is_numeric_and_not_root() -> None:
    users = [line.split()[1] for line in _stages()[-1] if line.startswith("USER ")]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit()


def test_the_entrypoint_runs_the_operator() -> None:
    assert LINES[-1] == 'ENTRYPOINT ["mcp", "operator", "run"]'


def test_oci_labels_name_source_version_and_licence() -> None:
    labels = dict(re.findall(r"org\.opencontainers\.image\.(\w+)=\"([^\"]*)\"", TEXT))
    assert labels["source"] == "${SOURCE}"
    assert labels["version"] == "${VERSION}"
    assert labels["licenses"] == "MIT"


def test_the_root_filesystem_can_be_read_only() -> None:
    assert "PYTHONDONTWRITEBYTECODE=1" in TEXT and "HOME=/tmp" in TEXT
    assert "compileall" in TEXT, "bytecode is compiled at build time, not written at run time"
