"""Hostile sources benchmark: prints figures, asserts nothing.

Each hostile server of tests/hostile_servers.py (on loopback, in this process) is fetched once by a fresh
process through mcpop's one bounded fetch (mcpop.sources.http, with the operator's defaults unless told
otherwise): a registry API base on a gzip bomb (1 GiB inflated), an endless body, a lying Content-Length,
a tarpit trickling the body or the headers one byte a second, endless pagination (every page has a next
cursor), and an image config lookup meeting a 300 MiB OCI manifest. For each: the wall time, the child's
peak RSS beside the same process doing nothing but the imports, and the error it ended with (the cap or the
deadline it names).

Run: python bench/hostile.py [--fetch-timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hostile_servers import hostile_server  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from mcpop.sources.http import UrllibClient
from mcpop.sources.oci import ImageConfigResolver
from mcpop.sources.official import fetch_official
from mcpop.sources.retry import RetryPolicy

case, base, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
policy = RetryPolicy(sleep=lambda s: None)
started = time.monotonic()
outcome = "ok"
try:
    if case == "imports only":
        pass
    elif case == "oci manifest 300 MiB":
        ImageConfigResolver(timeout=timeout).resolve(base.removeprefix("http://") + "/tenant/huge:1")
    else:
        fetch_official(base, UrllibClient(timeout=timeout), policy)
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
wall = time.monotonic() - started
print(json.dumps({"wall": wall, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "outcome": outcome}))
"""

#: case -> the path of the hostile server its base URL points at
CASES = {
    "imports only": "",
    "gzip bomb (1 GiB)": "/bomb",
    "endless body": "/huge",
    "lying Content-Length": "/liar",
    "tarpit (body)": "/tarpit",
    "tarpit (headers)": "/tarpit-headers",
    "endless pagination": "",
    "oci manifest 300 MiB": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fetch-timeout", type=float, default=30.0, help="the fetch deadline (--fetch-timeout)")
    args = parser.parse_args()
    rows = []
    with hostile_server() as srv:
        for case, path in CASES.items():
            out = subprocess.run(
                [sys.executable, "-c", CHILD, case, srv.url + path, str(args.fetch_timeout)],
                capture_output=True, text=True, cwd=ROOT, check=True,
            )  # fmt: skip
            rows.append((case, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]["rss"]
    print(f"fetch timeout {args.fetch_timeout:g}s; peak RSS of a fresh process, and above its imports-only peak")
    print(f"{'case':24} {'wall':>8} {'peak RSS':>10} {'above':>9}  outcome")
    for case, r in rows:
        outcome = re.sub(r"(GET )?https?://\S+?: |image \S+: ", "", r["outcome"])  # the URL says nothing here
        rss, above = r["rss"] / 2**20, (r["rss"] - base) / 2**20
        print(f"{case:24} {r['wall']:7.2f}s {rss:7.0f} MiB {above:5.0f} MiB  {outcome}")


if __name__ == "__main__":
    main()
