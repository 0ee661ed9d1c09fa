#!/usr/bin/env python3
"""Backup benchmark against a local S3 server (moto, on 127.0.0.1): prints figures.

  python bench/backup.py [--size-mib 512] [--compression zstd|gzip|none] [--no-encryption] [--workers 4]
                         [--rounds 3]

Measured in one run, on one data set (half in four large files, half in 256 KiB files, a quarter
compressible; generated deterministically under a temporary directory and removed at the end):

- raw copy: the same files copied to the same server with fsspec (`S3FileSystem.put`, recursive);
- backup: `Repository.backup` (Full) into an empty repository, with the chosen compression and encryption,
  in a child process, which also reports its peak RSS (VmHWM); raw copies and backups alternate for
  `--rounds` rounds and the medians are compared;
- incremental: 1 % of the data changed in place, then an Incremental backup; bytes uploaded / data size;
- restore: the latest snapshot restored into an empty directory (child process, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import storage_servers  # noqa: E402
from backup.datasets import change_one_percent, make_dataset  # noqa: E402

MIB = 1 << 20
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from mcpop.backup import FileTree, Repository
    a = json.loads(sys.argv[1])
    repo = Repository.open(a["url"], storage_options=a["options"], key=a["key"], compression=a["compression"],
                           workers=a["workers"])
    t = time.perf_counter()
    if a["op"] == "backup":
        snap = repo.backup([FileTree(a["path"], "data")], kind=a["kind"])
        out = {"id": snap.id, "size": snap.size, "uploaded": snap.bytes_uploaded}
    else:
        out = {"bytes": repo.restore(a["id"], a["path"], subtree="data").bytes}
    out["seconds"] = time.perf_counter() - t
    # VmHWM: this process's own peak (ru_maxrss would include the parent's peak before exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    out["maxrss_mib"] = int(hwm.split()[1]) / 1024
    print(json.dumps(out))
    """
)


def child(**args: object) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
    )  # fmt: skip
    if proc.returncode:
        sys.exit(f"child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--compression", default="zstd", choices=["none", "gzip", "zstd"])
    p.add_argument("--no-encryption", action="store_true")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="raw copy / backup pairs; medians are reported")
    args = p.parse_args()
    storage_servers.ensure_installed()
    total = args.size_mib * MIB
    key = None if args.no_encryption else "bench-key"
    work = Path(tempfile.mkdtemp(prefix="mcpop-bench-backup-"))
    srv = storage_servers.S3Server(work / "s3").start()
    try:
        srv.make_bucket("bench")
        src = work / "src"
        make_dataset(src, total)
        n_files = sum(1 for f in src.rglob("*") if f.is_file())

        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **srv.options())
        raws, fulls = [], []
        for r in range(args.rounds):  # interleaved, so that load from elsewhere hits both alike
            t = time.perf_counter()
            fs.put(str(src) + "/", f"bench/raw-{r}/", recursive=True)
            raws.append(time.perf_counter() - t)
            common = {"url": srv.url("bench", f"repo-{r}"), "options": srv.options(), "key": key,
                      "compression": args.compression, "workers": args.workers}  # fmt: skip
            fulls.append(child(op="backup", path=str(src), kind="Full", **common))
        raw_s = statistics.median(raws)
        full = sorted(fulls, key=lambda f: f["seconds"])[len(fulls) // 2]
        stored_before = sum(o["size"] for o in fs.find(f"bench/repo-{args.rounds - 1}", detail=True).values())
        changed = change_one_percent(src, total)
        inc = child(op="backup", path=str(src), kind="Incremental", **common)
        stored_after = sum(o["size"] for o in fs.find(f"bench/repo-{args.rounds - 1}", detail=True).values())
        restore = child(op="restore", path=str(work / "out"), id=inc["id"], **common)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)

    mb = total / 1e6
    enc = "off" if key is None else "AES-256-GCM"
    print(f"data set: {total / MIB:.0f} MiB in {n_files} files; compression {args.compression}, encryption {enc}, "
          f"{args.workers} upload workers; local S3 (moto) on 127.0.0.1")  # fmt: skip
    rows = [
        ("raw fsspec copy (S3FileSystem.put)", f"{mb / raw_s:.1f} MB/s",
         f"median {raw_s:.1f} s of " + ", ".join(f"{x:.1f}" for x in raws)),
        ("backup, Full, empty repository", f"{mb / full['seconds']:.1f} MB/s",
         f"median {full['seconds']:.1f} s of " + ", ".join(f"{x['seconds']:.1f}" for x in fulls)),
        ("backup / raw copy", f"{100 * raw_s / full['seconds']:.0f} %", "target >= 70 %"),
        ("stored after the first backup", f"{stored_before / MIB:.1f} MiB",
         f"{100 * stored_before / total:.0f} % of data"),
        ("incremental after changing 1 % in place", f"{(stored_after - stored_before) / MIB:.1f} MiB uploaded",
         f"{100 * (stored_after - stored_before) / total:.2f} % of data (changed {changed / MIB:.1f} MiB)"),
        ("incremental backup time", f"{inc['seconds']:.1f} s", ""),
        ("restore", f"{mb / restore['seconds']:.1f} MB/s", f"{restore['seconds']:.1f} s"),
        ("peak RSS: backup / incremental / restore",
         f"{full['maxrss_mib']:.0f} / {inc['maxrss_mib']:.0f} / {restore['maxrss_mib']:.0f} MiB", "target <= 200 MiB"),
    ]  # fmt: skip
    w = max(len(r[0]) for r in rows)
    for name, a, b in rows:
        print(f"{name:<{w}}  {a:>28}  {b}")


if __name__ == "__main__":
    main()
