"""Bad inputs that `mcp render`, the admission webhook and reconcile used to accept (issue: Trust §7): each rule
is attacked through the command line and through the validator they share (`mcpop.render.validate.validate`),
and refused naming the field, what was wrong and what is allowed; the documents that only YAML can write (an
unquoted timestamp) go through the YAML reader. docs/input-rules.md lists every rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcpop.api.base import quantity_decimal
from mcpop.cli.render import render_files, run_render
from mcpop.codec.emitter import dump_yaml
from mcpop.codec.reader import PlainTimestamp
from mcpop.render.validate import validate

ROOT = Path(__file__).resolve().parents[2]
API = "mcp.allbeone.io/v1"


def server(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "MCPServer", "metadata": {"name": "bad"},
            "spec": {"image": "ghcr.io/example/server", **spec}}  # fmt: skip


def _istio(**kw: Any) -> dict[str, Any]:
    return {"istio": {"enabled": True, **kw}}


def _retries(**kw: Any) -> dict[str, Any]:
    return _istio(virtualService={"retries": kw})


def _pool(**kw: Any) -> dict[str, Any]:
    return _istio(destinationRule={"trafficPolicy": {"connectionPool": kw}})


_POOL = "spec.istio.destinationRule.trafficPolicy.connectionPool"
_RETRIES = "spec.istio.virtualService.retries"

#: (id, spec, the field named, a fragment of the message)
ATTACKS: list[tuple[str, dict[str, Any], str, str]] = [
    # 1. port names are IANA service names
    ("port-name-16-characters", {"ports": [{"name": "metrics-endpoint", "port": 9100}]}, "spec.ports[0].name",
     "at most 15 characters"),
    ("port-name-no-letter", {"ports": [{"name": "9100", "port": 9100}]}, "spec.ports[0].name", "at least one letter"),
    ("port-name-underscore", {"ports": [{"name": "my_port", "port": 9100}]}, "spec.ports[0].name", "not a port name"),
    ("port-name-leading-hyphen", {"ports": [{"name": "-metrics", "port": 9100}]}, "spec.ports[0].name",
     "not a port name"),
    ("port-name-trailing-hyphen", {"ports": [{"name": "metrics-", "port": 9100}]}, "spec.ports[0].name",
     "not a port name"),
    ("port-name-double-hyphen", {"ports": [{"name": "a--b", "port": 9100}]}, "spec.ports[0].name", "no '--'"),
    ("monitoring-port-16-characters", {"monitoring": {"enabled": True, "port": "metrics-endpoint"}},
     "spec.monitoring.port", "at most 15 characters"),
    # 2. quantities: resource.Quantity's grammar, the apiserver's bounds
    ("cpu-1e100", {"resources": {"limits": {"cpu": "1e100"}}}, "spec.resources.limits.cpu",
     "at most 9223372036854775807"),
    ("memory-9Ei9", {"resources": {"limits": {"memory": "9Ei9"}}}, "spec.resources.limits.memory",
     "not a Kubernetes quantity"),
    ("memory-8Ei", {"resources": {"limits": {"memory": "8Ei"}}}, "spec.resources.limits.memory", "out of range"),
    ("cpu-fractional-exponent", {"resources": {"requests": {"cpu": "1e1.5"}}}, "spec.resources.requests.cpu",
     "not a Kubernetes quantity"),
    ("cpu-exponent-past-32-bits", {"resources": {"requests": {"cpu": "1e2147483648"}}}, "spec.resources.requests.cpu",
     "32-bit"),
    ("cpu-just-past-the-cap", {"resources": {"limits": {"cpu": "9223372036854775807.0000000001"}}},
     "spec.resources.limits.cpu", "out of range"),
    ("cpu-below-1n", {"resources": {"requests": {"cpu": "1e-100"}}}, "spec.resources.requests.cpu", "below 1n"),
    ("memory-yaml-number-1e100", {"resources": {"limits": {"memory": 1e100}}}, "spec.resources.limits.memory",
     "out of range"),
    ("quota-cpu-1e100", {"tenancy": {"tenantId": "t", "resourceQuotas": {"cpu": "1e100"}}},
     "spec.tenancy.resourceQuotas.cpu", "out of range"),
    # 3. Istio: retryOn policies, connection pool ranges
    ("retry-on-unknown", _retries(retryOn="5xx,bogus"), f"{_RETRIES}.retryOn", "'bogus' is not a retry policy"),
    ("retry-on-space", _retries(retryOn="5xx, reset"), f"{_RETRIES}.retryOn", "' reset' is not a retry policy"),
    ("retry-on-empty-item", _retries(retryOn="5xx,"), f"{_RETRIES}.retryOn", "'' is not a retry policy"),
    ("retry-on-unknown-status", _retries(retryOn="599"), f"{_RETRIES}.retryOn", "'599' is not a retry policy"),
    ("retry-on-with-attempts-0", _retries(attempts=0, retryOn="5xx"), f"{_RETRIES}.retryOn", "attempts is 0"),
    ("retry-per-try-sub-ms", _retries(perTryTimeout="0.5ms"), f"{_RETRIES}.perTryTimeout", "at least 1ms"),
    ("pool-empty", _pool(), _POOL, "Istio refuses a connection pool with neither"),
    ("pool-max-connections-negative", _pool(tcp={"maxConnections": -1}), f"{_POOL}.tcp.maxConnections",
     "greater than or equal to 0"),
    ("pool-max-connections-int32", _pool(tcp={"maxConnections": 2**31}), f"{_POOL}.tcp.maxConnections",
     "less than or equal to 2147483647"),
    ("pool-pending-negative", _pool(http={"http1MaxPendingRequests": -5}), f"{_POOL}.http.http1MaxPendingRequests",
     "greater than or equal to 0"),
    ("pool-max-retries-string", _pool(http={"maxRetries": "3"}), f"{_POOL}.http.maxRetries", "got a string"),
    ("pool-unknown-field", _pool(tcp={"maxConnection": 1}), f"{_POOL}.tcp.maxConnection",
     "did you mean maxConnections?"),
    ("pool-connect-timeout-zero", _pool(tcp={"connectTimeout": "0s"}), f"{_POOL}.tcp.connectTimeout", "at least 1ms"),
    ("pool-upgrade-with-client-protocol", _pool(http={"h2UpgradePolicy": "UPGRADE", "useClientProtocol": True}),
     f"{_POOL}.http.useClientProtocol", "must not be true when h2UpgradePolicy is UPGRADE"),
    # 4. a ServiceMonitor's scrape timeout is within its interval
    ("scrape-timeout-over-interval", {"monitoring": {"enabled": True, "interval": "10s", "scrapeTimeout": "30s"}},
     "spec.monitoring.scrapeTimeout", "longer than interval 10s"),
    ("scrape-timeout-mixed-units", {"monitoring": {"enabled": True, "interval": "1m", "scrapeTimeout": "1m1s"}},
     "spec.monitoring.scrapeTimeout", "longer than interval"),
    ("scrape-interval-fraction", {"monitoring": {"enabled": True, "interval": "1.5s"}}, "spec.monitoring.interval",
     "not a Prometheus duration"),
    # 8. runAsNonRoot with runAsUser 0 can never start
    ("non-root-as-root", {"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, "spec.securityContext.runAsUser",
     "can never start"),
]  # fmt: skip

#: 5. unquoted YAML timestamps where the text is passed on as it is: (id, spec YAML, the field named)
TIMESTAMPS: list[tuple[str, str, str]] = [
    ("env-value-date", "env: [{name: SINCE, value: 2024-01-01}]", "spec.env[0].value"),
    ("env-value-datetime", "env: [{name: AT, value: 2001-12-14t21:59:43.10-05:00}]", "spec.env[0].value"),
    ("runtime-env-value-date", "runtime: {image: ghcr.io/a/b, env: [{name: D, value: 2024-01-01}]}",
     "spec.runtime.env[0].value"),
    ("config-date", "config: {since: 2024-01-01}", "spec.config.since"),
    ("config-nested-date", "config: {windows: [{from: 2024-01-01 10:00:00}]}", "spec.config.windows[0].from"),
]  # fmt: skip

#: one attack of each rule goes through the installed command line too
CLI_SLICE = ["port-name-16-characters", "cpu-1e100", "retry-on-unknown", "pool-max-connections-negative",
             "scrape-timeout-over-interval", "non-root-as-root"]  # fmt: skip
HEAD = f"apiVersion: {API}\nkind: MCPServer\nmetadata: {{name: bad}}\nspec:\n"


def _write(tmp_path: Path, doc: dict[str, Any] | str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(doc if isinstance(doc, str) else dump_yaml([doc]), encoding="utf-8")
    return path


def _refused(code: int, out: str, err: str, field: str, fragment: str) -> None:
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    assert any(f": {field}: " in line and fragment in line for line in err.splitlines()), err


@pytest.mark.parametrize(("spec", "field", "fragment"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_mcp_render_refuses_it_naming_the_field(
    spec: dict[str, Any], field: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_render([_write(tmp_path, server(spec))], None, "yaml")
    captured = capsys.readouterr()
    _refused(code, captured.out, captured.err, field, fragment)


@pytest.mark.parametrize(("spec", "field", "fragment"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_the_validator_the_webhook_and_reconcile_share_refuses_it(
    spec: dict[str, Any], field: str, fragment: str
) -> None:
    verdict = validate(server(spec))
    assert not verdict.ok
    assert any(p.field == field and fragment in p.message for p in verdict.problems), verdict.problems


@pytest.mark.parametrize("case", [a for a in ATTACKS if a[0] in CLI_SLICE], ids=lambda a: a[0])
def test_the_command_line_refuses_it_too(case: tuple[str, dict[str, Any], str, str], tmp_path: Path) -> None:
    _, spec, field, fragment = case
    path = _write(tmp_path, server(spec))
    result = subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    _refused(result.returncode, result.stdout, result.stderr, field, fragment)


def test_the_cli_slice_names_existing_attacks() -> None:
    assert set(CLI_SLICE) <= {a[0] for a in ATTACKS}


@pytest.mark.parametrize(("yaml_spec", "field"), [t[1:] for t in TIMESTAMPS], ids=[t[0] for t in TIMESTAMPS])
def test_an_unquoted_yaml_timestamp_is_refused_with_a_hint_to_quote_it(
    yaml_spec: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_render([_write(tmp_path, f"{HEAD}  image: ghcr.io/a/b\n  {yaml_spec}\n")], None, "yaml")
    captured = capsys.readouterr()
    _refused(code, captured.out, captured.err, field, "unquoted YAML timestamp")
    assert "quote it" in captured.err


def test_a_quoted_date_is_the_text_it_says(tmp_path: Path) -> None:
    text = (
        HEAD + "  image: ghcr.io/a/b\n  env: [{name: SINCE, value: '2024-01-01'}]\n  config: {since: \"2024-01-01\"}\n"
    )
    out, problems, _ = render_files([_write(tmp_path, text)])
    assert problems == []
    assert 'value: "2024-01-01"' in out and '"since":"2024-01-01"' in out.replace(" ", "")


def test_the_validator_refuses_a_timestamp_the_yaml_reader_marked() -> None:
    verdict = validate(server({"env": [{"name": "D", "value": PlainTimestamp("2024-01-01")}],
                               "config": {"a": [PlainTimestamp("2024-01-01")]}}))  # fmt: skip
    assert {p.field for p in verdict.problems} == {"spec.env[0].value", "spec.config.a[0]"}


def test_a_date_that_arrives_as_json_text_is_a_string_like_any_other() -> None:
    assert validate(server({"env": [{"name": "D", "value": "2024-01-01"}], "config": {"a": "2024-01-01"}})).ok


@pytest.mark.parametrize(
    ("quantity", "exact"),
    [("7Ei", 7 * 2**60), ("9223372036854775807", 2**63 - 1), ("1e18", 10**18), ("1n", "1e-9"), ("1.", 1),
     ("+1", 1), ("1E", 10**18), ("1e-9", "1e-9"), ("0e2147483647", 0)],
)  # fmt: skip
def test_quantities_within_the_apiservers_bounds_are_accepted_at_their_value(quantity: str, exact: int | str) -> None:
    from decimal import Decimal

    assert validate(server({"resources": {"limits": {"cpu": quantity}, "requests": {"cpu": "0"}}})).ok
    assert quantity_decimal(quantity) == Decimal(exact)


# -- 6 and 7: the registry file of `mcp render --registry` -----------------------------------------------


def test_a_registry_file_that_does_not_exist_is_an_error_even_when_no_server_uses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-registry.json"
    code = run_render([_write(tmp_path, server({}))], None, "yaml", registry=missing)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "Traceback" not in captured.err
    assert f"--registry {missing}: cannot read it: No such file or directory" in captured.err


def _entry(url: str) -> dict[str, Any]:
    package = {"registryType": "oci", "identifier": "ghcr.io/example/web:1",
               "transport": {"type": "streamable-http", "url": url}}  # fmt: skip
    return {"name": "io.github.example/web", "description": "d", "version": "1.0.0", "packages": [package]}


@pytest.mark.parametrize("port", ["99999", "0", "http", "65536", "-1"])
def test_a_registry_transport_url_with_an_invalid_port_is_refused_by_name(port: str, tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps([_entry(f"http://localhost:{port}/mcp")]))
    spec = server({"image": None, "registry": {"name": "io.github.example/web"}})
    del spec["spec"]["image"]
    out, problems, warnings = render_files([_write(tmp_path, spec)], registry=registry)
    assert out == "" and any("spec.registry.name" in p for p in problems)
    assert any("io.github.example/web 1.0.0" in w and f"its port '{port}' is not a number from 1 to 65535" in w
               for w in warnings), warnings  # fmt: skip


def test_a_registry_transport_url_with_a_port_variable_or_a_valid_port_renders(tmp_path: Path) -> None:
    for url in ("http://localhost:{port}/mcp", "http://localhost:9000/mcp"):
        registry = tmp_path / "registry.json"
        registry.write_text(json.dumps([_entry(url)]))
        spec = server({"registry": {"name": "io.github.example/web"}})
        del spec["spec"]["image"]
        _, problems, _ = render_files([_write(tmp_path, spec)], registry=registry)
        assert problems == [], url


def test_a_port_filled_in_from_the_packages_arguments_is_checked_too(tmp_path: Path) -> None:
    entry = _entry("http://localhost:{port}/mcp")
    entry["packages"][0]["packageArguments"] = [{"type": "named", "name": "--port", "default": "99999"}]
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps([entry]))
    spec = server({"registry": {"name": "io.github.example/web"}})
    del spec["spec"]["image"]
    _, problems, _ = render_files([_write(tmp_path, spec)], registry=registry)
    assert any("spec.registry: " in p and "its port '99999'" in p for p in problems), problems
