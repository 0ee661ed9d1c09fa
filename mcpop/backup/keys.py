"""Key files: the repository's random master keys, encrypted under a key derived from the user's key.

A key file (`keys/<id>`) is JSON: scrypt parameters, a salt, and AES-256-GCM(kek, master) where
kek = scrypt(user key, salt, n=2**15, r=8, p=1). A wrong user key fails the GCM tag: a clear error, never
garbage. Several key files may exist (key rotation adds one); any of them opens the repository.
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
    """The master material when `user_key` opens this key file, else None."""
    try:
        doc = json.loads(stored)
        if doc.get("kdf") != "scrypt":
            return None
        kek = _kek(user_key, base64.b64decode(doc["salt"]), int(doc["n"]), int(doc["r"]), int(doc["p"]))
        blob = base64.b64decode(doc["data"])
        material: dict[str, Any] = json.loads(AESGCM(kek).decrypt(blob[:NONCE], blob[NONCE:], _AAD))
    except (InvalidTag, ValueError, KeyError, TypeError):
        return None
    return material


def keys_of(material: dict[str, Any]) -> Keys:
    return Keys(encryption=base64.b64decode(material["encryption"]), mac=base64.b64decode(material["mac"]))
