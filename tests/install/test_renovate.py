"""renovate.json: valid against Renovate's published schema (tools/renovate-schema), weekly, grouped, with
vulnerability alerts, and each custom manager's pattern really finds the version it is meant to update."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "renovate.json").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = subprocess.run([str(ROOT / "tools" / "renovate-schema")], capture_output=True, text=True, check=True)
    return json.loads(Path(path.stdout.strip()).read_text())  # type: ignore[no-any-return]


def _problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Schema errors, plus keys the schema does not know (its top level allows any key, Renovate does not)."""
    out = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(config)
    ]
    options = set(schema["properties"]) | {"$schema"}
    out += [f"{key}: not a Renovate option" for key in config if key not in options]
    for list_key in ("packageRules", "customManagers"):
        # a package rule holds its matchers and any option (the schema lists only the matchers)
        allowed = set(schema["definitions"][list_key]["items"]["allOf"][0]["properties"])
        if list_key == "packageRules":
            allowed |= options
        for i, item in enumerate(config.get(list_key, [])):
            out += [f"{list_key}.{i}.{key}: not a Renovate option" for key in item if key not in allowed]
    return out


def test_the_config_is_valid_against_renovates_schema(schema: dict[str, Any]) -> None:
    assert _problems(CONFIG, schema) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(shedule=["weekly"]), "shedule: not a Renovate option"),
        (lambda c: c["packageRules"][0].update(groupname="x"), "packageRules.0.groupname: not a Renovate option"),
        (lambda c: c.update(vulnerabilityAlerts="yes"), "vulnerabilityAlerts: 'yes' is not of type 'object'"),
    ],
)
def test_a_wrong_config_is_refused(schema: dict[str, Any], change: Any, expected: str) -> None:
    config = copy.deepcopy(CONFIG)
    change(config)
    assert expected in _problems(config, schema)


def test_updates_come_weekly_and_vulnerability_fixes_at_any_time() -> None:
    assert CONFIG["schedule"] == ["* 0-5 * * 1"], "Monday early morning, once a week"
    assert CONFIG["vulnerabilityAlerts"]["enabled"] is True
    assert CONFIG["vulnerabilityAlerts"]["schedule"] == ["at any time"]
    assert CONFIG["osvVulnerabilityAlerts"] is True


def _group(**match: Any) -> str:
    for rule in CONFIG["packageRules"]:
        if all(rule.get(k) == v for k, v in match.items()):
            return str(rule["groupName"])
    raise AssertionError(f"no package rule matching {match}")


def test_updates_are_grouped_by_kind() -> None:
    assert _group(matchManagers=["pep621"]) == "Python dependencies"
    assert _group(matchManagers=["helm-values"]) == "chart image"
    assert _group(matchManagers=["dockerfile"], matchFileNames=["Containerfile"]) == "Containerfile base image"
    go = next(r for r in CONFIG["packageRules"] if "tools/kube-testenv/**" in r.get("matchFileNames", []))
    assert go["groupName"] == "test tooling Go modules"
    assert next(r for r in CONFIG["packageRules"] if r.get("matchManagers") == ["dockerfile"])["pinDigests"] is True


def _python_regex(js: str) -> re.Pattern[str]:
    return re.compile(js.replace("(?<", "(?P<"))


def _files(manager: dict[str, Any]) -> list[Path]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    patterns = [_python_regex(p.strip("/")) for p in manager["managerFilePatterns"]]
    return [ROOT / f for f in tracked if any(p.search(f) for p in patterns)]


@pytest.mark.parametrize("manager", CONFIG["customManagers"], ids=lambda m: m["managerFilePatterns"][0])
def test_each_custom_manager_finds_the_pinned_version_in_its_file(manager: dict[str, Any]) -> None:
    files = _files(manager)
    assert len(files) == len(manager["managerFilePatterns"])
    for file in files:
        text = file.read_text()
        found = [m.groupdict() for s in manager["matchStrings"] for m in _python_regex(s).finditer(text)]
        assert found, file
        for m in found:  # a release version, or an image tag pinned by its digest too
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", m["currentValue"]) or m.get("currentDigest"), m


def test_the_stdio_runtime_images_are_tracked_with_their_digests() -> None:
    manager = next(m for m in CONFIG["customManagers"] if "normalize" in m["managerFilePatterns"][0])
    text = (ROOT / "mcpop/render/normalize.py").read_text()
    found = {m.group("depName") for s in manager["matchStrings"] for m in _python_regex(s).finditer(text)}
    assert found == {"docker.io/library/node", "ghcr.io/astral-sh/uv"}


def test_the_containerfile_base_is_where_the_dockerfile_manager_looks() -> None:
    text = (ROOT / "Containerfile").read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/python:3\.11-slim-bookworm$", text, re.M)
    allowed = next(r for r in CONFIG["packageRules"] if "allowedVersions" in r)["allowedVersions"]
    assert re.fullmatch(allowed.strip("/").replace("\\\\", "\\"), "3.11-slim-bookworm")
