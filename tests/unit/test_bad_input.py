"""Bad input: each invalid MCPServer is rejected with the exact field path and a specific message.

Cases are a valid base spec with one change, loaded the way `mcp render` loads files.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mcpop.cli.load import load_text
from mcpop.codec.emitter import dump_yaml

BASE: dict[str, Any] = {
    "apiVersion": "mcp.allbeone.io/v1",
    "kind": "MCPServer",
    "metadata": {"name": "bad"},
    "spec": {"image": "ghcr.io/example/server", "tag": "1.0.0"},
}

_ENV = {"name": "X", "value": "1"}

# (id, spec patch, expected field path, fragment of the message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("replicas-negative", {"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
    ("replicas-string", {"replicas": "three"}, "spec.replicas", "valid integer"),
    ("port-zero", {"port": 0}, "spec.port", "greater than or equal to 1"),
    ("port-too-big", {"port": 70000}, "spec.port", "less than or equal to 65535"),
    (
        "service-type",
        {"serviceType": "Ingress"},
        "spec.serviceType",
        "'ClusterIP', 'NodePort' or 'LoadBalancer'",
    ),
    ("unknown-field", {"imagee": "x"}, "spec.imagee", "unknown field"),
    ("tag-with-space", {"tag": "1 0"}, "spec.tag", "should match pattern"),
    ("tag-empty", {"tag": ""}, "spec.tag", "at least 1 character"),
    ("image-with-space", {"image": "ghcr.io/a b"}, "spec.image", "must not be empty or contain whitespace"),
    (
        "cpu-request-bad",
        {"resources": {"requests": {"cpu": "lots"}}},
        "spec.resources.requests.cpu",
        "quantity",
    ),
    (
        "memory-limit-bad",
        {"resources": {"limits": {"memory": "1GB"}}},
        "spec.resources.limits.memory",
        "quantity",
    ),
    ("quantity-bool", {"resources": {"limits": {"cpu": True}}}, "spec.resources.limits.cpu", "quantity"),
    (
        "request-over-limit",
        {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}},
        "spec",
        "resources.requests.cpu (2) exceeds resources.limits.cpu (500m)",
    ),
    ("resources-unknown", {"resources": {"request": {}}}, "spec.resources.request", "unknown field"),
    ("env-bad-name", {"env": [{"name": "1X", "value": "a"}]}, "spec.env[0].name", "not a valid environment variable"),
    ("env-no-name", {"env": [{"value": "a"}]}, "spec.env[0].name", "Field required"),
    (
        "env-value-and-from",
        {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
        "spec.env[0]",
        "either value or valueFrom",
    ),
    (
        "env-from-two-sources",
        {
            "env": [
                {
                    "name": "A",
                    "valueFrom": {
                        "secretKeyRef": {"name": "s", "key": "k"},
                        "configMapKeyRef": {"name": "c", "key": "k"},
                    },
                }
            ]
        },
        "spec.env[0].valueFrom",
        "exactly one of",
    ),
    ("env-from-empty", {"env": [{"name": "A", "valueFrom": {}}]}, "spec.env[0].valueFrom", "exactly one of"),
    (
        "secret-key-ref-bad-name",
        {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad_S", "key": "k"}}}]},
        "spec.env[0].valueFrom.secretKeyRef.name",
        "DNS-1123",
    ),
    (
        "secret-key-ref-no-key",
        {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
        "spec.env[0].valueFrom.secretKeyRef.key",
        "Field required",
    ),
    ("env-value-number", {"env": [{"name": "A", "value": 5}]}, "spec.env[0].value", "valid string"),
    ("env-value-yaml11-bool", {"env": [{"name": "A", "value": True}]}, "spec.env[0].value", "valid string"),
    (
        "envfrom-both",
        {"envFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]},
        "spec.envFrom[0]",
        "exactly one of configMapRef, secretRef",
    ),
    (
        "secretref-envname-without-key",
        {"secretRefs": [{"name": "s", "envName": "TOKEN"}]},
        "spec.secretRefs[0]",
        "envName needs key",
    ),
    (
        "neither-image-nor-registry",
        {"image": None, "tag": None},
        "spec",
        "one of image, runtime.image or registry.name is required",
    ),
    (
        "flat-and-runtime-image-conflict",
        {"runtime": {"image": "other:1"}},
        "spec",
        "image and runtime.image are both set and differ",
    ),
    (
        "flat-and-runtime-port-conflict",
        {"port": 8080, "runtime": {"port": 9090}},
        "spec",
        "port and runtime.port are both set and differ",
    ),
    (
        "flat-and-runtime-command-conflict",
        {"command": ["a"], "runtime": {"command": ["b"]}},
        "spec",
        "command and runtime.command are both set and differ",
    ),
    (
        "transport-port-conflict",
        {"port": 8080, "transport": {"port": 9000}},
        "spec",
        "transport.port differs from port",
    ),
    (
        "runtime-type",
        {"runtime": {"type": "java"}},
        "spec.runtime.type",
        "'docker', 'python', 'node' or 'binary'",
    ),
    ("transport-type", {"transport": {"type": "websocket"}}, "spec.transport.type", "'stdio', 'sse'"),
    (
        "transport-path-relative",
        {"transport": {"path": "mcp"}},
        "spec.transport.path",
        "should match pattern",
    ),
    (
        "registry-package",
        {"registry": {"name": "x", "package": "cargo"}},
        "spec.registry.package",
        "'oci', 'npm'",
    ),
    ("registry-name-empty", {"registry": {"name": ""}}, "spec.registry.name", "at least 1 character"),
    ("ports-bad-name", {"ports": [{"name": "Metrics", "port": 9100}]}, "spec.ports[0].name", "not a port name"),
    (
        "ports-bad-port",
        {"ports": [{"name": "m", "port": 0}]},
        "spec.ports[0].port",
        "greater than or equal to 1",
    ),
    (
        "ports-protocol",
        {"ports": [{"name": "m", "port": 1, "protocol": "HTTP"}]},
        "spec.ports[0].protocol",
        "'TCP', 'UDP' or 'SCTP'",
    ),
    (
        "toleration-operator",
        {"tolerations": [{"key": "a", "operator": "Is"}]},
        "spec.tolerations[0].operator",
        "'Exists' or 'Equal'",
    ),
    (
        "toleration-effect",
        {"tolerations": [{"key": "a", "effect": "Never"}]},
        "spec.tolerations[0].effect",
        "'NoSchedule'",
    ),
    (
        "affinity-weight",
        {
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 0, "podAffinityTerm": {"topologyKey": "k"}}
                    ]
                }
            }
        },
        "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "greater than",
    ),
    (
        "affinity-no-topology",
        {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}},
        "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        "Field required",
    ),
    ("node-selector-value", {"nodeSelector": {"disk": 1}}, "spec.nodeSelector.disk", "valid string"),
    (
        "volume-two-sources",
        {"volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]},
        "spec.volumes[0]",
        "exactly one of",
    ),
    ("volume-no-source", {"volumes": [{"name": "v"}]}, "spec.volumes[0]", "exactly one of"),
    ("volume-bad-name", {"volumes": [{"name": "V_1", "emptyDir": {}}]}, "spec.volumes[0].name", "DNS-1123"),
    (
        "volume-mode",
        {"volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 4000}}]},
        "spec.volumes[0].secret.defaultMode",
        "less than or equal to 511",
    ),
    (
        "emptydir-size",
        {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "big"}}]},
        "spec.volumes[0].emptyDir.sizeLimit",
        "quantity",
    ),
    (
        "hostpath-relative",
        {"volumes": [{"name": "v", "hostPath": {"path": "etc"}}]},
        "spec.volumes[0].hostPath.path",
        "must be an absolute path",
    ),
    (
        "projected-token-short",
        {
            "volumes": [
                {
                    "name": "v",
                    "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 60}}]},
                }
            ]
        },
        "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
        "greater than or equal to 600",
    ),
    (
        "mount-unknown-volume",
        {"volumeMounts": [{"name": "nope", "mountPath": "/x"}]},
        "spec",
        "volumeMounts: 'nope' names no entry of volumes",
    ),
    (
        "mount-relative",
        {"volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [{"name": "v", "mountPath": "x"}]},
        "spec.volumeMounts[0].mountPath",
        "should match pattern",
    ),
    (
        "config-source-both",
        {"configSources": [{"name": "c", "configMap": {"name": "a"}, "secret": {"name": "b"}}]},
        "spec.configSources[0]",
        "exactly one of configMap, secret",
    ),
    (
        "strategy-type",
        {"deploymentStrategy": {"type": "BlueGreen"}},
        "spec.deploymentStrategy.type",
        "'Recreate' or 'RollingUpdate'",
    ),
    (
        "strategy-recreate-rolling",
        {"deploymentStrategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
        "spec.deploymentStrategy",
        "rollingUpdate may only be set",
    ),
    (
        "max-surge-bool",
        {"deploymentStrategy": {"rollingUpdate": {"maxSurge": True}}},
        "spec.deploymentStrategy.rollingUpdate.maxSurge",
        "integer or a string",
    ),
    (
        "probe-two-handlers",
        {"probes": {"liveness": {"tcpSocket": {"port": 1}, "exec": {"command": ["true"]}}}},
        "spec.probes.liveness",
        "at most one of",
    ),
    (
        "probe-period-zero",
        {"probes": {"readiness": {"periodSeconds": 0}}},
        "spec.probes.readiness.periodSeconds",
        "greater than or equal to 1",
    ),
    ("pull-policy", {"imagePullPolicy": "Sometimes"}, "spec.imagePullPolicy", "'Always', 'IfNotPresent'"),
    (
        "security-user-negative",
        {"securityContext": {"runAsUser": -1}},
        "spec.securityContext.runAsUser",
        "greater than or equal to 0",
    ),
    (
        "seccomp-type",
        {"securityContext": {"seccompProfile": {"type": "Custom"}}},
        "spec.securityContext.seccompProfile.type",
        "'RuntimeDefault'",
    ),
    (
        "service-account-name",
        {"serviceAccount": {"name": "Not Valid"}},
        "spec.serviceAccount.name",
        "DNS-1123",
    ),
    (
        "pdb-both-bounds",
        {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}},
        "spec.podDisruptionBudget",
        "minAvailable or maxUnavailable, not both",
    ),
    (
        "grace-negative",
        {"terminationGracePeriodSeconds": -5},
        "spec.terminationGracePeriodSeconds",
        "greater than or equal to 0",
    ),
    ("config-not-a-map", {"config": ["a"]}, "spec.config", "valid mapping, got a list"),
]


def _doc(patch: dict[str, Any]) -> str:
    doc = copy.deepcopy(BASE)
    for key, value in patch.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = value
    return dump_yaml([doc])


@pytest.mark.parametrize(("patch", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_spec_is_rejected_with_its_field_path(patch: dict[str, Any], path: str, fragment: str) -> None:
    loaded = load_text(_doc(patch), "bad.yaml")
    assert not loaded.resources
    found = [(p.path, p.message) for p in loaded.problems]
    assert any(p == path and fragment in m for p, m in found), found


def test_the_suite_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_base_spec_is_valid() -> None:
    assert load_text(_doc({}), "ok.yaml").problems == []


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("metadata: {name: x}\nspec: {image: a}\n", "kind", "unknown kind None"),
        (
            "apiVersion: v1\nkind: MCPServer\nmetadata: {name: x}\nspec: {image: a}\n",
            "apiVersion",
            "must be 'mcp.allbeone.io/v1'",
        ),
        (
            "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: Bad}\nspec: {image: a}\n",
            "metadata.name",
            "DNS-1123",
        ),
        ("apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: x}\n", "spec", "Field required"),
        (
            "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {}\nspec: {image: a}\n",
            "metadata.name",
            "Field required",
        ),
        ("- a\n- b\n", "", "expected a mapping"),
        ("a: [1,\n", "", "invalid YAML"),
        ("a: 1\na: 2\n", "", "invalid YAML"),
    ],
    ids=[
        "no-kind",
        "wrong-api-version",
        "bad-name",
        "no-spec",
        "no-name",
        "not-a-mapping",
        "syntax",
        "duplicate-key",
    ],
)
def test_malformed_document_is_rejected_with_its_path(text: str, path: str, fragment: str) -> None:
    loaded = load_text(text, "bad.yaml")
    assert any(p.path == path and fragment in p.message for p in loaded.problems), loaded.problems


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    text = _doc({"replicas": -1, "port": 0, "serviceType": "X"}) + "---\nkind: Nope\n"
    paths = {p.path for p in load_text(text, "bad.yaml").problems}
    assert {"spec.replicas", "spec.port", "spec.serviceType", "kind"} <= paths


def test_problem_carries_file_document_and_line() -> None:
    text = _doc({}) + _doc({"replicas": -1})
    (problem,) = load_text(text, "two.yaml").problems
    assert problem.document == 1
    assert str(problem).startswith("two.yaml: document 1 (line ")
    assert "spec.replicas" in str(problem)
