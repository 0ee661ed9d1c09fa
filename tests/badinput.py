# ruff: noqa: E501, RUF001 (a data table: one case a line where it fits; non-ASCII input on purpose)
"""The bad-input corpus: invalid documents of all three kinds, each with the field `mcp render` must name.

Every case is a valid base document with one change (a deep-merged patch), or a raw YAML text for
what only YAML can say (YAML 1.1 booleans, a trailing newline in a scalar). A patch value `DROP`
removes the key.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

API = "mcp.allbeone.io/v1"
DROP = object()

SERVER: dict[str, Any] = {
    "apiVersion": API,
    "kind": "MCPServer",
    "metadata": {"name": "bad"},
    "spec": {"image": "ghcr.io/example/server", "tag": "1.0.0"},
}
REGISTRY: dict[str, Any] = {
    "apiVersion": API,
    "kind": "MCPRegistry",
    "metadata": {"name": "reg"},
    "spec": {"source": {"github": {"repo": "example/servers"}}},
}
BACKUP: dict[str, Any] = {
    "apiVersion": API,
    "kind": "MCPServerBackup",
    "metadata": {"name": "bak"},
    "spec": {"serverRef": {"name": "srv"}, "storage": {"type": "Local"}, "schedule": "0 2 * * *"},
}


@dataclass(frozen=True)
class Case:
    """One invalid document: its id, the document (a dict, or YAML text), the field path, a message part."""

    id: str
    doc: dict[str, Any] | str
    path: str
    fragment: str


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in (mappings merge, everything else replaces; DROP deletes)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is DROP:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


CASES: list[Case] = []


def _add(id: str, base: dict[str, Any], patch: dict[str, Any], path: str, fragment: str) -> None:
    CASES.append(Case(id, merge(base, patch), path, fragment))


def srv(id: str, spec: dict[str, Any], path: str, fragment: str) -> None:
    """An MCPServer case: `spec` patches the base spec; `path` is under `spec.` unless it names metadata."""
    _add(f"mcpserver-{id}", SERVER, {"spec": spec}, _spec_path(path), fragment)


def meta(id: str, patch: dict[str, Any], path: str, fragment: str) -> None:
    """Metadata cases, for each of the three kinds."""
    for kind, base in (("mcpserver", SERVER), ("mcpregistry", REGISTRY), ("mcpserverbackup", BACKUP)):
        _add(f"{kind}-metadata-{id}", base, {"metadata": patch}, path, fragment)


def _spec_path(path: str) -> str:
    return path if path == "spec" or path.startswith(("spec.", "metadata")) else f"spec.{path}"


def reg(id: str, spec: dict[str, Any], path: str, fragment: str) -> None:
    _add(f"mcpregistry-{id}", REGISTRY, {"spec": spec}, _spec_path(path), fragment)


def bak(id: str, spec: dict[str, Any], path: str, fragment: str) -> None:
    _add(f"mcpserverbackup-{id}", BACKUP, {"spec": spec}, _spec_path(path), fragment)


def raw(id: str, text: str, path: str, fragment: str) -> None:
    CASES.append(Case(id, text, path, fragment))


HEAD = f"apiVersion: {API}\nkind: MCPServer\nmetadata: {{name: bad}}\n"
TYPE = "Input should be a valid"

# -- metadata (all three kinds) -------------------------------------------------------------------
meta("name-upper", {"name": "Bad"}, "metadata.name", "DNS-1123")
meta("name-too-long", {"name": "a" * 254}, "metadata.name", "at most 253")
meta("name-trailing-newline", {"name": "abc\n"}, "metadata.name", "DNS-1123")
meta("name-number", {"name": 5}, "metadata.name", "got an integer")
meta("namespace-space", {"namespace": "Bad NS!"}, "metadata.namespace", "DNS-1123 label")
meta("namespace-64", {"namespace": "a" * 64}, "metadata.namespace", "at most 63")
meta("namespace-dot", {"namespace": "a.b"}, "metadata.namespace", "DNS-1123 label")
meta("unknown-field", {"lables": {"a": "b"}}, "metadata.lables", "did you mean labels?")
meta("label-key-space", {"labels": {"bad key!": "x"}}, "metadata.labels.bad key!", "not a qualified name")
meta("label-key-empty", {"labels": {"": "x"}}, "metadata.labels.", "empty name")
meta("label-key-prefix", {"labels": {"Bad_Prefix/x": "y"}}, "metadata.labels.Bad_Prefix/x", "prefix")
meta("label-key-64", {"labels": {"k" * 64: "y"}}, f"metadata.labels.{'k' * 64}", "qualified name")
meta("label-value-64", {"labels": {"a": "v" * 64}}, "metadata.labels.a", "at most 63")
meta("label-value-space", {"labels": {"a": "x y"}}, "metadata.labels.a", "not a valid label value")
meta("label-value-dash-end", {"labels": {"a": "x-"}}, "metadata.labels.a", "not a valid label value")
meta("label-value-int", {"labels": {"a": 1}}, "metadata.labels.a", "got an integer")
meta("annotation-key-space", {"annotations": {"bad key!": "x"}}, "metadata.annotations.bad key!", "qualified")
meta("annotation-too-big", {"annotations": {"a": "x" * (256 * 1024)}}, "metadata.annotations", "256 KiB")
meta("annotation-value-bool", {"annotations": {"a": True}}, "metadata.annotations.a", "got a boolean")
meta("labels-list", {"labels": ["a"]}, "metadata.labels", "got a list")

# -- top level ----------------------------------------------------------------------------------
_add("mcpserver-top-unknown", SERVER, {"spce": {}}, "spce", "unknown field")
CASES.append(Case("mcpserver-spec-list", {**SERVER, "spec": ["a"]}, "spec", "got a list"))
_add("mcpregistry-top-unknown", REGISTRY, {"statuss": {}}, "statuss", "did you mean status?")
_add("mcpserverbackup-top-unknown", BACKUP, {"specs": {}}, "specs", "did you mean spec?")

# -- strict types (no coercion) ----------------------------------------------------------------------
srv("replicas-string", {"replicas": "3"}, "replicas", "valid integer, got a string")
srv("replicas-bool", {"replicas": True}, "replicas", "valid integer, got a boolean")
srv("replicas-float", {"replicas": 1.5}, "replicas", "valid integer")
srv("port-string", {"port": "8080"}, "port", "valid integer, got a string")
srv("run-as-user-string", {"securityContext": {"runAsUser": "1000"}}, "securityContext.runAsUser", "got a string")
srv("privileged-yes", {"securityContext": {"privileged": "yes"}}, "securityContext.privileged", "got a string")
srv("hpa-enabled-on-string", {"autoscaling": {"hpa": {"enabled": "on"}}}, "autoscaling.hpa.enabled", "got a string")
srv("image-number", {"image": 5}, "image", "valid string, got an integer")
srv("tag-number", {"tag": 1.0}, "tag", "valid string, got a number")
srv("command-number-item", {"command": ["run", 1]}, "command[1]", "valid string")
srv("args-bool-item", {"args": [True]}, "args[0]", "valid string")
srv("env-value-int", {"env": [{"name": "A", "value": 1}]}, "env[0].value", "got an integer")
srv("service-account-create-string", {"serviceAccount": {"create": "true"}}, "serviceAccount.create", "boolean")
srv("pod-labels-int-value", {"podLabels": {"a": 1}}, "podLabels.a", "got an integer")
srv("node-selector-bool", {"nodeSelector": {"ssd": True}}, "nodeSelector.ssd", "got a boolean")
srv("env-not-list", {"env": {"A": "b"}}, "env", "valid list, got a mapping")
srv("volumes-not-list", {"volumes": "data"}, "volumes", "valid list, got a string")
srv("probes-not-mapping", {"probes": ["x"]}, "probes", "got a list")
srv("ports-item-string", {"ports": ["http"]}, "ports[0]", "got a string")
srv("transport-port-string", {"transport": {"port": "9000"}}, "transport.port", "got a string")
srv("gateway-enabled-string", {"gateway": {"enabled": "false"}}, "gateway.enabled", "got a string")
srv("grace-string", {"terminationGracePeriodSeconds": "30"}, "terminationGracePeriodSeconds", "got a string")
raw("mcpserver-yaml11-on-for-string", HEAD + "spec: {image: ghcr.io/a/b, tag: on}\n", "spec.tag", "got a boolean")
raw("mcpserver-yaml11-yes-for-int", HEAD + "spec: {image: ghcr.io/a/b, replicas: yes}\n", "spec.replicas",
    "got a boolean")  # fmt: skip
raw("mcpserver-yaml11-env-value-on", HEAD + "spec: {image: ghcr.io/a/b, env: [{name: A, value: on}]}\n",
    "spec.env[0].value", "got a boolean")  # fmt: skip

# -- unknown fields, with a suggestion -----------------------------------------------------------------
srv("unknown-replica", {"replica": 3}, "replica", "did you mean replicas?")
srv("unknown-imagee", {"imagee": "x"}, "imagee", "did you mean image?")
srv("unknown-security", {"securityContext": {"runAsUsr": 1}}, "securityContext.runAsUsr", "did you mean runAsUser?")
srv("unknown-env-field", {"env": [{"name": "A", "vaule": "x"}]}, "env[0].vaule", "did you mean value?")
srv("unknown-hpa-field", {"autoscaling": {"hpa": {"maxReplica": 3}}}, "autoscaling.hpa.maxReplica",
    "did you mean maxReplicas?")  # fmt: skip
srv("unknown-probe-field", {"probes": {"liveness": {"periodSecond": 3}}}, "probes.liveness.periodSecond",
    "did you mean periodSeconds?")  # fmt: skip
srv("unknown-nothing-close", {"zzzz": 1}, "zzzz", "allowed:")
reg("unknown-refresh", {"refreshIntervall": "1h"}, "refreshIntervall", "did you mean refreshInterval?")
bak("unknown-schedul", {"schedul": "@daily"}, "schedul", "did you mean schedule?")

# -- names and regexes (full match, ASCII) ---------------------------------------------------------------
srv("tag-unicode", {"tag": "tàg"}, "tag", "should match pattern")
srv("tag-newline", {"tag": "1.0\n"}, "tag", "should match pattern")
srv("tag-leading-dot", {"tag": ".1"}, "tag", "should match pattern")
srv("tag-too-long", {"tag": "a" * 129}, "tag", "at most 128")
srv("env-name-newline", {"env": [{"name": "A\n", "value": "x"}]}, "env[0].name", "environment variable name")
srv("env-name-unicode", {"env": [{"name": "Ä", "value": "x"}]}, "env[0].name", "environment variable name")
srv("env-name-empty", {"env": [{"name": "", "value": "x"}]}, "env[0].name", "environment variable name")
srv("volume-name-newline", {"volumes": [{"name": "v\n", "emptyDir": {}}]}, "volumes[0].name", "DNS-1123")
srv("service-account-name-newline", {"serviceAccount": {"name": "sa\n"}}, "serviceAccount.name", "DNS-1123")
srv("secret-ref-name-unicode", {"secretRefs": [{"name": "sécret"}]}, "secretRefs[0].name", "DNS-1123")
srv("pull-secret-name", {"imagePullSecrets": [{"name": "Reg Cred"}]}, "imagePullSecrets[0].name", "DNS-1123")
srv("tenant-id-newline", {"tenancy": {"tenantId": "t1\n"}}, "tenancy.tenantId", "DNS-1123 label")
srv("cpu-newline", {"resources": {"requests": {"cpu": "100m\n"}}}, "resources.requests.cpu", "quantity")
srv("memory-unicode-digit", {"resources": {"limits": {"memory": "١٢٨Mi"}}}, "resources.limits.memory", "quantity")
srv("registry-name-space", {"registry": {"name": "a b"}}, "registry.name", "should match pattern")
srv("transport-path-space", {"transport": {"path": "/a b"}}, "transport.path", "should match pattern")

# -- images (OCI references) -------------------------------------------------------------------------
srv("image-space", {"image": "ghcr.io/a b"}, "image", "whitespace")
srv("image-upper-repo", {"image": "ghcr.io/Org/server"}, "image", "lower-case")
srv("image-empty-tag", {"image": "ghcr.io/org/server:"}, "image", "tag or digest is empty")
srv("image-empty-digest", {"image": "ghcr.io/org/server@"}, "image", "tag or digest is empty")
srv("image-bad-digest", {"image": "ghcr.io/org/server@sha256:xyz"}, "image", "not an image reference")
srv("image-trailing-newline", {"image": "ghcr.io/org/server\n"}, "image", "whitespace")
srv("image-double-slash", {"image": "ghcr.io//server"}, "image", "not an image reference")
srv("image-tag-unicode", {"image": "ghcr.io/org/server:tàg"}, "image", "not an image reference")
srv("image-empty", {"image": ""}, "image", "must not be empty")
srv("runtime-image-upper", {"image": DROP, "runtime": {"image": "Docker.io/MCP/Fetch"}}, "runtime.image",
    "lower-case")  # fmt: skip
srv("runtime-image-space", {"image": DROP, "runtime": {"image": "a b"}}, "runtime.image", "whitespace")
srv("gateway-image-empty-tag", {"gateway": {"image": "node:"}}, "gateway.image", "tag or digest is empty")
srv("gateway-image-upper", {"gateway": {"image": "Node"}}, "gateway.image", "lower-case")

# -- int32 / int64 bounds, negatives -------------------------------------------------------------------
srv("replicas-int32", {"replicas": 2**31}, "replicas", "less than or equal to 2147483647")
srv("replicas-negative", {"replicas": -1}, "replicas", "greater than or equal to 0")
srv("run-as-user-int32", {"securityContext": {"runAsUser": 2**31}}, "securityContext.runAsUser", "less than")
srv("run-as-user-negative", {"securityContext": {"runAsUser": -1}}, "securityContext.runAsUser", "greater than")
srv("run-as-group-int32", {"securityContext": {"runAsGroup": 2**32}}, "securityContext.runAsGroup", "less than")
srv("fs-group-negative", {"securityContext": {"fsGroup": -5}}, "securityContext.fsGroup", "greater than")
srv("supplemental-group-big", {"securityContext": {"supplementalGroups": [2**31]}},
    "securityContext.supplementalGroups[0]", "less than")  # fmt: skip
srv("grace-int64", {"terminationGracePeriodSeconds": 2**63}, "terminationGracePeriodSeconds", "less than")
srv("grace-negative", {"terminationGracePeriodSeconds": -1}, "terminationGracePeriodSeconds", "greater than")
srv("prestop-zero", {"preStopSleepSeconds": 0}, "preStopSleepSeconds", "greater than or equal to 1")
srv("probe-period-int32", {"probes": {"readiness": {"periodSeconds": 2**31}}}, "probes.readiness.periodSeconds",
    "less than")  # fmt: skip
srv("probe-delay-negative", {"probes": {"readiness": {"initialDelaySeconds": -1}}},
    "probes.readiness.initialDelaySeconds", "greater than")  # fmt: skip
srv("hpa-max-int32", {"autoscaling": {"hpa": {"enabled": True, "maxReplicas": 2**31}}}, "autoscaling.hpa.maxReplicas",
    "less than")  # fmt: skip
srv("quota-pods-negative", {"tenancy": {"tenantId": "t", "resourceQuotas": {"pods": -1}}},
    "tenancy.resourceQuotas.pods", "greater than")  # fmt: skip
srv("cpu-negative", {"resources": {"requests": {"cpu": "-100m"}}}, "resources.requests.cpu", "negative")
srv("memory-negative-int", {"resources": {"limits": {"memory": -1}}}, "resources.limits.memory", "negative")
srv("empty-dir-size-negative", {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "-1Gi"}}]},
    "volumes[0].emptyDir.sizeLimit", "negative")  # fmt: skip
srv("quota-cpu-negative", {"tenancy": {"tenantId": "t", "resourceQuotas": {"cpu": "-1"}}},
    "tenancy.resourceQuotas.cpu", "negative")  # fmt: skip
srv("vpa-min-negative", {"autoscaling": {"vpa": {"enabled": True, "resourcePolicy": {"containerPolicies": [
    {"containerName": "mcp-server", "minAllowed": {"cpu": "-1"}}]}}}},
    "autoscaling.vpa.resourcePolicy.containerPolicies[0].minAllowed.cpu", "negative")  # fmt: skip
srv("resource-name-unknown", {"resources": {"requests": {"gpu": "1"}}}, "resources.requests.gpu", "not a container")
srv("port-zero", {"port": 0}, "port", "greater than or equal to 1")
srv("port-65536", {"port": 65536}, "port", "less than or equal to 65535")
srv("runtime-port-zero", {"image": DROP, "runtime": {"image": "ghcr.io/a/b", "port": 0}}, "runtime.port",
    "greater than")  # fmt: skip

# -- labels and annotations in the spec ----------------------------------------------------------------
srv("pod-labels-key", {"podLabels": {"bad key!": "x"}}, "podLabels.bad key!", "qualified name")
srv("pod-labels-value-64", {"podLabels": {"a": "v" * 64}}, "podLabels.a", "at most 63")
srv("pod-annotations-key", {"podAnnotations": {"bad key!": "x"}}, "podAnnotations.bad key!", "qualified")
srv("pod-annotations-size", {"podAnnotations": {"a": "x" * 262144}}, "podAnnotations", "256 KiB")
srv("node-selector-key", {"nodeSelector": {"": "x"}}, "nodeSelector.", "empty name")
srv("node-selector-value", {"nodeSelector": {"disk": "fast ssd"}}, "nodeSelector.disk", "label value")
srv("tenancy-labels-key", {"tenancy": {"tenantId": "t", "labels": {"bad key!": "x"}}}, "tenancy.labels.bad key!",
    "qualified")  # fmt: skip
srv("tenancy-labels-value", {"tenancy": {"tenantId": "t", "labels": {"a": "v" * 64}}}, "tenancy.labels.a",
    "at most 63")  # fmt: skip
srv("tenancy-annotations-key", {"tenancy": {"tenantId": "t", "annotations": {"a b": "x"}}},
    "tenancy.annotations.a b", "qualified")  # fmt: skip
srv("monitoring-labels-key", {"monitoring": {"enabled": True, "labels": {"bad key!": "x"}}},
    "monitoring.labels.bad key!", "qualified")  # fmt: skip
srv("monitoring-labels-value", {"monitoring": {"enabled": True, "labels": {"release": "a b"}}},
    "monitoring.labels.release", "label value")  # fmt: skip
srv("sa-annotations-key", {"serviceAccount": {"annotations": {"bad key!": "x"}}}, "serviceAccount.annotations.bad key!",
    "qualified")  # fmt: skip
srv("sa-annotations-size", {"serviceAccount": {"annotations": {"a": "x" * 262144}}}, "serviceAccount.annotations",
    "256 KiB")  # fmt: skip
srv("sa-annotations-value-int", {"serviceAccount": {"annotations": {"a": 1}}}, "serviceAccount.annotations.a",
    "got an integer")  # fmt: skip

# -- env and envFrom --------------------------------------------------------------------------------
srv("env-duplicate", {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "env[1].name",
    "duplicate name 'A'")  # fmt: skip
srv("runtime-env-duplicate", {"image": DROP, "runtime": {"image": "ghcr.io/a/b", "env": [{"name": "A"}, {"name": "A"}]}},
    "runtime.env[1].name", "duplicate")  # fmt: skip
srv("gateway-env-duplicate", {"gateway": {"env": [{"name": "A"}, {"name": "A"}]}}, "gateway.env[1].name", "duplicate")
srv("env-value-and-from", {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
    "env[0]", "either value or valueFrom")  # fmt: skip
srv("env-from-nothing", {"env": [{"name": "A", "valueFrom": {}}]}, "env[0].valueFrom", "exactly one of")
srv("field-ref-path", {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}}]},
    "env[0].valueFrom.fieldRef.fieldPath", "not a supported field path")  # fmt: skip
srv("field-ref-label-key", {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a b']"}}}]},
    "env[0].valueFrom.fieldRef.fieldPath", "qualified name")  # fmt: skip
srv("field-ref-api-version", {"env": [{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v2",
    "fieldPath": "metadata.name"}}}]}, "env[0].valueFrom.fieldRef.apiVersion", "'v1'")  # fmt: skip
srv("resource-field-ref", {"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
    "env[0].valueFrom.resourceFieldRef.resource", "limits.cpu")  # fmt: skip
srv("secret-key-ref-key-slash", {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a/b"}}}]},
    "env[0].valueFrom.secretKeyRef.key", "not a valid key")  # fmt: skip
srv("secret-key-ref-key-dotdot", {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "..a"}}}]},
    "env[0].valueFrom.secretKeyRef.key", "start with '..'")  # fmt: skip
srv("config-map-key-ref-key-space", {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c",
    "key": "a b"}}}]}, "env[0].valueFrom.configMapKeyRef.key", "not a valid key")  # fmt: skip
srv("config-map-key-ref-name", {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "C", "key": "k"}}}]},
    "env[0].valueFrom.configMapKeyRef.name", "DNS-1123")  # fmt: skip
srv("env-from-prefix", {"envFrom": [{"prefix": "1X", "configMapRef": {"name": "c"}}]}, "envFrom[0].prefix", "pattern")
srv("env-from-both", {"envFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]}, "envFrom[0]",
    "exactly one of")  # fmt: skip
srv("secret-refs-key-space", {"secretRefs": [{"name": "s", "key": "a b"}]}, "secretRefs[0].key", "not a valid key")
srv("secret-refs-env-name", {"secretRefs": [{"name": "s", "key": "k", "envName": "1X"}]}, "secretRefs[0].envName",
    "environment variable name")  # fmt: skip
srv("secret-refs-env-name-without-key", {"secretRefs": [{"name": "s", "envName": "T"}]}, "secretRefs[0]", "needs key")

# -- ports -----------------------------------------------------------------------------------------
srv("ports-duplicate-name", {"ports": [{"name": "m", "port": 1}, {"name": "m", "port": 2}]}, "ports[1].name",
    "duplicate name 'm'")  # fmt: skip
srv("ports-duplicate-port", {"ports": [{"name": "a", "port": 9000}, {"name": "b", "port": 9000}]}, "ports[1].port",
    "duplicate port")  # fmt: skip
srv("ports-serving-port-number", {"ports": [{"name": "alt", "port": 8080}]}, "ports[0].port",
    "Service port of the serving port")  # fmt: skip
srv("ports-serving-port-renumbered", {"ports": [{"name": "http", "port": 80}, {"name": "alt", "port": 80}]},
    "ports[1].port", "duplicate port '80/TCP'")  # fmt: skip
srv("ports-name-upper", {"ports": [{"name": "Metrics", "port": 9100}]}, "ports[0].name", "not a port name")
srv("ports-port-zero", {"ports": [{"name": "m", "port": 0}]}, "ports[0].port", "greater than")
srv("ports-target-zero", {"ports": [{"name": "m", "port": 1, "targetPort": 0}]}, "ports[0].targetPort", "between 1")
srv("ports-target-bad-name", {"ports": [{"name": "m", "port": 1, "targetPort": "a--b"}]}, "ports[0].targetPort",
    "not a port name")  # fmt: skip
srv("ports-target-name-16", {"ports": [{"name": "m", "port": 1, "targetPort": "a" * 16}]}, "ports[0].targetPort",
    "at most 15")  # fmt: skip
srv("ports-target-bool", {"ports": [{"name": "m", "port": 1, "targetPort": True}]}, "ports[0].targetPort",
    "port number")  # fmt: skip
srv("ports-protocol", {"ports": [{"name": "m", "port": 1, "protocol": "HTTP"}]}, "ports[0].protocol", "'TCP'")

# -- volumes and mounts ----------------------------------------------------------------------------
srv("volumes-duplicate", {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]},
    "volumes[1].name", "duplicate name 'v'")  # fmt: skip
srv("mounts-duplicate-path", {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
    "volumeMounts": [{"name": "a", "mountPath": "/d"}, {"name": "b", "mountPath": "/d"}]},
    "volumeMounts[1].mountPath", "duplicate mountPath '/d'")  # fmt: skip
srv("volume-two-sources", {"volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]}, "volumes[0]",
    "exactly one of")  # fmt: skip
srv("volume-mode-big", {"volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 512}}]},
    "volumes[0].secret.defaultMode", "less than or equal to 511")  # fmt: skip
srv("items-path-traversal", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [
    {"key": "k", "path": "../etc/passwd"}]}}]}, "volumes[0].configMap.items[0].path", "'..'")  # fmt: skip
srv("items-path-absolute", {"volumes": [{"name": "v", "secret": {"secretName": "s", "items": [
    {"key": "k", "path": "/etc/passwd"}]}}]}, "volumes[0].secret.items[0].path", "relative")  # fmt: skip
srv("items-path-inner-dotdot", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [
    {"key": "k", "path": "a/../../b"}]}}]}, "volumes[0].configMap.items[0].path", "'..'")  # fmt: skip
srv("items-path-duplicate", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [
    {"key": "a", "path": "p"}, {"key": "b", "path": "p"}]}}]}, "volumes[0].configMap.items[1].path",
    "duplicate path")  # fmt: skip
srv("items-key-bad", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [{"key": "a b", "path": "p"}]}}]},
    "volumes[0].configMap.items[0].key", "not a valid key")  # fmt: skip
srv("items-mode-negative", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [
    {"key": "a", "path": "p", "mode": -1}]}}]}, "volumes[0].configMap.items[0].mode", "greater than")  # fmt: skip
srv("sub-path-traversal", {"volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [
    {"name": "v", "mountPath": "/d", "subPath": "../x"}]}, "volumeMounts[0].subPath", "'..'")  # fmt: skip
srv("sub-path-absolute", {"volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [
    {"name": "v", "mountPath": "/d", "subPath": "/x"}]}, "volumeMounts[0].subPath", "relative")  # fmt: skip
srv("projected-token-path-traversal", {"volumes": [{"name": "v", "projected": {"sources": [
    {"serviceAccountToken": {"path": "../token"}}]}}]}, "volumes[0].projected.sources[0].serviceAccountToken.path",
    "'..'")  # fmt: skip
srv("projected-item-path-traversal", {"volumes": [{"name": "v", "projected": {"sources": [
    {"secret": {"name": "s", "items": [{"key": "k", "path": "../../k"}]}}]}}]},
    "volumes[0].projected.sources[0].secret.items[0].path", "'..'")  # fmt: skip
srv("projected-token-expiry-short", {"volumes": [{"name": "v", "projected": {"sources": [
    {"serviceAccountToken": {"path": "t", "expirationSeconds": 60}}]}}]},
    "volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds", "600")  # fmt: skip
srv("projected-token-expiry-long", {"volumes": [{"name": "v", "projected": {"sources": [
    {"serviceAccountToken": {"path": "t", "expirationSeconds": 2**33}}]}}]},
    "volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds", "less than")  # fmt: skip
srv("projected-empty", {"volumes": [{"name": "v", "projected": {"sources": []}}]}, "volumes[0].projected.sources",
    "at least 1")  # fmt: skip
srv("host-path-dotdot", {"volumes": [{"name": "v", "hostPath": {"path": "/var/../etc"}}]},
    "volumes[0].hostPath.path", "'..'")  # fmt: skip
srv("host-path-type", {"volumes": [{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}]},
    "volumes[0].hostPath.type", "DirectoryOrCreate")  # fmt: skip
srv("pvc-claim-name", {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "Data"}}]},
    "volumes[0].persistentVolumeClaim.claimName", "DNS-1123")  # fmt: skip
srv("empty-dir-medium", {"volumes": [{"name": "v", "emptyDir": {"medium": "Disk"}}]}, "volumes[0].emptyDir.medium",
    "'Memory'")  # fmt: skip
srv("mount-unknown-volume", {"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "spec", "names no entry")
srv("mount-relative", {"volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [{"name": "v", "mountPath": "x"}]},
    "volumeMounts[0].mountPath", "pattern")  # fmt: skip
srv("volume-named-config", {"config": {"a": 1}, "volumes": [{"name": "config", "emptyDir": {}}]}, "volumes[0].name",
    "generates for spec.config")  # fmt: skip
srv("volume-named-tmp-elsewhere", {"volumes": [{"name": "tmp", "emptyDir": {}}], "volumeMounts": [
    {"name": "tmp", "mountPath": "/data"}]}, "volumes[0].name", "mounts at /tmp")  # fmt: skip
srv("volume-named-cache-unmounted", {"volumes": [{"name": "cache", "emptyDir": {}}]}, "volumes[0].name",
    "mounts at /cache")  # fmt: skip
srv("volume-named-src", {"configSources": [{"name": "a", "configMap": {"name": "c"}}], "volumes": [
    {"name": "src-a", "emptyDir": {}}]}, "volumes[0].name", "generates for spec.configSources[0]")  # fmt: skip
srv("mount-at-config-dir", {"config": {"a": 1}, "volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [
    {"name": "v", "mountPath": "/etc/mcp"}]}, "volumeMounts[0].mountPath", "spec.config")  # fmt: skip
srv("mount-at-config-source", {"configSources": [{"name": "a", "configMap": {"name": "c"}, "mountPath": "/s"}],
    "volumes": [{"name": "v", "emptyDir": {}}], "volumeMounts": [{"name": "v", "mountPath": "/s"}]},
    "volumeMounts[0].mountPath", "configSources[0]")  # fmt: skip
srv("config-sources-same-path", {"configSources": [{"name": "a", "configMap": {"name": "c"}, "mountPath": "/s"},
    {"name": "b", "secret": {"name": "d"}, "mountPath": "/s"}]}, "configSources[1].mountPath", "mounts at /s")  # fmt: skip
srv("config-sources-duplicate", {"configSources": [{"name": "a", "configMap": {"name": "c"}},
    {"name": "a", "secret": {"name": "d"}}]}, "configSources[1].name", "duplicate name")  # fmt: skip
srv("config-source-both", {"configSources": [{"name": "c", "configMap": {"name": "a"}, "secret": {"name": "b"}}]},
    "configSources[0]", "exactly one of")  # fmt: skip
srv("config-source-mount-dotdot", {"configSources": [{"name": "c", "configMap": {"name": "a"}, "mountPath": "/a/../b"}]},
    "configSources[0].mountPath", "'..'")  # fmt: skip
srv("config-path-env-overridden", {"config": {"a": 1}, "env": [{"name": "MCP_CONFIG_PATH", "value": "/x"}]},
    "env[0].name", "MCP_CONFIG_PATH is set by mcpop")  # fmt: skip
srv("secret-ref-clashes-env", {"env": [{"name": "TOKEN", "value": "x"}], "secretRefs": [{"name": "s", "key": "token"}]},
    "secretRefs[0].key", "spec.env[0].name already sets")  # fmt: skip
srv("secret-refs-same-env", {"secretRefs": [{"name": "s", "key": "a", "envName": "T"}, {"name": "t", "key": "b",
    "envName": "T"}]}, "secretRefs[1].envName", "as spec.secretRefs[0].envName does")  # fmt: skip
srv("pull-secrets-duplicate", {"imagePullSecrets": [{"name": "a"}, {"name": "a"}]}, "imagePullSecrets[1].name",
    "duplicate")  # fmt: skip

# -- probes ----------------------------------------------------------------------------------------
srv("liveness-success-threshold", {"probes": {"liveness": {"successThreshold": 2}}},
    "probes.liveness.successThreshold", "must be 1")  # fmt: skip
srv("startup-success-threshold", {"probes": {"startup": {"successThreshold": 3}}}, "probes.startup.successThreshold",
    "must be 1")  # fmt: skip
srv("readiness-termination-grace", {"probes": {"readiness": {"terminationGracePeriodSeconds": 5}}},
    "probes.readiness.terminationGracePeriodSeconds", "must not be set")  # fmt: skip
srv("probe-http-port-zero", {"probes": {"liveness": {"httpGet": {"port": 0}}}}, "probes.liveness.httpGet.port",
    "between 1 and 65535")  # fmt: skip
srv("probe-http-port-big", {"probes": {"liveness": {"httpGet": {"port": 70000}}}}, "probes.liveness.httpGet.port",
    "between 1 and 65535")  # fmt: skip
srv("probe-tcp-port-name", {"probes": {"readiness": {"tcpSocket": {"port": "Not_A_Name"}}}},
    "probes.readiness.tcpSocket.port", "not a port name")  # fmt: skip
srv("probe-tcp-port-digits", {"probes": {"readiness": {"tcpSocket": {"port": "8080"}}}},
    "probes.readiness.tcpSocket.port", "at least one letter")  # fmt: skip
srv("probe-grpc-port", {"probes": {"liveness": {"grpc": {"port": 0}}}}, "probes.liveness.grpc.port", "greater than")
srv("probe-two-handlers", {"probes": {"liveness": {"tcpSocket": {"port": 1}, "exec": {"command": ["true"]}}}},
    "probes.liveness", "at most one of")  # fmt: skip
srv("probe-exec-empty", {"probes": {"liveness": {"exec": {"command": []}}}}, "probes.liveness.exec.command",
    "at least 1")  # fmt: skip
srv("probe-scheme", {"probes": {"liveness": {"httpGet": {"port": 1, "scheme": "FTP"}}}},
    "probes.liveness.httpGet.scheme", "'HTTP'")  # fmt: skip
srv("probe-header-name", {"probes": {"liveness": {"httpGet": {"port": 1, "httpHeaders": [{"name": "a b",
    "value": "x"}]}}}}, "probes.liveness.httpGet.httpHeaders[0].name", "pattern")  # fmt: skip
srv("probe-period-zero", {"probes": {"readiness": {"periodSeconds": 0}}}, "probes.readiness.periodSeconds",
    "greater than")  # fmt: skip
srv("probe-timeout-zero", {"probes": {"readiness": {"timeoutSeconds": 0}}}, "probes.readiness.timeoutSeconds",
    "greater than")  # fmt: skip
srv("probe-failure-zero", {"probes": {"readiness": {"failureThreshold": 0}}}, "probes.readiness.failureThreshold",
    "greater than")  # fmt: skip

# -- security ------------------------------------------------------------------------------------
srv("seccomp-localhost-no-profile", {"securityContext": {"seccompProfile": {"type": "Localhost"}}},
    "securityContext.seccompProfile.localhostProfile", "required when type is Localhost")  # fmt: skip
srv("seccomp-profile-not-localhost", {"securityContext": {"seccompProfile": {"type": "RuntimeDefault",
    "localhostProfile": "p.json"}}}, "securityContext.seccompProfile.localhostProfile", "must not be set")  # fmt: skip
srv("seccomp-profile-traversal", {"securityContext": {"seccompProfile": {"type": "Localhost",
    "localhostProfile": "../p.json"}}}, "securityContext.seccompProfile.localhostProfile", "'..'")  # fmt: skip
srv("seccomp-type", {"securityContext": {"seccompProfile": {"type": "Custom"}}}, "securityContext.seccompProfile.type",
    "'RuntimeDefault'")  # fmt: skip
srv("capabilities-not-list", {"securityContext": {"capabilities": {"add": "NET_ADMIN"}}},
    "securityContext.capabilities.add", "got a string")  # fmt: skip

# -- placement: tolerations, affinity ----------------------------------------------------------------
srv("toleration-exists-with-value", {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
    "tolerations[0].value", "must be empty when operator is Exists")  # fmt: skip
srv("toleration-no-key-equal", {"tolerations": [{"operator": "Equal", "value": "v"}]}, "tolerations[0].operator",
    "must be Exists when key is empty")  # fmt: skip
srv("toleration-no-key-no-operator", {"tolerations": [{"effect": "NoSchedule"}]}, "tolerations[0].operator",
    "must be Exists")  # fmt: skip
srv("toleration-seconds-no-execute", {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
    "tolerationSeconds": 30}]}, "tolerations[0].effect", "must be NoExecute")  # fmt: skip
srv("toleration-key-invalid", {"tolerations": [{"key": "bad key", "operator": "Exists"}]}, "tolerations[0].key",
    "qualified")  # fmt: skip
srv("toleration-value-invalid", {"tolerations": [{"key": "k", "operator": "Equal", "value": "a b"}]},
    "tolerations[0].value", "label value")  # fmt: skip
srv("toleration-operator", {"tolerations": [{"key": "a", "operator": "Is"}]}, "tolerations[0].operator", "'Exists'")
srv("toleration-effect", {"tolerations": [{"key": "a", "effect": "Never"}]}, "tolerations[0].effect", "'NoSchedule'")
_NODE = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"


def _node(expr: dict[str, Any], field: str = "matchExpressions") -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{field: [expr]}]}}}}  # fmt: skip


srv("node-affinity-in-no-values", _node({"key": "k", "operator": "In"}), f"{_NODE}.matchExpressions[0].values",
    "non-empty when operator is In")  # fmt: skip
srv("node-affinity-exists-values", _node({"key": "k", "operator": "Exists", "values": ["a"]}),
    f"{_NODE}.matchExpressions[0].values", "empty when operator is Exists")  # fmt: skip
srv("node-affinity-gt-two", _node({"key": "k", "operator": "Gt", "values": ["1", "2"]}),
    f"{_NODE}.matchExpressions[0].values", "single integer")  # fmt: skip
srv("node-affinity-lt-text", _node({"key": "k", "operator": "Lt", "values": ["ten"]}),
    f"{_NODE}.matchExpressions[0].values", "single integer")  # fmt: skip
srv("node-affinity-key", _node({"key": "a b", "operator": "Exists"}), f"{_NODE}.matchExpressions[0].key", "qualified")
srv("node-affinity-value", _node({"key": "k", "operator": "In", "values": ["a b"]}),
    f"{_NODE}.matchExpressions[0].values[0]", "label value")  # fmt: skip
srv("node-affinity-fields-key", _node({"key": "metadata.labels", "operator": "In", "values": ["n"]}, "matchFields"),
    f"{_NODE}.matchFields[0].key", "'metadata.name'")  # fmt: skip
srv("node-affinity-fields-two", _node({"key": "metadata.name", "operator": "In", "values": ["a", "b"]}, "matchFields"),
    f"{_NODE}.matchFields[0].values", "at most 1")  # fmt: skip
srv("node-affinity-fields-exists", _node({"key": "metadata.name", "operator": "Exists"}, "matchFields"),
    f"{_NODE}.matchFields[0].operator", "'In' or 'NotIn'")  # fmt: skip
srv("node-affinity-no-terms", {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": []}}}}, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    "at least 1")  # fmt: skip
_POD = "affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"


def _pod(term: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", **term}]}}}  # fmt: skip


srv("pod-affinity-in-no-values", _pod({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}),
    f"{_POD}.labelSelector.matchExpressions[0].values", "non-empty")  # fmt: skip
srv("pod-affinity-exists-values", _pod({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "DoesNotExist",
    "values": ["x"]}]}}), f"{_POD}.labelSelector.matchExpressions[0].values", "empty when")  # fmt: skip
srv("pod-affinity-gt", _pod({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}}),
    f"{_POD}.labelSelector.matchExpressions[0].operator", "'In'")  # fmt: skip
srv("pod-affinity-match-labels", _pod({"labelSelector": {"matchLabels": {"a": "b c"}}}),
    f"{_POD}.labelSelector.matchLabels.a", "label value")  # fmt: skip
srv("pod-affinity-topology-key", _pod({"topologyKey": "bad key"}), f"{_POD}.topologyKey", "qualified")
srv("pod-affinity-topology-empty", _pod({"topologyKey": ""}), f"{_POD}.topologyKey", "empty name")
srv("pod-affinity-namespaces", _pod({"namespaces": ["Bad"]}), f"{_POD}.namespaces[0]", "DNS-1123")
srv("pod-affinity-weight", {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 101, "podAffinityTerm": {"topologyKey": "k"}}]}}},
    "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "less than")  # fmt: skip
srv("node-preferred-weight", {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 0, "preference": {}}]}}},
    "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "greater than")  # fmt: skip

# -- rollout and disruption budget -----------------------------------------------------------------
srv("max-surge-percent-text", {"deploymentStrategy": {"rollingUpdate": {"maxSurge": "25 %"}}},
    "deploymentStrategy.rollingUpdate.maxSurge", "percentage")  # fmt: skip
srv("max-surge-negative", {"deploymentStrategy": {"rollingUpdate": {"maxSurge": -1}}},
    "deploymentStrategy.rollingUpdate.maxSurge", "greater than or equal to 0")  # fmt: skip
srv("max-unavailable-over-100", {"deploymentStrategy": {"rollingUpdate": {"maxUnavailable": "150%"}}},
    "deploymentStrategy.rollingUpdate.maxUnavailable", "100%")  # fmt: skip
srv("rolling-both-zero", {"deploymentStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}},
    "deploymentStrategy.rollingUpdate.maxUnavailable", "may not be 0")  # fmt: skip
srv("max-surge-bool", {"deploymentStrategy": {"rollingUpdate": {"maxSurge": True}}},
    "deploymentStrategy.rollingUpdate.maxSurge", "integer or a string")  # fmt: skip
srv("strategy-type", {"deploymentStrategy": {"type": "BlueGreen"}}, "deploymentStrategy.type", "'Recreate'")
srv("strategy-recreate-rolling", {"deploymentStrategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
    "deploymentStrategy", "rollingUpdate may only be set")  # fmt: skip
srv("pdb-min-percent-text", {"podDisruptionBudget": {"minAvailable": "half"}}, "podDisruptionBudget.minAvailable",
    "percentage")  # fmt: skip
srv("pdb-max-over-100", {"podDisruptionBudget": {"maxUnavailable": "101%"}}, "podDisruptionBudget.maxUnavailable",
    "100%")  # fmt: skip
srv("pdb-min-over-100", {"podDisruptionBudget": {"minAvailable": "200%"}}, "podDisruptionBudget.minAvailable", "100%")
srv("pdb-negative", {"podDisruptionBudget": {"maxUnavailable": -2}}, "podDisruptionBudget.maxUnavailable",
    "greater than or equal to 0")  # fmt: skip
srv("pdb-list", {"podDisruptionBudget": {"minAvailable": [1]}}, "podDisruptionBudget.minAvailable",
    "must be an integer or a string")  # fmt: skip
srv("ports-target-list", {"ports": [{"name": "m", "port": 1, "targetPort": [1]}]}, "ports[0].targetPort",
    "not a list")  # fmt: skip
srv("pdb-both", {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}}, "podDisruptionBudget", "not both")


# -- autoscaling --------------------------------------------------------------------------------------
def _hpa(**kw: Any) -> dict[str, Any]:
    return {"autoscaling": {"hpa": {"enabled": True, **kw}}}


def _metric(**kw: Any) -> dict[str, Any]:
    return _hpa(metrics=[kw])


_T_UTIL = {"type": "Utilization", "averageUtilization": 50}
_T_AVG = {"type": "AverageValue", "averageValue": "10"}
_M = "autoscaling.hpa.metrics[0]"
srv("hpa-min-zero", _hpa(minReplicas=0), "autoscaling.hpa.minReplicas", "greater than")
srv("hpa-min-above-max", _hpa(minReplicas=5, maxReplicas=2), "autoscaling.hpa", "must not exceed")
srv("hpa-cpu-zero", _hpa(targetCPUUtilizationPercentage=0), "autoscaling.hpa.targetCPUUtilizationPercentage",
    "greater than")  # fmt: skip
srv("hpa-metric-type", _metric(type="Bogus"), f"{_M}.type", "'Resource'")
srv("hpa-resource-missing", _metric(type="Resource"), _M, "needs the 'resource' field")
srv("hpa-resource-no-target", _metric(type="Resource", resource={"name": "cpu"}), f"{_M}.resource.target",
    "Field required")  # fmt: skip
srv("hpa-resource-value-target", _metric(type="Resource", resource={"name": "cpu", "target": {"type": "Value",
    "value": "1"}}), f"{_M}.resource.target.type", "Utilization or AverageValue")  # fmt: skip
srv("hpa-utilization-missing", _metric(type="Resource", resource={"name": "cpu", "target": {"type": "Utilization"}}),
    f"{_M}.resource.target.averageUtilization", "required when type is Utilization")  # fmt: skip
srv("hpa-utilization-zero", _metric(type="Resource", resource={"name": "cpu", "target": {"type": "Utilization",
    "averageUtilization": 0}}), f"{_M}.resource.target.averageUtilization", "greater than")  # fmt: skip
srv("hpa-utilization-and-value", _metric(type="Resource", resource={"name": "cpu", "target": {"type": "Utilization",
    "averageUtilization": 50, "averageValue": "1"}}), f"{_M}.resource.target.averageValue", "together")  # fmt: skip
srv("hpa-target-type", _metric(type="Resource", resource={"name": "cpu", "target": {"type": "Percent"}}),
    f"{_M}.resource.target.type", "'Utilization'")  # fmt: skip
srv("hpa-pods-utilization", _metric(type="Pods", pods={"metric": {"name": "rps"}, "target": _T_UTIL}),
    f"{_M}.pods.target.type", "must be AverageValue")  # fmt: skip
srv("hpa-pods-no-metric", _metric(type="Pods", pods={"target": _T_AVG}), f"{_M}.pods.metric", "Field required")
srv("hpa-pods-metric-name-slash", _metric(type="Pods", pods={"metric": {"name": "a/b"}, "target": _T_AVG}),
    f"{_M}.pods.metric.name", "not a metric name")  # fmt: skip
srv("hpa-average-value-zero", _metric(type="Pods", pods={"metric": {"name": "rps"}, "target": {
    "type": "AverageValue", "averageValue": "0"}}), f"{_M}.pods.target.averageValue", "must be positive")  # fmt: skip
srv("hpa-object-no-described", _metric(type="Object", object={"metric": {"name": "m"}, "target": {"type": "Value",
    "value": "1"}}), f"{_M}.object.describedObject", "Field required")  # fmt: skip
srv("hpa-object-utilization", _metric(type="Object", object={"describedObject": {"kind": "Service", "name": "s"},
    "metric": {"name": "m"}, "target": _T_UTIL}), f"{_M}.object.target.type", "Value or AverageValue")  # fmt: skip
srv("hpa-external-value-missing", _metric(type="External", external={"metric": {"name": "q"}, "target": {
    "type": "Value"}}), f"{_M}.external.target.value", "required when type is Value")  # fmt: skip
srv("hpa-container-resource-no-container", _metric(type="ContainerResource", containerResource={"name": "cpu",
    "target": _T_UTIL}), f"{_M}.containerResource.container", "Field required")  # fmt: skip
srv("hpa-metric-two-sources", _metric(type="Resource", resource={"name": "cpu", "target": _T_UTIL},
    external={"metric": {"name": "q"}, "target": _T_AVG}), _M, "must not set external")  # fmt: skip
srv("hpa-policy-value-zero", _hpa(behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 0,
    "periodSeconds": 60}]}}), "autoscaling.hpa.behavior.scaleUp.policies[0].value", "greater than")  # fmt: skip
srv("hpa-policy-period", _hpa(behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 1,
    "periodSeconds": 1801}]}}), "autoscaling.hpa.behavior.scaleUp.policies[0].periodSeconds", "less than")  # fmt: skip
srv("hpa-window", _hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": -1}}),
    "autoscaling.hpa.behavior.scaleDown.stabilizationWindowSeconds", "greater than")  # fmt: skip
_VPA = "autoscaling.vpa.resourcePolicy.containerPolicies[0]"


def _vpa(**kw: Any) -> dict[str, Any]:
    return {"autoscaling": {"vpa": {"enabled": True, "resourcePolicy": {"containerPolicies": [
        {"containerName": "mcp-server", **kw}]}}}}  # fmt: skip


srv("vpa-min-above-max", _vpa(minAllowed={"cpu": "2"}, maxAllowed={"cpu": "500m"}), f"{_VPA}.minAllowed.cpu",
    "more than maxAllowed.cpu")  # fmt: skip
srv("vpa-memory-min-above-max", _vpa(minAllowed={"memory": "1Gi"}, maxAllowed={"memory": "512Mi"}),
    f"{_VPA}.minAllowed.memory", "more than")  # fmt: skip
srv("vpa-mode", _vpa(mode="Sometimes"), f"{_VPA}.mode", "'Auto'")
srv("vpa-controlled", _vpa(controlledResources=["gpu"]), f"{_VPA}.controlledResources[0]", "'cpu'")
srv("vpa-update-mode", {"autoscaling": {"vpa": {"enabled": True, "updateMode": "Always"}}},
    "autoscaling.vpa.updateMode", "'Off'")  # fmt: skip
srv("hpa-and-vpa-cpu", {"autoscaling": {"hpa": {"enabled": True}, "vpa": {"enabled": True}}}, "spec.autoscaling",
    "both act on cpu")  # fmt: skip

# -- tenancy and NetworkPolicy -------------------------------------------------------------------------
_NP = "tenancy.networkPolicy"


def _np(**kw: Any) -> dict[str, Any]:
    return {"tenancy": {"tenantId": "acme", "networkPolicy": kw}}


srv("tenancy-no-id", {"tenancy": {"isolationLevel": "Strict"}}, "tenancy.tenantId", "Field required")
srv("tenancy-level", {"tenancy": {"tenantId": "a", "isolationLevel": "Total"}}, "tenancy.isolationLevel", "'Strict'")
srv("np-allowed-namespace", _np(allowedNamespaces=["Bad NS"]), f"{_NP}.allowedNamespaces[0]", "DNS-1123")
srv("np-allowed-pods-operator", _np(allowedPods=[{"matchExpressions": [{"key": "a", "operator": "In"}]}]),
    f"{_NP}.allowedPods[0].matchExpressions[0].values", "non-empty")  # fmt: skip
srv("np-peer-empty", _np(ingressRules=[{"from": [{}]}]), f"{_NP}.ingressRules[0].from[0]", "a peer must set")
srv("np-peer-ipblock-and-selector", _np(ingressRules=[{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"},
    "podSelector": {}}]}]), f"{_NP}.ingressRules[0].from[0].ipBlock", "may not be combined")  # fmt: skip
srv("np-cidr-invalid", _np(egressRules=[{"to": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]),
    f"{_NP}.egressRules[0].to[0].ipBlock.cidr", "not a CIDR")  # fmt: skip
srv("np-cidr-no-prefix", _np(egressRules=[{"to": [{"ipBlock": {"cidr": "10.0.0.1"}}]}]),
    f"{_NP}.egressRules[0].to[0].ipBlock.cidr", "prefix length")  # fmt: skip
srv("np-except-outside", _np(egressRules=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}]),
    f"{_NP}.egressRules[0].to[0].ipBlock.except[0]", "strict subset")  # fmt: skip
srv("np-port-protocol", _np(ingressRules=[{"ports": [{"protocol": "ICMP"}]}]), f"{_NP}.ingressRules[0].ports[0].protocol",
    "'TCP'")  # fmt: skip
srv("np-port-zero", _np(ingressRules=[{"ports": [{"port": 0}]}]), f"{_NP}.ingressRules[0].ports[0].port", "between 1")
srv("np-end-port-below", _np(ingressRules=[{"ports": [{"port": 9000, "endPort": 8000}]}]),
    f"{_NP}.ingressRules[0].ports[0].endPort", "greater than or equal to port")  # fmt: skip
srv("np-end-port-named", _np(ingressRules=[{"ports": [{"port": "http", "endPort": 8000}]}]),
    f"{_NP}.ingressRules[0].ports[0].endPort", "numeric port")  # fmt: skip
srv("np-rule-unknown", _np(ingressRules=[{"form": []}]), f"{_NP}.ingressRules[0].form", "did you mean from?")
srv("np-rule-not-mapping", _np(egressRules=["all"]), f"{_NP}.egressRules[0]", "got a string")
srv("quota-memory-bad", {"tenancy": {"tenantId": "t", "resourceQuotas": {"memory": "lots"}}},
    "tenancy.resourceQuotas.memory", "quantity")  # fmt: skip


# -- Istio -----------------------------------------------------------------------------------------
def _istio(**kw: Any) -> dict[str, Any]:
    return {"istio": {"enabled": True, **kw}}


srv("istio-host-url", _istio(virtualService={"host": "https://mcp.example.com"}), "istio.virtualService.host",
    "without scheme")  # fmt: skip
srv("istio-host-path", _istio(virtualService={"host": "mcp.example.com/x"}), "istio.virtualService.host",
    "without scheme")  # fmt: skip
srv("istio-host-upper-space", _istio(virtualService={"host": "my host"}), "istio.virtualService.host",
    "not a host name")  # fmt: skip
srv("istio-host-wildcard-middle", _istio(virtualService={"host": "a.*.example.com"}), "istio.virtualService.host",
    "not a host name")  # fmt: skip
srv("istio-host-upper", _istio(virtualService={"host": "MCP.example.com"}), "istio.virtualService.host",
    "not a host name")  # fmt: skip
srv("istio-gateway-bad", _istio(gateway="Bad Gateway"), "istio.gateway", "gateway name")
srv("istio-gateway-namespace", _istio(gateway="Bad_NS/gw"), "istio.gateway", "namespace part")
srv("istio-path-relative", _istio(virtualService={"path": "mcp"}), "istio.virtualService.path", "pattern")
srv("istio-timeout", _istio(virtualService={"timeout": "30 s"}), "istio.virtualService.timeout", "pattern")
srv("istio-retries-negative", _istio(virtualService={"retries": {"attempts": -1}}),
    "istio.virtualService.retries.attempts", "greater than")  # fmt: skip
srv("istio-tls-mode", _istio(destinationRule={"trafficPolicy": {"tls": {"mode": "ON"}}}),
    "istio.destinationRule.trafficPolicy.tls.mode", "'ISTIO_MUTUAL'")  # fmt: skip
srv("istio-mtls-mode", _istio(mtls={"enabled": True, "mode": "ON"}), "istio.mtls.mode", "'STRICT'")

# -- monitoring ------------------------------------------------------------------------------------
srv("monitoring-path", {"monitoring": {"enabled": True, "path": "metrics"}}, "monitoring.path", "pattern")
srv(
    "monitoring-interval",
    {"monitoring": {"enabled": True, "interval": "often"}},
    "monitoring.interval",
    "not a Prometheus duration",
)
srv("monitoring-port-upper", {"monitoring": {"enabled": True, "port": "Metrics"}}, "monitoring.port", "not a port name")
srv("monitoring-port-missing", {"monitoring": {"enabled": True, "port": "metrics"}}, "monitoring.port",
    "not a port of the Service")  # fmt: skip

# -- transport, gateway, registry, misc -----------------------------------------------------------------
srv("transport-type", {"transport": {"type": "websocket"}}, "transport.type", "'stdio'")
srv("transport-path-relative", {"transport": {"path": "mcp"}}, "transport.path", "pattern")
srv("transport-port-conflict", {"port": 8080, "transport": {"port": 9000}}, "spec", "transport.port differs")
srv("flat-runtime-image-conflict", {"runtime": {"image": "ghcr.io/other/x:1"}}, "spec", "image and runtime.image")
srv("no-image", {"image": DROP}, "spec", "one of image, runtime.image or registry.name is required")
srv("runtime-type", {"runtime": {"type": "java"}}, "runtime.type", "'docker'")
srv("registry-package", {"registry": {"name": "x", "package": "cargo"}}, "registry.package", "'oci'")
srv("registry-name-empty", {"registry": {"name": ""}}, "registry.name", "at least 1")
srv("registry-ref-name", {"registry": {"name": "fetch", "registryRef": "Bad"}}, "registry.registryRef", "DNS-1123")
srv("registry-unknown-entry", {"image": DROP, "registry": {"name": "no-such-server-anywhere"}}, "registry.name",
    "not in the embedded catalogue")  # fmt: skip
srv("registry-version-mismatch", {"image": DROP, "registry": {"name": "fetch", "version": "99.0.0"}},
    "registry.version", "has no version '99.0.0'")  # fmt: skip
srv("gateway-port-zero", {"gateway": {"port": 0}}, "gateway.port", "greater than")
srv("stdio-no-command", {"image": DROP, "transport": {"type": "stdio"}}, "spec", "one of image")
srv("stdio-gateway-off-no-image", {"image": DROP, "command": ["x"], "transport": {"type": "stdio"},
    "gateway": {"enabled": False}}, "spec.image", "needs an image")  # fmt: skip
srv("service-type", {"serviceType": "Ingress"}, "serviceType", "'ClusterIP'")
STDIO_AUTH: dict[str, Any] = {"image": DROP, "command": ["npx", "srv"], "transport": {"type": "stdio"}}
srv("exposed-without-auth", {"serviceType": "LoadBalancer"}, "spec.auth", "allowUnauthenticated: true")
srv("auth-issuer-http", {**STDIO_AUTH, "auth": {"jwt": {"issuer": "http://idp.example.com"}}}, "auth.jwt.issuer",
    "must be an https URL")  # fmt: skip
srv("auth-issuer-userinfo", {**STDIO_AUTH, "auth": {"jwt": {"issuer": "https://u:pw@idp.example.com"}}},
    "auth.jwt.issuer", "must not carry userinfo")  # fmt: skip
srv("auth-scope-space", {**STDIO_AUTH, "auth": {"jwt": {"issuer": "https://idp.example.com",
    "requiredScopes": ["a b"]}}}, "auth.jwt.requiredScopes[0]", "pattern")  # fmt: skip
srv("auth-empty", {**STDIO_AUTH, "auth": {}}, "auth.jwt", "auth needs jwt")
srv("auth-jwt-without-bridge", {"transport": {"type": "stdio"}, "gateway": {"enabled": False},
    "auth": {"jwt": {"issuer": "https://idp.example.com"}}}, "spec.auth.jwt", "gateway.enabled: false")  # fmt: skip
srv("pull-policy", {"imagePullPolicy": "Sometimes"}, "imagePullPolicy", "'Always'")
srv("config-not-mapping", {"config": ["a"]}, "config", "got a list")
srv("request-over-limit", {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}, "spec",
    "exceeds resources.limits.cpu")  # fmt: skip
srv("config-over-1mib", {"config": {"blob": "x" * (1024 * 1024)}}, "config", "at most 1 MiB")
srv("app-protocol", {"ports": [{"name": "m", "port": 9100, "appProtocol": "my proto"}]}, "ports[0].appProtocol",
    "qualified name")  # fmt: skip
srv("command-too-long", {"command": ["x"] * 65}, "command", "at most 64")

# -- MCPRegistry ---------------------------------------------------------------------------------------
_NO_SOURCE = {"source": DROP}
reg("url-no-host", {**_NO_SOURCE, "url": "https://"}, "url", "has no host")
reg("url-scheme", {**_NO_SOURCE, "url": "ftp://example.com/x"}, "url", "http or https URL")
reg("url-space", {**_NO_SOURCE, "url": "https://exa mple.com"}, "url", "whitespace")
reg("url-bad-port", {**_NO_SOURCE, "url": "https://example.com:99999/"}, "url", "not a URL")
reg("url-newline", {**_NO_SOURCE, "url": "https://example.com\n"}, "url", "whitespace")
reg("official-url-no-host", {"source": {"github": DROP, "mcpRegistry": {"url": "http:///v0"}}},
    "source.mcpRegistry.url", "has no host")  # fmt: skip
reg("official-version-policy", {"source": {"github": DROP, "mcpRegistry": {"url": "https://r.example.com",
    "versionPolicy": "newest"}}}, "source.mcpRegistry.versionPolicy", "'latest'")  # fmt: skip
reg("refresh-too-short", {"refreshInterval": "10s"}, "refreshInterval", "minimum refresh interval of 1m")
reg("refresh-zero", {"refreshInterval": "0m"}, "refreshInterval", "minimum")
reg("refresh-format", {"refreshInterval": "15 minutes"}, "refreshInterval", "unknown unit ' minutes'")
reg("refresh-newline", {"refreshInterval": "15m\n"}, "refreshInterval", "unknown unit")
reg("refresh-no-unit", {"refreshInterval": "900"}, "refreshInterval", "needs a unit")
reg("refresh-int", {"refreshInterval": 900}, "refreshInterval", "got an integer")
reg("github-repo", {"source": {"github": {"repo": "no-slash"}}}, "source.github.repo", "pattern")
reg("github-repo-newline", {"source": {"github": {"repo": "a/b\n"}}}, "source.github.repo", "pattern")
reg("github-path-traversal", {"source": {"github": {"path": "../secrets"}}}, "source.github.path", "'..'")
reg("github-path-absolute", {"source": {"github": {"path": "/servers"}}}, "source.github.path", "relative")
reg("github-branch-space", {"source": {"github": {"branch": "my branch"}}}, "source.github.branch", "git branch")
reg("github-branch-dotdot", {"source": {"github": {"branch": "a..b"}}}, "source.github.branch", "git branch")
reg("configmap-name", {"source": {"github": DROP, "configMap": {"name": "Bad"}}}, "source.configMap.name", "DNS-1123")
reg("configmap-key", {"source": {"github": DROP, "configMap": {"name": "c", "key": "a/b"}}}, "source.configMap.key",
    "not a valid key")  # fmt: skip
reg("two-sources", {"url": "https://example.com/x"}, "spec", "exactly one source")
reg("no-source", _NO_SOURCE, "spec", "exactly one source")
reg("source-type-mismatch", {"source": {"type": "configmap"}}, "spec", "source.type is 'configmap'")
reg("source-type-unknown", {"source": {"type": "s3"}}, "source.type", "'mcp-registry'")
reg("auth-no-key", {"auth": {"secretRef": {"name": "tok"}}}, "auth.secretRef.key", "Field required")
reg("auth-key-bad", {"auth": {"secretRef": {"name": "tok", "key": "a b"}}}, "auth.secretRef.key", "not a valid key")
reg("auth-name-bad", {"auth": {"secretRef": {"name": "Tok", "key": "t"}}}, "auth.secretRef.name", "DNS-1123")
reg("filters-not-list", {"filters": {"include": "io.github.*"}}, "filters.include", "got a string")
reg("filters-unknown", {"filters": {"exclud": ["x"]}}, "filters.exclud", "did you mean exclude?")

# -- MCPServerBackup -------------------------------------------------------------------------------------
bak("schedule-six-fields", {"schedule": "0 0 2 * * *"}, "schedule", "6 fields, not 5")
bak("schedule-four-fields", {"schedule": "0 2 * *"}, "schedule", "4 fields")
bak("schedule-minute-range", {"schedule": "60 2 * * *"}, "schedule", "out of range 0-59")
bak("schedule-hour-range", {"schedule": "0 24 * * *"}, "schedule", "out of range 0-23")
bak("schedule-dom-zero", {"schedule": "0 2 0 * *"}, "schedule", "out of range 1-31")
bak("schedule-month-name", {"schedule": "0 2 * FOO *"}, "schedule", "not a number or a name")
bak("schedule-dow-seven", {"schedule": "0 2 * * 8"}, "schedule", "out of range 0-6")
bak("schedule-step-zero", {"schedule": "*/0 * * * *"}, "schedule", "step must be at least 1")
bak("schedule-backwards", {"schedule": "30-10 * * * *"}, "schedule", "runs backwards")
bak("schedule-quartz-l", {"schedule": "0 2 L * *"}, "schedule", "not a number")
bak("schedule-descriptor", {"schedule": "@fortnightly"}, "schedule", "unknown descriptor")
bak("schedule-descriptor-space", {"schedule": "@daily "}, "schedule", "unknown descriptor")
bak("schedule-every-no-unit", {"schedule": "@every 5"}, "schedule", "needs a unit")
bak("schedule-tz", {"schedule": "TZ=UTC 0 2 * * *"}, "schedule", "time zone")
bak("schedule-int", {"schedule": 5}, "schedule", "got an integer")
bak("server-ref-name", {"serverRef": {"name": "Bad Server"}}, "serverRef.name", "DNS-1123")
bak("server-ref-namespace", {"serverRef": {"namespace": "Bad NS"}}, "serverRef.namespace", "DNS-1123 label")
bak("server-ref-missing", {"serverRef": DROP}, "serverRef", "Field required")
bak("backup-type", {"backupType": "Snapshot"}, "backupType", "'Full'")
bak("compression", {"compression": "bzip2"}, "compression", "'gzip'")
bak("encryption-string", {"encryption": "true"}, "encryption", "got a string")
bak("verify-on-string", {"verify": "on"}, "verify", "got a string")
bak("storage-type", {"storage": {"type": "FTP"}}, "storage.type", "'S3'")
bak("storage-s3-missing", {"storage": {"type": "S3"}}, "storage", "storage.s3 is not set")
bak("storage-extra-backend", {"storage": {"type": "Local", "gcs": {"bucket": "abc"}}}, "storage", "remove storage.gcs")
bak("s3-bucket-upper", {"storage": {"type": "S3", "s3": {"bucket": "My_Bucket"}}}, "storage.s3.bucket",
    "S3 bucket name")  # fmt: skip
bak("s3-bucket-ip", {"storage": {"type": "S3", "s3": {"bucket": "192.168.1.1"}}}, "storage.s3.bucket", "IP address")
bak("s3-bucket-short", {"storage": {"type": "S3", "s3": {"bucket": "ab"}}}, "storage.s3.bucket", "at least 3")
bak("s3-endpoint-no-host", {"storage": {"type": "S3", "s3": {"bucket": "abc", "endpoint": "https://"}}},
    "storage.s3.endpoint", "no host")  # fmt: skip
bak("s3-endpoint-space", {"storage": {"type": "S3", "s3": {"bucket": "abc", "endpoint": "my host"}}},
    "storage.s3.endpoint", "not an endpoint")  # fmt: skip
bak("s3-endpoint-port", {"storage": {"type": "S3", "s3": {"bucket": "abc", "endpoint": "minio:0"}}},
    "storage.s3.endpoint", "port must be a number")  # fmt: skip
bak("s3-region", {"storage": {"type": "S3", "s3": {"bucket": "abc", "region": "US West"}}}, "storage.s3.region",
    "pattern")  # fmt: skip
bak("s3-credentials-key", {"storage": {"type": "S3", "s3": {"bucket": "abc", "credentials": {
    "accessKeyId": {"secretKeyRef": {"name": "s", "key": "a b"}},
    "secretAccessKey": {"secretKeyRef": {"name": "s", "key": "k"}}}}}},
    "storage.s3.credentials.accessKeyId.secretKeyRef.key", "not a valid key")  # fmt: skip
bak("gcs-bucket", {"storage": {"type": "GCS", "gcs": {"bucket": "-bad-"}}}, "storage.gcs.bucket", "GCS bucket name")
bak("gcs-endpoint-scheme", {"storage": {"type": "GCS", "gcs": {"bucket": "abc", "endpoint": "ftp://x"}}},
    "storage.gcs.endpoint", "http or https URL")  # fmt: skip
bak("azure-container", {"storage": {"type": "Azure", "azure": {"container": "a--b"}}}, "storage.azure.container",
    "Azure container name")  # fmt: skip
bak("azure-account", {"storage": {"type": "Azure", "azure": {"container": "abc", "accountName": "My-Account"}}},
    "storage.azure.accountName", "pattern")  # fmt: skip
bak("local-path-relative", {"storage": {"type": "Local", "local": {"path": "backups"}}}, "storage.local.path",
    "absolute path")  # fmt: skip
bak("local-path-dotdot", {"storage": {"type": "Local", "local": {"path": "/b/../etc"}}}, "storage.local.path", "'..'")
bak("local-host-path", {"storage": {"type": "Local", "local": {"hostPath": {"path": "rel"}}}},
    "storage.local.hostPath.path", "absolute")  # fmt: skip
bak("retention-negative", {"retention": {"keepDaily": -1}}, "retention.keepDaily", "greater than")
bak("retention-int32", {"retention": {"keepLast": 2**31}}, "retention.keepLast", "less than")
bak("retention-string", {"retention": {"keepWeekly": "4"}}, "retention.keepWeekly", "got a string")
bak("retention-max-age", {"retention": {"maxAge": "30 days"}}, "retention.maxAge", "pattern")
bak("retention-max-age-newline", {"retention": {"maxAge": "30d\n"}}, "retention.maxAge", "pattern")
bak("restore-time", {"restore": {"pointInTime": "yesterday"}}, "restore.pointInTime", "RFC 3339")
bak("restore-time-no-zone", {"restore": {"pointInTime": "2025-01-31T12:00:00"}}, "restore.pointInTime", "time zone")
bak("restore-backup-name", {"restore": {"backupName": "Bad Name"}}, "restore.backupName", "DNS-1123")
bak("encryption-key-ref", {"encryptionKey": {"name": "k"}}, "encryptionKey.key", "Field required")
bak("suspend-string", {"suspend": "no"}, "suspend", "got a string")

__all__ = ["CASES", "Case"]
