"""What a configuration restore applies from a snapshot (`restore_objects`): only the MCPServer, valid as a new
one, and the ConfigMaps and Secrets it references, in the target namespace with nothing of the snapshot's
metadata but labels and annotations; every other file that would be applied refuses the whole restore."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mcpop.apply.mcpbackup.run import RunError, restore_objects
from mcpop.backup.model import MemoryFile
from mcpop.codec.emitter import dump_yaml

SERVER = {
    "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
    "metadata": {"name": "fs", "namespace": "a", "labels": {"team": "a"}},
    "spec": {"image": "mcp/filesystem", "tag": "1.0.0",
             "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "token"}}]},
}  # fmt: skip
SETTINGS = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"k": "v"}}
TOKEN = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}, "data": {"t": "eA=="}}


def _files(server: dict[str, Any] = SERVER, **extra: dict[str, Any]) -> dict[str, MemoryFile]:
    out = {"mcpserver.yaml": MemoryFile("config/mcpserver.yaml", dump_yaml([server]).encode())}
    for path, obj in {"configmaps/settings.yaml": SETTINGS, "secrets/token.json": TOKEN, **extra}.items():
        path = path.replace("__", "/")
        body = json.dumps(obj) if path.endswith(".json") else dump_yaml([obj])
        out[path] = MemoryFile(f"config/{path}", body.encode())
    return out


def test_the_server_and_what_it_references_are_restored_into_the_target_namespace() -> None:
    objs = restore_objects(_files(), "b", "fs-copy")
    assert [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs] == [
        ("ConfigMap", "b", "settings"), ("Secret", "b", "token"), ("MCPServer", "b", "fs-copy"),
    ]  # fmt: skip
    assert objs[-1]["metadata"]["labels"] == {"team": "a"}


def test_a_kind_other_than_the_one_its_directory_holds_is_refused() -> None:
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"},
           "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}  # fmt: skip
    with pytest.raises(
        RunError, match=re.escape("configmaps/x.yaml: holds a 'ClusterRoleBinding' where a ConfigMap belongs")
    ):
        restore_objects(_files(**{"configmaps__x.yaml": crb}), "a", "fs")


def test_a_config_map_the_server_does_not_reference_is_refused() -> None:
    other = {**SETTINGS, "metadata": {"name": "kube-root-ca.crt"}}
    with pytest.raises(RunError, match=re.escape("'kube-root-ca.crt' is not referenced by the MCPServer")):
        restore_objects(_files(**{"configmaps__kube-root-ca.crt.yaml": other}), "a", "fs")


def test_an_object_named_otherwise_than_its_file_is_refused() -> None:
    renamed = {**SETTINGS, "metadata": {"name": "elsewhere"}}
    with pytest.raises(RunError, match="holds the ConfigMap 'elsewhere', not the one the file is named for"):
        restore_objects(_files(**{"configmaps__settings.yaml": renamed}), "a", "fs")


def test_a_service_account_token_secret_is_refused() -> None:
    sa = {"kubernetes.io/service-account.name": "admin"}
    minted = {**TOKEN, "type": "kubernetes.io/service-account-token", "metadata": {"name": "token", "annotations": sa}}
    with pytest.raises(
        RunError, match=re.escape("a Secret of type 'kubernetes.io/service-account-token' is not restored")
    ):
        restore_objects(_files(**{"secrets__token.json": minted}), "a", "fs")


def test_a_snapshot_server_that_a_new_one_could_not_be_is_refused() -> None:
    bad = {**SERVER, "spec": {**SERVER["spec"], "replicas": -3}}
    with pytest.raises(RunError, match=r"mcpserver.yaml: the MCPServer is not valid: spec.replicas.*nothing was"):
        restore_objects(_files(bad), "a", "fs")


def test_a_server_file_holding_another_kind_is_refused() -> None:
    with pytest.raises(RunError, match=re.escape("mcpserver.yaml: holds 'ConfigMap' 'v1', not an MCPServer")):
        restore_objects(_files(SETTINGS), "a", "fs")


def test_only_labels_and_annotations_of_the_snapshots_metadata_are_applied() -> None:
    hostile = {**SETTINGS, "metadata": {
        "name": "settings", "namespace": "kube-system", "labels": {"applyset.kubernetes.io/part-of": "x", "k": "v"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "a", "uid": "u"}],
        "finalizers": ["never/goes"],
    }, "status": {"x": 1}}  # fmt: skip
    (cm, *_) = restore_objects(_files(**{"configmaps__settings.yaml": hostile}), "a", "fs")
    assert cm == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                  "metadata": {"name": "settings", "namespace": "a", "labels": {"k": "v"}}}  # fmt: skip
