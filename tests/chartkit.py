"""The Helm chart under test: the pinned helm (tools/helm), rendering, and the schemas its objects must meet."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "chart" / "mcp-operator"
FEATURE_RICH = CHART / "ci" / "feature-rich-values.yaml"
KUBE_VERSION = "1.36.3"  # tools/versions.env's Kubernetes
#: what a cluster with the Prometheus Operator and cert-manager serves
ADDON_APIS = ("monitoring.coreos.com/v1", "cert-manager.io/v1")


@functools.cache
def helm() -> str:
    """The pinned helm binary (built from Go modules on first use)."""
    out = subprocess.run([str(ROOT / "tools" / "helm"), "path"], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def run_helm(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=check, timeout=timeout, cwd=ROOT)


def template_args(values: list[Path] = [], sets: list[str] = [], apis: tuple[str, ...] = ()) -> list[str]:  # noqa: B006
    args = ["--kube-version", KUBE_VERSION]
    for f in values:
        args += ["--values", str(f)]
    for s in sets:
        args += ["--set", s]
    for api in apis:
        args += ["--api-versions", api]
    return args


def render(
    values: list[Path] = [],  # noqa: B006
    sets: list[str] = [],  # noqa: B006
    apis: tuple[str, ...] = (),
    release: str = "mcp-operator",
    namespace: str = "mcpop-system",
) -> str:
    """`helm template` of the chart; raises CalledProcessError (stderr has helm's message) on bad values."""
    return run_helm(
        "template", release, str(CHART), "--namespace", namespace, *template_args(values, sets, apis)
    ).stdout


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objs, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def container_args(objs: list[dict[str, Any]]) -> dict[str, str]:
    """The operator container's `--flag=value` arguments."""
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    return dict(a.removeprefix("--").split("=", 1) for a in args)


def container_env(objs: list[dict[str, Any]]) -> dict[str, str]:
    env = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e}


@functools.cache
def third_party_crd_paths() -> tuple[str, ...]:
    """The CRD files of ServiceMonitor, PrometheusRule, Certificate, Issuer, ClusterIssuer (tools/third-party-crds)."""
    out = subprocess.run([str(ROOT / "tools" / "third-party-crds")], capture_output=True, text=True, check=True)
    return tuple(out.stdout.split())


def third_party_crds() -> list[dict[str, Any]]:
    return [yaml.safe_load(Path(p).read_text()) for p in third_party_crd_paths()]


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as JSON Schema with unknown fields refused, as the apiserver's strict field
    validation refuses them (except under x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        out["additionalProperties"] = False
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
    return out


@functools.cache
def custom_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    found: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    # the third-party kinds the chart makes, and mcpop's own (the chart's MCPRegistry)
    own = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "schemas").glob("*.yaml"))]
    for crd in [*third_party_crds(), *own]:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}  # checked as ObjectMeta by the apiserver
            found[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return found


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every strict-schema violation of a rendered object (built-in kinds: kubernetes-validate's schemas)."""
    key = (obj["apiVersion"], obj["kind"])
    validators = custom_validators()
    if key in validators:
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validators[key].iter_errors(obj)]
    import kvalidate

    return kvalidate.errors(obj)


def promql_errors(named: list[tuple[str, str]]) -> str:
    """What Prometheus' parser says of each (name, expression) that does not parse; empty when all do."""
    out = subprocess.run([str(ROOT / "tools" / "promql")], input=json.dumps([{"name": n, "expr": e} for n, e in named]),
                         capture_output=True, text=True)  # fmt: skip
    return "" if out.returncode == 0 else out.stdout + out.stderr
