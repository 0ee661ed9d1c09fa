"""Operator flags: defaults, durations, addresses, TLS versions, env equivalents (a flag wins over its
variable, which wins over the default), and that a bad value exits 2 with one line naming the flag and its
variable (through the real `mcp operator run` command)."""

from __future__ import annotations

from typing import Any

import pytest
from cli_process import MCP

from mcpop.apply.settings import (
    SettingsError,
    options,
    parse_address,
    parse_duration,
    split_address,
)
from mcpop.cli.operator import settings_from


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without any operator variable; set some with `environ.setenv`."""
    for opt in options().values():
        if opt.env:
            monkeypatch.delenv(opt.env, raising=False)
    return monkeypatch


def settings(argv: list[str], env: dict[str, str], environ: pytest.MonkeyPatch) -> Any:
    for var, value in env.items():
        environ.setenv(var, value)
    return settings_from(argv)


def test_defaults_match_the_contract(environ: pytest.MonkeyPatch) -> None:
    s = settings_from([])
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


def test_env_equivalents_and_flags_win(environ: pytest.MonkeyPatch) -> None:
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
    s = settings([], env, environ)
    assert s.concurrent_reconciles == 7 and s.log_level == "debug" and s.structured_logging
    assert s.reconcile_timeout == 120
    assert not (s.enable_hpa_support or s.enable_vpa_support or s.enable_istio_integration or s.enable_multi_tenancy)
    assert s.enable_backup_controller and not s.enable_correlation_id
    assert settings_from(["--concurrent-reconciles", "3"]).concurrent_reconciles == 3


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--sync-period", "5x"], {}, "--sync-period"),
        (["--metrics-bind-address", "nope"], {}, "--metrics-bind-address"),
        (["--webhook-tls-min-version", "1.1"], {}, "--webhook-tls-min-version"),
        (["--concurrent-reconciles", "0"], {}, "--concurrent-reconciles"),
        ([], {"MAX_CONCURRENT_RECONCILES": "many"}, "MAX_CONCURRENT_RECONCILES"),
        ([], {"RECONCILE_TIMEOUT": "soon"}, "--reconcile-timeout (env RECONCILE_TIMEOUT)"),
        (["--log-level", "loud"], {}, "--log-level"),
        (["--webhook-cipher-suites", "tls_bad"], {}, "--webhook-cipher-suites"),
        (["--github-max-delay", "1d"], {}, "--github-max-delay"),
        (["--retry-period", "20s"], {}, "--retry-period"),
        (["--insecure-registries", "https://registry.internal"], {}, "--insecure-registries"),
        ([], {"INSECURE_REGISTRIES": "a b"}, "--insecure-registries (env INSECURE_REGISTRIES)"),
        (["--fetch-timeout", "0"], {}, "--fetch-timeout"),
        (["--registry-max-bytes", "64MB"], {}, "--registry-max-bytes"),
        (["--registry-max-bytes", "0"], {}, "--registry-max-bytes"),
        (["--registry-max-pages", "0"], {}, "--registry-max-pages"),
        (["--trusted-token-realms", "https://auth.example"], {}, "--trusted-token-realms"),
    ],
)
def test_bad_values_name_the_flag(
    argv: list[str], env: dict[str, str], named: str, environ: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError, match=named.replace("(", r"\(").replace(")", r"\)")):
        settings(argv, env, environ)


def test_a_bad_flag_value_names_its_variable_too_and_what_was_given(environ: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as exc:
        settings_from(["--concurrent-reconciles", "0"])
    assert str(exc.value) == (
        "--concurrent-reconciles (env MAX_CONCURRENT_RECONCILES): Input should be greater than or equal to 1 (got '0')"
    )


def test_a_flag_wins_over_its_variable_even_when_the_variable_is_bad(environ: pytest.MonkeyPatch) -> None:
    assert settings(["--log-level", "warn"], {"LOG_LEVEL": "loud"}, environ).log_level == "warning"


def test_an_empty_namespace_variable_watches_every_namespace(environ: pytest.MonkeyPatch) -> None:
    assert settings([], {"WATCH_NAMESPACE": ""}, environ).watch_namespace is None


def test_an_empty_variable_is_not_set(environ: pytest.MonkeyPatch) -> None:
    s = settings([], {"ENABLE_HPA_SUPPORT": "", "LOG_LEVEL": "", "MAX_CONCURRENT_RECONCILES": ""}, environ)
    assert (s.enable_hpa_support, s.log_level, s.concurrent_reconciles) == (True, "info", 5)


def test_boolean_flags_take_an_explicit_value_as_the_chart_passes_them(environ: pytest.MonkeyPatch) -> None:
    s = settings_from(["--leader-elect=true", "--indexing-enabled=false", "--enable-pprof"])
    assert s.leader_elect and not s.indexing_enabled and s.enable_profiling


def test_tls_and_cipher_forms(environ: pytest.MonkeyPatch) -> None:
    s = settings_from(
        ["--webhook-tls-min-version", "VersionTLS13", "--webhook-cipher-suites",
         "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384"]
    )  # fmt: skip
    assert s.webhook_tls_min_version == "1.3"
    assert s.webhook_cipher_suites == ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")


def test_insecure_registries_are_hosts_with_optional_ports(environ: pytest.MonkeyPatch) -> None:
    s = settings_from(["--insecure-registries", "registry.internal:5000, 10.0.0.5,"])
    assert s.insecure_registries == ("registry.internal:5000", "10.0.0.5")
    assert settings_from([]).insecure_registries == ()
    assert settings([], {"INSECURE_REGISTRIES": "r.example"}, environ).insecure_registries == ("r.example",)


def test_fetch_bounds_take_durations_sizes_and_hosts(environ: pytest.MonkeyPatch) -> None:
    realms = "auth.example, tokens.example:8443"
    s = settings_from(["--fetch-timeout", "1m", "--registry-max-bytes", "8Mi", "--registry-max-entries", "500",
                       "--registry-max-pages", "7", "--trusted-token-realms", realms])  # fmt: skip
    assert (s.fetch_timeout, s.registry_max_bytes, s.registry_max_entries, s.registry_max_pages) == (
        60.0,
        8 << 20,
        500,
        7,
    )
    assert s.trusted_token_realms == ("auth.example", "tokens.example:8443")
    d = settings_from([])
    assert (d.fetch_timeout, d.registry_max_bytes, d.registry_max_entries, d.registry_max_pages) == (
        30.0,
        64 << 20,
        10_000,
        100,
    )
    assert d.trusted_token_realms == ()


def test_cli_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from mcpop.cli.main import app

    with pytest.raises(SystemExit) as exc:
        app(["operator", "run", "--github-initial-delay", "soon", "--leader-elect"], result_action="return_value")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --github-initial-delay: 'soon' is not a duration") and err.count("\n") == 1


def test_an_unknown_flag_is_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from mcpop.cli.main import app

    with pytest.raises(SystemExit) as exc:
        app(["operator", "run", "--leader-electt"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: Unknown option: --leader-electt. Did you mean --leader-elect?\n"


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
    from pathlib import Path

    content, expected = BAD_KUBECONFIGS[case]
    path = tmp_path / "kubeconfig"
    if content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [*MCP, "operator", "run", "--kubeconfig", str(path),
         "--health-probe-bind-address", "0", "--metrics-bind-address", "0"],
        capture_output=True, text=True, cwd=root, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: --kubeconfig {path}: ") and expected in lines[0]


def _help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`mcp operator run --help` on a console wide enough for one line per flag."""
    from rich.console import Console

    from mcpop.cli.main import app

    # a console of its own: the App's default console keeps the width of whoever printed help first
    with pytest.raises(SystemExit):
        app(["operator", "run", "--help"], console=Console(width=1000, force_terminal=False))
    return " ".join(capsys.readouterr().out.replace("│", " ").split())


def test_help_claims_only_what_the_cache_and_index_flags_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _help(capsys, monkeypatch)
    assert "namespace index" in text and "GitHub listings" in text and "parsed again" in text
    assert "Index registry entries for search" not in text


def test_help_lists_every_flag_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _help(capsys, monkeypatch)
    for opt in options().values():
        assert all(flag in text for flag in opt.flags), opt
        assert opt.env is None or f"[env var: {opt.env}]" in text, opt
    assert "--reconcile-timeout DURATION" in text and "[default: 5m]" in text


def test_the_operators_own_namespace_is_the_lease_namespace_flag_first(tmp_path: Any, monkeypatch: Any) -> None:
    """One lookup serves the leader Lease and the webhook's objects: --leader-election-namespace, else the pod's
    namespace (the kubelet's mount), else the watched namespace, else `default`."""
    from mcpop.apply import settings as mod
    from mcpop.apply.settings import OperatorSettings

    mounted = tmp_path / "namespace"
    monkeypatch.setattr(mod, "IN_CLUSTER_NAMESPACE", mounted)
    assert OperatorSettings().own_namespace() == "default"
    assert OperatorSettings(watch_namespace="team").own_namespace() == "team"
    mounted.write_text("mcpop-system\n")
    assert OperatorSettings(watch_namespace="team").own_namespace() == "mcpop-system"
    assert OperatorSettings(leader_election_namespace="leases").own_namespace() == "leases"
