"""Deterministic data sets for the large backup tests and the benchmark (random and compressible files)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

BLOCK = 8 << 20


def write_file(path: Path, size: int, seed: int, compressible: bool = False) -> None:
    """`size` bytes from a seeded generator, written in 8 MiB blocks (never all in memory)."""
    rnd = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(BLOCK, left)
            if compressible:
                words = [rnd.choice((b"alpha ", b"beta ", b"gamma ", b"delta\n", b"0123456789 ")) for _ in range(64)]
                line = b"".join(words)
                chunk = (line * (n // len(line) + 1))[:n]
            else:
                chunk = rnd.randbytes(n)
            f.write(chunk)
            left -= n


def make_dataset(root: Path, total: int, seed: int = 0) -> list[Path]:
    """Half the bytes in four large files, half in 256 KiB files; a quarter of everything compressible."""
    big = total // 2 // 4
    small = 256 * 1024
    files = []
    for i in range(4):
        p = root / "big" / f"big-{i}.bin"
        write_file(p, big, seed * 1000 + i, compressible=(i == 0))
        files.append(p)
    for i in range((total - 4 * big) // small):
        p = root / "small" / f"{i // 256:02}" / f"s-{i:05}.dat"
        write_file(p, small, seed * 1000 + 100 + i, compressible=(i % 4 == 0))
        files.append(p)
    return files


def change_one_percent(root: Path, total: int, seed: int = 99) -> int:
    """Overwrite 1 % of the data set in place: 1 MiB regions of the large files (half of it), then whole small
    files."""
    rnd = random.Random(seed)
    budget = total // 100
    changed = 0
    bigs = sorted((root / "big").iterdir())
    for i in range(max(1, budget // (2 << 20))):
        path = bigs[i % len(bigs)]
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.seek(rnd.randrange(0, size - (1 << 20)))
            f.write(rnd.randbytes(1 << 20))
        changed += 1 << 20
    smalls = sorted((root / "small").rglob("*.dat"))
    while changed < budget:
        path = smalls[rnd.randrange(len(smalls))]
        path.write_bytes(rnd.randbytes(path.stat().st_size))
        changed += path.stat().st_size
    return changed


def digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while block := f.read(BLOCK):
                    h.update(block)
            out[str(p.relative_to(root))] = h.hexdigest()
    return out
