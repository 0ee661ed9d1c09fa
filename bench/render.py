"""Render benchmark: prints figures, asserts nothing.

Side by side in one run, with the pinned helm (`tools/helm path`, built from Go modules and cached):

1. Cold start: median wall time of fresh `mcp render -f examples/02-mcpserver-basic.yaml` processes against
   `helm template` of the equivalent one-server chart (bench/charts/mcpservers + one-server.yaml), runs
   interleaved after one warm-up each, with the bytecode cache as an installed CLI has it (the bench drops
   PYTHONDONTWRITEBYTECODE for its runs); beside `python -c pass` and `mcp --help`. Each `mcp` figure twice:
   from this checkout and installed (the wheel in a new virtual environment: bench/installed.py).
2. Bulk, the CLI path: `mcp render -f` of one file of N servers (example 02 renamed) against `helm template`
   of the same chart with N servers in its values, both producing the same 3 x N objects (checked).
3. Bulk in one process (no CLI): N every-feature specs validated, rendered and dumped to YAML.
4. Where a cold `mcp render` of one server spends its CPU: median per stage over fresh processes that
   import and run the same modules in order (interpreter start, cyclopts, pydantic, the models, ...), in this
   checkout's interpreter and in the new virtual environment's.

Run: python bench/render.py [--runs N] [--bulk-runs N] [--count N]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from installed import Installed, installed_mcp, timed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/02-mcpserver-basic.yaml"
EVERYTHING = ROOT / "tests/fixtures/specs/feature-everything.yaml"
CHART = ROOT / "bench/charts/mcpservers"
ONE_SERVER_VALUES = ROOT / "bench/charts/one-server.yaml"
MCP = [sys.executable, "-c", "from mcpop.cli.main import run; run()"]


def _helm() -> str:
    return subprocess.run([str(ROOT / "tools/helm"), "path"], check=True, capture_output=True, text=True).stdout.strip()


#: as an installed CLI runs: bytecode cached (PYTHONDONTWRITEBYTECODE would recompile mcpop on every start)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


Command = tuple[list[str], dict[str, str]]  # argv and environment


def _side_by_side(commands: dict[str, Command], runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU seconds of each command over `runs` rounds, the commands interleaved in each round."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():
        timed(*cmd)  # warm-up, not counted: writes the bytecode cache, fills the page cache
    for _ in range(runs):
        for name, cmd in commands.items():
            wall, cpu = timed(*cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    median = statistics.median
    return {n: median(t) for n, t in walls.items()}, {n: median(t) for n, t in cpus.items()}


def _objects(cmd: list[str]) -> list[Any]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=ENV).stdout
    docs = [d for d in yaml.load_all(out, Loader=yaml.CSafeLoader) if d]
    return sorted(docs, key=lambda d: (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]))


def _bulk_inputs(count: int, workdir: Path) -> tuple[Path, Path]:
    """N copies of example 02 (one MCPServer file) and the same N servers as chart values."""
    spec_text = EXAMPLE.read_text()
    server = yaml.safe_load(ONE_SERVER_VALUES.read_text())["servers"][0]
    docs, values = [], []
    for i in range(count):
        docs.append(spec_text.replace("name: filesystem-server\n", f"name: server-{i}\n", 1))
        values.append({**server, "name": f"server-{i}"})
    specs, vals = workdir / "servers.yaml", workdir / "values.yaml"
    specs.write_text("---\n".join(docs))
    vals.write_text(yaml.safe_dump({"servers": values}, sort_keys=False))
    return specs, vals


def _full_featured() -> list[dict[str, Any]]:
    """The every-feature fixture: HPA, VPA, tenancy, Istio, monitoring, config, volumes, secrets, PDB."""
    from mcpop.cli.load import load_files

    loaded = load_files([EVERYTHING])
    return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for _, _, r in loaded.resources]


#: the stages of a cold `mcp render` of one server, in the order the CLI reaches them, as (label, code)
STAGES = (
    ("cyclopts import", "import cyclopts"),
    ("the App (mcpop.cli.main)", "import mcpop.cli.main"),
    ("pydantic import", "import pydantic.main, pydantic.fields"),
    ("API models: creating the classes", "import mcpop.api.mcpserver"),
    ("PyYAML import", "import yaml"),
    ("renderer and loader modules", "import mcpop.render, mcpop.render.validate, mcpop.cli.load, mcpop.cli.render"),
    ("pydantic's plugin loader (importlib.metadata)", "import pydantic.plugin._loader"),
    ("read + validate the file (builds the validators)", "mcpop.cli.load.load_files([pathlib.Path(EXAMPLE)])"),
    ("the command: parse, read, validate, render, print", "mcpop.cli.main.app(ARGS, result_action='return_value')"),
)
_STAGE_SCRIPT = """import contextlib, io, pathlib, time
marks = [time.process_time()]
EXAMPLE = {example!r}
ARGS = ["render", "-f", EXAMPLE]
{body}
print(" ".join(f"{{(b - a) * 1000:.3f}}" for a, b in zip(marks, marks[1:])), f"{{marks[0] * 1000:.3f}}")
"""


def _stages(runs: int, python: str, env: dict[str, str], cwd: Path) -> list[tuple[str, float]]:
    """Median CPU milliseconds of each stage of a cold render, interpreter start (to the first line) first."""
    body = "\n".join(
        f"with contextlib.redirect_stdout(io.StringIO()):\n    {code}\nmarks.append(time.process_time())"
        for _, code in STAGES
    )
    script = _STAGE_SCRIPT.format(example=str(EXAMPLE), body=body)
    samples: list[list[float]] = []
    for _ in range(runs + 1):  # the first writes the bytecode cache
        out = subprocess.run([python, "-c", script], check=True, capture_output=True, text=True, cwd=cwd,
                             env={**env, "PYDANTIC_DISABLE_PLUGINS": "__all__"}).stdout  # fmt: skip
        samples.append([float(v) for v in out.split()])
    *columns, start = (statistics.median(c) for c in zip(*samples[1:], strict=True))
    return [("interpreter start", start), *((label, ms) for (label, _), ms in zip(STAGES, columns, strict=True))]


def _in_process(count: int) -> tuple[float, float, int]:
    from mcpop.api.mcpserver import MCPServer
    from mcpop.render import render
    from mcpop.sources.catalog import load_embedded

    catalog = load_embedded()
    base = _full_featured()
    docs = []
    for i in range(count):
        doc = copy.deepcopy(base[i % len(base)])
        doc["metadata"] = {"name": f"server-{i}", "namespace": f"ns-{i % 7}"}
        doc["spec"]["tenancy"]["tenantId"] = f"tenant-{i % 13}"
        docs.append(doc)
    start, cpu = time.perf_counter(), time.process_time()
    size = 0
    for doc in docs:
        server = MCPServer.model_validate(doc)
        reg = server.spec.registry
        entry = catalog.resolve(reg.name, reg.version) if reg else None
        size += len(render(server, entry).to_yaml())
    return time.perf_counter() - start, time.process_time() - cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="cold-start rounds (default 11)")
    parser.add_argument("--bulk-runs", type=int, default=5, help="bulk rounds (default 5)")
    parser.add_argument("--count", type=int, default=1000, help="servers in the bulk file (default 1000)")
    args = parser.parse_args()
    helm = _helm()
    with installed_mcp() as installed:
        _run(args, helm, installed)


def _run(args: argparse.Namespace, helm: str, installed: Installed) -> None:
    """The whole benchmark, beside the installed CLI."""
    venv_python, script, venv_env = str(installed.python), str(installed.mcp), installed.env
    one_mcp = [*MCP, "render", "-f", str(EXAMPLE)]
    one_helm = [helm, "template", "bench", str(CHART), "-f", str(ONE_SERVER_VALUES)]
    with tempfile.TemporaryDirectory() as tmp:
        specs, values = _bulk_inputs(args.count, Path(tmp))
        bulk_mcp = [*MCP, "render", "-f", str(specs)]
        bulk_helm = [helm, "template", "bench", str(CHART), "-f", str(values)]
        same_one = _objects(one_mcp) == _objects(one_helm)
        bulk_objects = _objects(bulk_mcp)
        same_bulk = bulk_objects == _objects(bulk_helm)
        cold, cold_cpu = _side_by_side(
            {
                "pass": ([sys.executable, "-c", "pass"], ENV),
                "pass-venv": ([venv_python, "-c", "pass"], venv_env),
                "help": ([*MCP, "--help"], ENV),
                "help-installed": ([script, "--help"], venv_env),
                "mcp": (one_mcp, ENV),
                "mcp-installed": ([script, "render", "-f", str(EXAMPLE)], venv_env),
                "helm": (one_helm, ENV),
            },
            args.runs,
        )
        bulk, bulk_cpu = _side_by_side({"mcp": (bulk_mcp, ENV), "helm": (bulk_helm, ENV)}, args.bulk_runs)
        size = specs.stat().st_size
    seconds, cpu, out_size = _in_process(args.count)
    stages = _stages(args.runs, sys.executable, ENV, ROOT)
    # `python -c` imports from its working directory first: the installed package's only from outside ROOT
    venv_stages = _stages(args.runs, venv_python, venv_env, Path("/"))
    ms = {k: v * 1000 for k, v in cold.items()}
    cpu_ms = {k: v * 1000 for k, v in cold_cpu.items()}
    print(f"helm: {helm}")
    print(f"same objects as helm template: one server {same_one}, {args.count} servers {same_bulk}")
    print(f"cold, median of {args.runs} interleaved runs           wall       CPU")
    for key, label in (
        ("pass", "python -c pass (checkout)"),
        ("pass-venv", "python -c pass (new venv)"),
        ("help", "mcp --help (checkout)"),
        ("help-installed", "mcp --help (installed)"),
        ("mcp", "mcp render -f examples/02 (checkout)"),
        ("mcp-installed", "mcp render -f examples/02 (installed)"),
        ("helm", "helm template, one-server chart"),
    ):
        print(f"  {label:<40} {ms[key]:7.1f} ms {cpu_ms[key]:7.1f} ms")
    for key, how in (("mcp", "checkout"), ("mcp-installed", "installed")):
        print(
            f"  cold ratio mcp / helm ({how}): {cold[key] / cold['helm']:.2f}x wall, "
            f"{cold_cpu[key] / cold_cpu['helm']:.2f}x CPU   target <= 4x"
        )
    print(
        f"bulk, {args.count} servers in one file ({size / 1e3:.0f} kB) -> {len(bulk_objects)} objects, "
        f"median of {args.bulk_runs}"
    )
    print(f"  {'mcp render -f servers.yaml':<40} {bulk['mcp']:7.3f} s  {bulk_cpu['mcp']:7.3f} s")
    print(f"  {'helm template, same objects':<40} {bulk['helm']:7.3f} s  {bulk_cpu['helm']:7.3f} s")
    print(
        f"  bulk ratio mcp / helm: {bulk['mcp'] / bulk['helm']:.2f}x wall, "
        f"{bulk_cpu['mcp'] / bulk_cpu['helm']:.2f}x CPU   target < 1x"
    )
    print(
        f"in process: {args.count} every-feature specs -> YAML: {seconds:6.3f} s wall, {cpu:.3f} s CPU "
        f"({out_size / 1e6:.1f} MB)"
    )
    print(f"cold mcp render of one server, CPU by stage (median of {args.runs} processes):")
    print(f"  {'':<48} {'checkout':>9} {'new venv':>9}")
    for (label, ms_), (_, venv_ms) in zip(stages, venv_stages, strict=True):
        print(f"  {label:<48} {ms_:6.1f} ms {venv_ms:6.1f} ms")
    print(f"  {'total':<48} {sum(v for _, v in stages):6.1f} ms {sum(v for _, v in venv_stages):6.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
