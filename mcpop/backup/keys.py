"""Key files: the repository's random master keys, encrypted under a key derived from the user's key.

A key file (`keys/<id>`) is JSON: scrypt parameters, a salt, and AES-256-GCM(kek, master) where
kek = scrypt(user key, salt, n=2**15, r=8, p=1). A wrong user key fails the GCM tag: a clear error, never
garbage. Several key files may exist (key rotation adds one); any of them opens the repository. The scrypt
parameters come from the bucket, so they are bounded before use: a forged key file cannot make opening the
repository take minutes or all memory.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mcpop.backup.codec import NONCE, Keys

_AAD = b"mcpop-backup-key-v1"
SCRYPT_N = 2**15
#: scrypt takes 128·n·r bytes and time ∝ n·r·p: at most twice the default's memory and four times its work
SCRYPT_MAX_MEMORY_NR = 2 * SCRYPT_N * 8
SCRYPT_MAX_WORK_NRP = 4 * SCRYPT_N * 8


class UnsafeKeyFile(ValueError):
    """A key file whose scrypt parameters are outside the bounds (never derived from)."""


def _scrypt_params(doc: dict[str, Any]) -> tuple[int, int, int]:
    n, r, p = doc["n"], doc["r"], doc["p"]
    if not all(type(v) is int and v >= 1 for v in (n, r, p)) or n & (n - 1) or n < 2:
        raise UnsafeKeyFile(f"scrypt parameters n={n!r} r={r!r} p={p!r} are not valid")
    if n * r > SCRYPT_MAX_MEMORY_NR or n * r * p > SCRYPT_MAX_WORK_NRP:
        raise UnsafeKeyFile(
            f"scrypt parameters n={n} r={r} p={p} exceed the bounds (n·r ≤ {SCRYPT_MAX_MEMORY_NR}, "
            f"n·r·p ≤ {SCRYPT_MAX_WORK_NRP})"
        )
    return n, r, p


def normalise_user_key(key: bytes | str) -> bytes:
    """The key as stored in a Secret; one trailing newline (a key file written by `echo`) is ignored."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    if not raw:
        raise ValueError("the encryption key is empty")
    return raw


def _kek(user_key: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(user_key)


def new_master(repo_id: str, chunker_seed: int) -> tuple[Keys, dict[str, Any]]:
    keys = Keys(encryption=os.urandom(32), mac=os.urandom(32))
    material = {
        "repository": repo_id,
        "encryption": base64.b64encode(keys.encryption).decode(),
        "mac": base64.b64encode(keys.mac).decode(),
        "chunker_seed": chunker_seed,
    }
    return keys, material


def seal_key_file(user_key: bytes, material: dict[str, Any], *, n: int = SCRYPT_N) -> bytes:
    salt = os.urandom(16)
    nonce = os.urandom(NONCE)
    kek = _kek(user_key, salt, n, 8, 1)
    ct = AESGCM(kek).encrypt(nonce, json.dumps(material).encode(), _AAD)
    doc = {
        "version": 1,
        "kdf": "scrypt",
        "n": n,
        "r": 8,
        "p": 1,
        "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(nonce + ct).decode(),
    }
    return json.dumps(doc, indent=1).encode()


def open_key_file(user_key: bytes, stored: bytes) -> dict[str, Any] | None:
    """The master material when `user_key` opens this key file, else None; UnsafeKeyFile when its scrypt
    parameters are out of bounds."""
    try:
        doc = json.loads(stored)
        if not isinstance(doc, dict) or doc.get("kdf") != "scrypt":
            return None
        n, r, p = _scrypt_params(doc)
        kek = _kek(user_key, base64.b64decode(doc["salt"]), n, r, p)
        blob = base64.b64decode(doc["data"])
        material: dict[str, Any] = json.loads(AESGCM(kek).decrypt(blob[:NONCE], blob[NONCE:], _AAD))
    except UnsafeKeyFile:
        raise
    except (InvalidTag, ValueError, KeyError, TypeError):
        return None
    return material


def keys_of(material: dict[str, Any]) -> Keys:
    return Keys(encryption=base64.b64decode(material["encryption"]), mac=base64.b64decode(material["mac"]))
