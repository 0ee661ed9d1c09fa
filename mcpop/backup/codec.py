"""Per-chunk compression and authenticated encryption, and the ids chunks are stored under.

Stored chunk = seal(tag || body) when encrypted, else tag || body; tag 0 = raw, 1 = gzip, 2 = zstd. A chunk is
stored raw when compressing does not make it smaller (for gzip: when a zstd probe of a sample cannot). `seal` is
AES-256-GCM with a random 96-bit nonce (nonce || ciphertext || tag) and the chunk id as associated data, so a
chunk cannot be swapped for another.
Chunk ids are SHA-256 of the plaintext, or HMAC-SHA256 under a repository key when encrypted (ids leak
nothing about the content).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import os
import threading
import zlib
from dataclasses import dataclass
from typing import Literal

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Compression = Literal["none", "gzip", "zstd"]
COMPRESSIONS: tuple[Compression, ...] = ("none", "gzip", "zstd")
_TAGS: dict[Compression, int] = {"none": 0, "gzip": 1, "zstd": 2}
NONCE = 12
_GZIP_LEVEL = 6
_ZSTD_LEVEL = 3


class DecodeError(Exception):
    """A stored object failed authentication, decompression or its id check (internal; mapped by callers)."""


_local = threading.local()


def _zstd_c() -> zstandard.ZstdCompressor:
    c = getattr(_local, "zc", None)
    if c is None:
        c = _local.zc = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return c


def _zstd_d() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "zd", None)
    if d is None:
        d = _local.zd = zstandard.ZstdDecompressor()
    return d


def _zstd_capped(body: memoryview, cap: int) -> bytes:
    """At most `cap` bytes of a zstd frame: streamed, because `decompress` allocates whatever content size
    the frame header claims (a 16 KiB frame claiming 512 MiB gets 512 MiB), ignoring max_output_size."""
    parts: list[bytes] = []
    got = 0
    with _zstd_d().stream_reader(body, read_across_frames=False) as reader:
        while got < cap:
            part = reader.read(min(cap - got, 1 << 20))
            if not part:
                break
            parts.append(part)
            got += len(part)
    return b"".join(parts)


def _incompressible(data: bytes | memoryview) -> bool:
    """A cheap probe before gzip (which crawls over random data at ~25 MB/s): when zstd's fastest level
    cannot shrink a 128 KiB sample, deflate will not shrink the chunk either."""
    sample = memoryview(data)[: 128 * 1024]
    if len(sample) < 4096:
        return False
    return len(_zstd_probe().compress(sample)) >= 0.98 * len(sample)


def _zstd_probe() -> zstandard.ZstdCompressor:
    c = getattr(_local, "zp", None)
    if c is None:
        c = _local.zp = zstandard.ZstdCompressor(level=1)
    return c


def compress(data: bytes | memoryview, compression: Compression) -> bytes:
    """tag || body, falling back to raw when compression does not pay."""
    if compression == "gzip":
        if _incompressible(data):
            return b"\x00" + bytes(data)
        body = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)
    elif compression == "zstd":
        body = _zstd_c().compress(data)
    else:
        return b"\x00" + bytes(data)
    if len(body) >= len(data):
        return b"\x00" + bytes(data)
    return bytes([_TAGS[compression]]) + body


def decompress(blob: bytes | memoryview, limit: int) -> bytes:
    """Inverse of `compress`; output beyond `limit` bytes is an error (no decompression bombs)."""
    if not blob:
        raise DecodeError("empty object")
    tag, body = blob[0], memoryview(blob)[1:]
    try:
        if tag == 0:
            out = bytes(body)
        elif tag == 1:
            d = zlib.decompressobj(wbits=31)
            out = d.decompress(body, limit + 1)
        elif tag == 2:
            out = _zstd_capped(body, limit + 1)
        else:
            raise DecodeError(f"unknown compression tag {tag}")
    except (zlib.error, zstandard.ZstdError) as e:
        raise DecodeError(f"decompression failed: {e}") from None
    if len(out) > limit:
        raise DecodeError("decompressed data is larger than recorded")
    return out


@dataclass(frozen=True)
class Keys:
    """The repository's master keys: one for AES-256-GCM, one for chunk ids."""

    encryption: bytes
    mac: bytes

    def __repr__(self) -> str:
        return "Keys(<hidden>)"


class Codec:
    """Encodes chunks and metadata for storage, and decodes them with every check."""

    def __init__(self, keys: Keys | None, compression: Compression) -> None:
        self.keys = keys
        self.compression = compression
        self._aead = AESGCM(keys.encryption) if keys else None

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def chunk_id(self, data: bytes | memoryview) -> str:
        if self.keys:
            return hmac.new(self.keys.mac, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        if self._aead is None:
            return plaintext
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unseal(self, stored: bytes, aad: bytes) -> bytes:
        if self._aead is None:
            return stored
        if len(stored) < NONCE + 16:
            raise DecodeError("object too short to be encrypted data")
        try:
            return self._aead.decrypt(stored[:NONCE], stored[NONCE:], aad)
        except InvalidTag:
            raise DecodeError("authentication failed (data altered, or not written with this key)") from None

    def encode_chunk(self, chunk_id: str, data: bytes | memoryview) -> bytes:
        return self.seal(compress(data, self.compression), bytes.fromhex(chunk_id))

    def decode_chunk(self, chunk_id: str, stored: bytes, size: int) -> bytes:
        """The plaintext of a stored chunk, after checking its tag, its length and that it hashes to its id."""
        data = decompress(self.unseal(stored, bytes.fromhex(chunk_id)), size)
        if len(data) != size:
            raise DecodeError(f"length {len(data)}, recorded {size}")
        if not hmac.compare_digest(self.chunk_id(data), chunk_id):
            raise DecodeError("content does not hash to its id")
        return data

    def encode_meta(self, plaintext: bytes, aad: bytes) -> bytes:
        return self.seal(compress(plaintext, "zstd"), aad)

    def decode_meta(self, stored: bytes, aad: bytes, limit: int = 1 << 30) -> bytes:
        return decompress(self.unseal(stored, aad), limit)
