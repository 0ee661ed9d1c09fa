"""Verify a repository as `restic check [--read-data]` does: every snapshot readable and named by its hash,
every tree readable, every chunk a snapshot references present, and (with `read_data`) every such chunk
downloaded, authenticated, decompressed and hashed. Problems are reported by object and by snapshot.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mcpop.backup.errors import Problem, RepositoryCorrupt
from mcpop.backup.model import VerifyReport
from mcpop.backup.objects import Objects, chunk_key
from mcpop.backup.tree import chunk_refs


def verify(repo: Objects, *, read_data: bool) -> VerifyReport:
    problems: list[Problem] = []
    users: dict[str, set[str]] = {}  # chunk id → snapshots that need it
    sizes: dict[str, int] = {}
    stored = repo.stored_chunks()
    repo.clear_cache()
    n_snaps = 0
    for key in repo.snapshot_keys():
        try:
            snap = repo.load_snapshot(key)
        except RepositoryCorrupt as e:
            problems.extend(e.problems)
            continue
        n_snaps += 1
        for cid, size in snap.tree:
            users.setdefault(cid, set()).add(snap.id)
            sizes[cid] = size
        if any(cid not in stored for cid, _ in snap.tree):
            missing = [c for c, _ in snap.tree if c not in stored]
            problems.extend(Problem("missing_chunk", chunk_key(c), [snap.id], "tree chunk missing") for c in missing)
            continue
        try:
            for entry in repo.tree(snap):
                for cid, size in chunk_refs(entry):
                    users.setdefault(cid, set()).add(snap.id)
                    sizes[cid] = size
        except RepositoryCorrupt as e:
            problems.extend(e.problems)
    for cid in sorted(users):
        if cid not in stored and not any(p.object == chunk_key(cid) for p in problems):
            problems.append(Problem("missing_chunk", chunk_key(cid), sorted(users[cid]), "referenced but missing"))
    bytes_read = 0
    if read_data:
        present = [c for c in sorted(users) if c in stored]

        def check(cid: str) -> Problem | None:
            try:
                repo.read_chunk(cid, sizes[cid])
            except RepositoryCorrupt as e:
                p = e.problems[0]
                return Problem(p.kind, p.object, sorted(users[cid]), p.message)
            return None

        with ThreadPoolExecutor(repo.workers, thread_name_prefix="backup-verify") as ex:
            for cid, problem in zip(present, ex.map(check, present), strict=True):
                bytes_read += stored[cid]
                if problem and not any(p.object == problem.object for p in problems):
                    problems.append(problem)
    # tree problems found while reading carry only their own snapshot: widen them to every user
    merged: dict[tuple[str, str], Problem] = {}
    for p in problems:
        cid = p.object.rsplit("/", 1)[-1]
        snaps = sorted(set(p.snapshots) | users.get(cid, set()))
        k = (p.kind, p.object)
        if k in merged:
            snaps = sorted(set(merged[k].snapshots) | set(snaps))
        merged[k] = Problem(p.kind, p.object, snaps, p.message)
    final = list(merged.values())
    return VerifyReport(ok=not final, problems=final, snapshots=n_snaps, chunks=len(users), bytes_read=bytes_read)
