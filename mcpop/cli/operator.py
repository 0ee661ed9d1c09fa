"""`mcp operator run`: the operator process. Kubernetes client modules load only when it runs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import App, CycloptsError, Parameter
from cyclopts import ValidationError as CycloptsValidationError
from pydantic import ValidationError

from mcpop.apply.settings import OperatorSettings, SettingsError, options

if TYPE_CHECKING:
    from cyclopts.token import Token


def usage_problem(exc: CycloptsError) -> str:
    """One line saying what is wrong with `mcp operator run`'s arguments: for a bad value, each bad setting's
    flag and environment variable, what was given and what is allowed."""
    cause = exc.__cause__
    if not isinstance(exc, CycloptsValidationError) or not isinstance(cause, ValidationError):
        return " ".join(str(exc).split())  # an unknown flag, a missing value: cyclopts' own words
    given: dict[str, Token] = {}
    if exc.argument is not None:
        for child in exc.argument.children_recursive:
            for token in child.tokens:
                given[child.field_info.name] = token
    opts = options()
    problems = []
    for err in cause.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # the model's own check of several flags
            problems.append(f"--lease-duration/--renew-deadline/--retry-period: {msg}")
            continue
        opt = opts[str(err["loc"][0])]
        where = opt.flags[0] + (f" (env {opt.env})" if opt.env else "")
        got = given.get(opt.field)
        value = got.value if got is not None else err["input"]
        problems.append(f"{where}: {msg} (got {value!r})")
    return "; ".join(problems)


def _format_error(exc: CycloptsError) -> Any:
    """Every usage error of `mcp operator run` as one line (soft-wrapped: one line in a pod's log too)."""
    from rich.console import Group
    from rich.text import Text

    if exc.console is not None:
        exc.console.print(Text(f"error: {usage_problem(exc)}\n"), soft_wrap=True, end="")
    return Group()  # printed already: cyclopts prints what this returns, and an empty Group prints nothing


operator_app = App(
    name="operator",
    help="Run the mcpop operator (the MCPServer and MCPRegistry controllers).",
    error_formatter=_format_error,
)
DEFAULTS = OperatorSettings()


@operator_app.command
def run(*, settings: OperatorSettings = DEFAULTS) -> int:
    """Run the operator: keep MCPServers' objects applied and MCPRegistries synced.

    Every flag is checked before anything starts: a bad value exits 2 naming the flag and its variable.
    A flag wins over its environment variable, which wins over the default.
    """
    from mcpop.apply.manager import run_operator
    from mcpop.apply.runtime.client import KubeconfigError
    from mcpop.apply.runtime.manager import ListenError
    from mcpop.cli.main import long_running

    long_running()
    try:
        return run_operator(settings)
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if settings.kubeconfig else 1
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def settings_from(argv: Sequence[str]) -> OperatorSettings:
    """The settings `mcp operator run ARGV` starts with, the environment read as the process reads it.

    Raises SettingsError with the line `mcp operator run` prints.
    """
    try:
        _, bound, _ = operator_app.parse_args(["run", *argv], exit_on_error=False, print_error=False)
    except CycloptsError as exc:
        raise SettingsError(usage_problem(exc)) from None
    settings: OperatorSettings = bound.arguments.get("settings", DEFAULTS)
    return settings


@operator_app.command(name="webhook-config")
def webhook_config(
    *,
    url: str,
    cert_dir: Path | None = None,
    ca_file: Path | None = None,
    name: str = "mcp-operator",
    namespace: Annotated[str | None, Parameter(name=["--namespace", "-n"])] = None,
    apply: bool = False,
    kubeconfig: str | None = None,
    output: Annotated[Literal["yaml", "json"], Parameter(name=["--output", "-o"])] = "yaml",
) -> int:
    """Print (or with --apply, create) webhook configurations pointing at an operator run on this host.

    For development: `mcp operator webhook-config --url https://127.0.0.1:9443 --cert-dir certs --apply`,
    then `mcp operator run --enable-webhooks --webhook-cert-management external --webhook-cert-dir certs`.

    Parameters
    ----------
    url
        Base URL of the webhook server (https, with a host the apiserver can reach).
    cert_dir
        Directory for tls.crt, tls.key and ca.crt: a CA and a serving certificate for the URL's host are
        made there when missing, and its ca.crt becomes the caBundle.
    ca_file
        PEM file of the CA that signed the webhook's certificate (instead of --cert-dir).
    name
        Name of both configurations.
    namespace
        Admit only in this namespace (a namespaceSelector on its name); default every namespace.
    apply
        Server-side apply them (field manager mcp-cli) instead of printing.
    kubeconfig
        Kubeconfig for --apply (default: $KUBECONFIG, then ~/.kube/config).
    output
        Output format when printing.
    """
    from urllib.parse import urlsplit

    from mcpop.apply.webhook import certs
    from mcpop.apply.webhook.configuration import configurations
    from mcpop.codec.emitter import dump_json, dump_yaml

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        print(f"error: --url: must be an https URL with a host, got {url!r}", file=sys.stderr)
        return 2
    ca: bytes | None = None
    if cert_dir is not None:
        ca_path = cert_dir / certs.CA_FILE
        if not ca_path.exists():
            data = certs.desired_secret_data({}, [parts.hostname])
            certs.write_files(cert_dir, data)
        ca = ca_path.read_bytes()
    elif ca_file is not None:
        try:
            ca = ca_file.read_bytes()
        except OSError as exc:
            print(f"error: --ca-file: {exc.strerror}: {ca_file}", file=sys.stderr)
            return 2
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}} if namespace else None
    objs = configurations(url=url, ca=ca, name=name, namespace_selector=selector)
    if not apply:
        sys.stdout.write(dump_json(objs) if output == "json" else dump_yaml(objs))
        return 0
    from mcpop.apply.runtime.client import Kube, KubeconfigError, KubeError, load_api_client

    try:
        kube = Kube(load_api_client(kubeconfig))
        for obj in objs:
            kube.apply(kube.require(obj["apiVersion"], obj["kind"]), obj, force=True, field_manager="mcp-cli")
            print(f"{obj['kind'].lower()}.admissionregistration.k8s.io/{name} serverside-applied")
    except KubeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
