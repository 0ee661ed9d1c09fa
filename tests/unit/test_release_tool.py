"""The release's fast parts (issue 22 §1), offline: tools/release's arguments, the released chart (version and
appVersion, every image pinned by digest), install.yaml (Namespace, CRDs, RBAC, Deployment, self-managed webhook
certificates, digests only), the SBOM's shape (tools/sbom: CycloneDX 1.6, deterministic), and the GitHub workflows
(actionlint; what they run). Pushing, signing and installing: tests/realnode/test_release.py."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from chartkit import ROOT, by_kind, container_args, objects, one, run_helm

TOOLS = ROOT / "tools"
REGISTRY = "registry.example.com/allbeone"
OPERATOR_DIGEST = "sha256:" + "1" * 64
BRIDGE_PINNED = f"{REGISTRY}/mcpop-bridge@sha256:" + "2" * 64


def load(name: str) -> ModuleType:
    """tools/NAME (a script without .py) as a module."""
    loader = SourceFileLoader(f"tool_{name}", str(TOOLS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release() -> ModuleType:
    return load("release")


@pytest.fixture(scope="module")
def package(release: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    return release.release_chart(out, "1.2.3", f"{REGISTRY}/mcpop", OPERATOR_DIGEST, BRIDGE_PINNED)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def install(release: ModuleType, package: Path) -> list[dict[str, Any]]:
    return objects(release.install_yaml(package, "1.2.3"))


def test_the_version_must_be_semver_and_the_registry_a_plain_reference() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(TOOLS / "release"), *args], capture_output=True, text=True)

    assert "not a semantic version" in run("--registry", "r.example/x", "--version", "1.2").stderr
    assert "HOST[:PORT][/PATH]" in run("--registry", "oci://r.example/x", "--version", "1.2.3").stderr
    both = run("--registry", "r.example/x", "--version", "v1.2.3", "--sign-key", "k", "--keyless")
    assert both.returncode == 2 and "exclude each other" in both.stderr


def test_the_released_chart_carries_the_version_and_pins_every_image_by_digest(package: Path) -> None:
    assert package.name == "mcp-operator-1.2.3.tgz"
    with tarfile.open(package) as tar:
        meta = yaml.safe_load(tar.extractfile("mcp-operator/Chart.yaml").read())  # type: ignore[union-attr]
        values = yaml.safe_load(tar.extractfile("mcp-operator/values.yaml").read())  # type: ignore[union-attr]
    assert (meta["version"], meta["appVersion"]) == ("1.2.3", "1.2.3")
    assert values["image"]["repository"] == f"{REGISTRY}/mcpop" and values["image"]["digest"] == OPERATOR_DIGEST
    assert values["bridge"]["image"] == BRIDGE_PINNED
    objs = objects(run_helm("template", "x", str(package), "--kube-version", "1.36.3").stdout)
    container = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{REGISTRY}/mcpop@{OPERATOR_DIGEST}"
    args = container_args(objs)
    assert args["bridge-image"] == BRIDGE_PINNED
    assert args["backup-image"] == container["image"]  # backup Jobs run the released operator image


def test_install_yaml_is_the_whole_install_for_server_side_apply(install: list[dict[str, Any]]) -> None:
    kinds = [o["kind"] for o in install]
    assert kinds[0] == "Namespace" and install[0]["metadata"]["name"] == "mcpop-system"
    assert install[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    crds = {o["metadata"]["name"] for o in by_kind(install, "CustomResourceDefinition")}
    assert crds == {"mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io"}
    assert max(i for i, k in enumerate(kinds) if k == "CustomResourceDefinition") < kinds.index("Deployment")
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                 "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):  # fmt: skip
        assert kind in kinds, kind
    # no cert-manager, no Prometheus Operator kinds: the operator makes and rotates its webhook certificate
    assert not {"Certificate", "Issuer", "ServiceMonitor", "PrometheusRule"} & set(kinds)
    args = container_args(install)
    assert args["webhook-cert-management"] == "self"
    assert args["webhook-cert-secret"] == "mcp-operator-webhook-tls"
    assert args["webhook-configuration-name"] == "mcp-operator"
    for hook in by_kind(install, "ValidatingWebhookConfiguration")[0]["webhooks"]:
        assert "caBundle" not in hook["clientConfig"]  # the operator's field: a re-apply never clears it
        assert hook["clientConfig"]["service"]["namespace"] == "mcpop-system"
    namespaced = [o for o in install if o["kind"] not in {"Namespace", "CustomResourceDefinition", "ClusterRole",
                                                          "ClusterRoleBinding", "MutatingWebhookConfiguration",
                                                          "ValidatingWebhookConfiguration"}]  # fmt: skip
    assert {o["metadata"].get("namespace") for o in namespaced} == {"mcpop-system"}


def test_install_yaml_names_images_only_by_digest(install: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(install)
    dep = one(install, "Deployment")
    images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
    args = container_args(install)
    named = [*images, args["bridge-image"], args["backup-image"], args["stdio-node-image"], args["stdio-python-image"]]
    assert all("@sha256:" in ref for ref in named), named
    assert f"{REGISTRY}/mcpop@{OPERATOR_DIGEST}" in text and BRIDGE_PINNED in text


# ---------------------------------------------------------------- SBOM


def _layout(tmp: Path, files: dict[str, tuple[bytes, int]], arch: str = "amd64") -> Path:
    """A one-layer OCI image layout holding `files`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer = blob(gzip.compress(buf.getvalue(), mtime=0))
    diff_id = "sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()
    config = blob(json.dumps({"architecture": arch, "os": "linux",
                              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())  # fmt: skip
    manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                               **config},
                                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                            **layer}]}).encode())  # fmt: skip
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest}
    (tmp / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    (tmp / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return tmp


DPKG_STATUS = b"""Package: python3.11-minimal
Status: install ok installed
Architecture: amd64
Source: python3.11
Version: 3.11.2-6+deb12u6

Package: removed-one
Status: deinstall ok config-files
Version: 1.0
"""
SDK_METADATA = b"Metadata-Version: 2.4\nName: mcp\nVersion: 2.3.0\n"
METADATA = b"Metadata-Version: 2.4\nName: Pydantic_Core\nVersion: 2.41.5\nLicense-Expression: MIT\n"


def test_the_sbom_lists_debian_python_and_go_components_in_cyclonedx(tmp_path: Path) -> None:
    bridge = subprocess.run([sys.executable, str(TOOLS / "bridge"), "path"], capture_output=True, text=True, check=True)
    layout = _layout(tmp_path / "layout", {
        "var/lib/dpkg/status": (DPKG_STATUS, 0o644),
        "opt/mcpop/lib/python3.11/site-packages/pydantic_core-2.41.5.dist-info/METADATA": (METADATA, 0o644),
        # a `pip install --target` tree (the image's MCP SDK): no site-packages in the path
        "opt/mcpop/mcp-sdk/mcp-2.3.0.dist-info/METADATA": (SDK_METADATA, 0o644),
        "mcpop-bridge": (Path(bridge.stdout.strip()).read_bytes(), 0o755),
    })  # fmt: skip
    sbom = load("sbom")
    text = sbom.bom(layout, "mcpop", "1.2.3", f"{REGISTRY}/mcpop", OPERATOR_DIGEST)
    assert text == sbom.bom(layout, "mcpop", "1.2.3", f"{REGISTRY}/mcpop", OPERATOR_DIGEST)  # deterministic
    doc = json.loads(text)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    subject = doc["metadata"]["component"]
    assert subject["type"] == "container" and subject["version"] == "1.2.3"
    assert subject["purl"] == f"pkg:oci/mcpop@{OPERATOR_DIGEST}?repository_url={REGISTRY}/mcpop"
    purls = {c["purl"] for c in doc["components"]}
    deb = "pkg:deb/debian/python3.11-minimal@3.11.2-6%2Bdeb12u6?arch=amd64&distro=debian-12&upstream=python3.11"
    assert deb in purls
    assert not any("removed-one" in p for p in purls)  # only installed packages
    assert "pkg:pypi/pydantic-core@2.41.5" in purls and "pkg:pypi/mcp@2.3.0" in purls
    assert any(p.startswith("pkg:golang/github.com/modelcontextprotocol/go-sdk@v") for p in purls)
    assert any(p.startswith("pkg:golang/stdlib@go") for p in purls)
    (deps,) = [d for d in doc["dependencies"] if d["ref"] == subject["bom-ref"]]
    assert len(deps["dependsOn"]) == len(doc["components"])


def test_go_version_m_output_is_read_as_modules() -> None:
    out = ("/x: go1.26.8\n\tpath\tgithub.com/a/b\n\tmod\tgithub.com/a/b\t(devel)\t\n"
           "\tdep\tgolang.org/x/sys\tv0.42.0\th1:x=\n")  # fmt: skip
    assert load("sbom").parse_go_version_m(out) == [
        ("stdlib", "go1.26.8"), ("github.com/a/b", "(devel)"), ("golang.org/x/sys", "v0.42.0")]  # fmt: skip


# ---------------------------------------------------------------- workflows


def test_the_workflows_pass_actionlint() -> None:
    proc = subprocess.run([str(TOOLS / "actionlint"), "-color=false"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_ci_run_and_release_runs_tools_release_keyless_on_both_architectures() -> None:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert any("bash .ci/run" in step.get("run", "") for step in ci["jobs"]["ci"]["steps"])
    release = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads `on` as True
    images, publish = release["jobs"]["images"], release["jobs"]["publish"]
    assert {e["arch"] for e in images["strategy"]["matrix"]["include"]} == {"amd64", "arm64"}
    assert any("tools/release images" in s.get("run", "") for s in images["steps"])
    run = next(s["run"] for s in publish["steps"] if "tools/release" in s.get("run", ""))
    assert "--keyless" in run and "--arches amd64,arm64" in run and "$REGISTRY" in run
    assert release["env"]["REGISTRY"] == "ghcr.io/allbeone"
    assert publish["permissions"]["id-token"] == "write"
    assert "tools/actionlint" in (ROOT / ".ci/run").read_text()


def test_the_per_architecture_images_are_joined_into_one_index(release: ModuleType, tmp_path: Path) -> None:
    """What the release workflow's publish job does with the matrix's V-amd64 and V-arm64 images."""
    import oci_registry

    with oci_registry.oci_registry() as host:
        for arch in ("amd64", "arm64"):
            layout = _layout(tmp_path / arch, {"hello": (arch.encode(), 0o644)}, arch)
            release.push(layout, f"{host}/x/mcpop:1.2.3-{arch}", insecure=True)
        digest = release.join_arches(f"{host}/x/mcpop", "1.2.3", ["amd64", "arm64"], insecure=True)
        index = json.loads(oci_registry.crane("manifest", "--insecure", f"{host}/x/mcpop@{digest}"))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
