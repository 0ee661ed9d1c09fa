"""Built pydantic validators kept between runs of the CLI, as Python keeps bytecode in `__pycache__`.

A cold `mcp render` spends ~60 ms building the validators and serializers of the API models (pydantic
generates their core schemas in Python on first use); loading them back takes ~5 ms. The cache lives in
`${MCPOP_CACHE_DIR:-$XDG_CACHE_HOME/mcpop}/models/`, one file per combination of Python, pydantic and the
model sources (name, size and mtime of every `mcpop/api` module), so a change to any of them misses it.
Any problem reading or writing it is ignored: the models are then built as usual. `MCPOP_MODEL_CACHE=0`
turns it off."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

_loaded: set[str] = set()  # classes given validators from the cache
_stored: set[str] = set()  # classes whose validators are in the cache file


def _directory() -> Path:
    base = os.environ.get("MCPOP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "mcpop"
    )
    return Path(base) / "models"


def _path() -> Path:
    import pydantic
    import pydantic_core

    import mcpop.api

    stamp = [sys.version, pydantic.VERSION, pydantic_core.__version__]
    api = Path(mcpop.api.__file__).parent
    for f in sorted(api.glob("*.py")):
        st = f.stat()
        stamp.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:24]
    return _directory() / f"{digest}.pickle"


def _models() -> dict[str, Any]:
    """Every pydantic model class mcpop defined so far, by `module:qualname`."""
    from pydantic import BaseModel

    out: dict[str, Any] = {}
    todo = list(BaseModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("mcpop.") and "<locals>" not in cls.__qualname__:
            out[f"{cls.__module__}:{cls.__qualname__}"] = cls
    return out


def _enabled() -> bool:
    return os.environ.get("MCPOP_MODEL_CACHE", "1") != "0"


def load() -> None:
    """Give the models the validators a previous run built (those not built yet in this process)."""
    if not _enabled():
        return
    try:
        entries: dict[str, tuple[Any, Any, Any]] = pickle.loads(_path().read_bytes())
    except Exception:
        return
    for module in sorted({key.partition(":")[0] for key in entries}):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    for key, cls in _models().items():
        entry = entries.get(key)
        if entry is None or cls.__pydantic_complete__:
            continue
        cls.__pydantic_core_schema__, cls.__pydantic_validator__, cls.__pydantic_serializer__ = entry
        cls.__pydantic_complete__ = True
        _loaded.add(key)
        _stored.add(key)


def save() -> None:
    """Store the validators this process built, beside those it loaded (written only when there are new ones)."""
    if not _enabled():
        return
    built = {k: c for k, c in _models().items() if c.__pydantic_complete__ and c.model_config.get("defer_build")}
    if not set(built) - _stored:
        return
    with contextlib.suppress(Exception):
        entries = {k: (c.__pydantic_core_schema__, c.__pydantic_validator__, c.__pydantic_serializer__)
                   for k, c in built.items()}  # fmt: skip
        data = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
        _stored.update(built)
