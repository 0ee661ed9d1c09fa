"""Operator flags: defaults, durations, addresses, TLS versions, env equivalents, and that a bad value
exits non-zero with a message naming the flag (through the real `mcp operator run` command)."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.apply.settings import (
    SettingsError,
    build_settings,
    parse_address,
    parse_duration,
    split_address,
)


def test_defaults_match_the_contract() -> None:
    s = build_settings({}, {})
    assert s.metrics_bind_address == ":8080"
    assert s.health_probe_bind_address == ":8081"
    assert s.concurrent_reconciles == 5
    assert (s.lease_duration, s.renew_deadline, s.retry_period) == (15, 10, 2)
    assert (s.github_max_retries, s.github_initial_delay, s.github_max_delay) == (5, 1, 300)
    assert (s.github_rate_limit_max_retries, s.github_rate_limit_base_delay, s.github_rate_limit_max_delay) == (
        3,
        900,
        3600,
    )
    assert (s.github_network_max_retries, s.github_network_base_delay, s.github_network_max_delay) == (5, 2, 120)
    assert (s.cache_registry_ttl, s.cache_server_ttl, s.cache_cleanup_interval) == (600, 300, 1800)
    assert s.webhook_port == 9443 and s.webhook_tls_min_version == "1.2"
    assert not s.leader_elect and not s.structured_logging


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("500ms", 0.5), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0", 0), ("2.5s", 2.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1x", "m", "-1s", "1s2", "true"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("addr", "bind"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9", ("127.0.0.1", 9)), ("0", None), ("[::1]:80", ("::1", 80))],
)
def test_addresses(addr: str, bind: tuple[str, int] | None) -> None:
    assert split_address(parse_address(addr)) == bind


@pytest.mark.parametrize("addr", ["8080", "host", ":0", ":70000", "a b:1"])
def test_bad_addresses(addr: str) -> None:
    with pytest.raises(ValueError):
        parse_address(addr)


def test_env_equivalents_and_flags_win() -> None:
    env = {
        "MAX_CONCURRENT_RECONCILES": "7",
        "LOG_LEVEL": "DEBUG",
        "STRUCTURED_LOGGING": "true",
        "RECONCILE_TIMEOUT": "2m",
        "ENABLE_HPA_SUPPORT": "false",
        "ENABLE_VPA_SUPPORT": "0",
        "ENABLE_ISTIO_INTEGRATION": "no",
        "ENABLE_MULTI_TENANCY": "off",
        "ENABLE_BACKUP_CONTROLLER": "1",
        "ENABLE_CORRELATION_ID": "false",
    }
    s = build_settings({}, env)
    assert s.concurrent_reconciles == 7 and s.log_level == "debug" and s.structured_logging
    assert s.reconcile_timeout == 120
    assert not (s.enable_hpa_support or s.enable_vpa_support or s.enable_istio_integration or s.enable_multi_tenancy)
    assert s.enable_backup_controller and not s.enable_correlation_id
    assert build_settings({"concurrent_reconciles": "3"}, env).concurrent_reconciles == 3


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        ({"sync_period": "5x"}, {}, "--sync-period"),
        ({"metrics_bind_address": "nope"}, {}, "--metrics-bind-address"),
        ({"webhook_tls_min_version": "1.1"}, {}, "--webhook-tls-min-version"),
        ({"concurrent_reconciles": "0"}, {}, "--concurrent-reconciles"),
        ({}, {"MAX_CONCURRENT_RECONCILES": "many"}, "MAX_CONCURRENT_RECONCILES"),
        ({}, {"RECONCILE_TIMEOUT": "soon"}, "--reconcile-timeout (env RECONCILE_TIMEOUT)"),
        ({"log_level": "loud"}, {}, "--log-level"),
        ({"webhook_cipher_suites": "tls_bad"}, {}, "--webhook-cipher-suites"),
        ({"github_max_delay": "1d"}, {}, "--github-max-delay"),
        ({"retry_period": "20s"}, {}, "--retry-period"),
        ({"insecure_registries": "https://registry.internal"}, {}, "--insecure-registries"),
        ({}, {"INSECURE_REGISTRIES": "a b"}, "--insecure-registries (env INSECURE_REGISTRIES)"),
    ],
)
def test_bad_values_name_the_flag(flags: dict[str, str], env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace("(", r"\(").replace(")", r"\)")):
        build_settings(flags, env)


def test_tls_and_cipher_forms() -> None:
    s = build_settings(
        {
            "webhook_tls_min_version": "VersionTLS13",
            "webhook_cipher_suites": "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384",
        },
        {},
    )
    assert s.webhook_tls_min_version == "1.3"
    assert s.webhook_cipher_suites == ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")


def test_insecure_registries_are_hosts_with_optional_ports() -> None:
    s = build_settings({"insecure_registries": "registry.internal:5000, 10.0.0.5,"}, {})
    assert s.insecure_registries == ("registry.internal:5000", "10.0.0.5")
    assert build_settings({}, {"INSECURE_REGISTRIES": "r.example"}).insecure_registries == ("r.example",)
    assert build_settings({}, {}).insecure_registries == ()


def test_cli_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from mcpop.cli.main import app

    rc = app(["operator", "run", "--github-initial-delay", "soon", "--leader-elect"], result_action="return_value")
    assert rc == 2
    assert "--github-initial-delay" in capsys.readouterr().err


def test_help_does_not_import_the_kubernetes_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from mcpop.cli.main import app\n"
        "try:\n    app(['operator', 'run', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('kubernetes' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


BAD_KUBECONFIGS = {
    "missing": (None, "no such file"),
    "directory": ("<dir>", "is a directory"),
    "bad-yaml": ("clusters: [\n", "not valid YAML"),
    "not-a-kubeconfig": ("foo: bar\n", "current-context"),
}


@pytest.mark.parametrize("case", sorted(BAD_KUBECONFIGS))
def test_a_bad_kubeconfig_is_one_line_and_exit_2(case: str, tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    content, expected = BAD_KUBECONFIGS[case]
    path = tmp_path / "kubeconfig"
    if content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", "operator", "run", "--kubeconfig", str(path),
         "--health-probe-bind-address", "0", "--metrics-bind-address", "0"],
        capture_output=True, text=True, cwd=root, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: --kubeconfig {path}: ") and expected in lines[0]


def test_help_claims_only_what_the_cache_and_index_flags_do() -> None:
    from mcpop.cli.operator import run

    doc = run.__doc__ or ""
    assert "namespace index" in doc and "GitHub listings" in doc and "parsed again" in doc
    assert "Index registry entries for search" not in doc
