"""Runs gcp-storage-emulator with one fix: it parses multipart uploads with the email package, which drops a
trailing carriage return from the object (any object whose last byte is 0x0d came back one byte short).
This reads the two parts of a `multipart/related` upload byte-exactly instead; everything else is the
emulator's own code. Started by storage_servers.GCSServer as `python tests/gcs_emulator.py start ...`."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main

_original = server._read_data


def _part(raw: bytes, eol: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of one part; `raw` runs from the line end after a delimiter to the line end before the
    next one (both removed exactly, so the body keeps every byte it had)."""
    raw = raw.removeprefix(eol).removesuffix(eol)
    head, _, body = raw.partition(eol + eol)
    headers = {}
    for line in head.decode("latin-1").split(eol.decode()):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers, body


def _read_data(request_handler: Any, query: Any) -> Any:
    content_type = request_handler.headers.get("Content-Type") or ""
    if not content_type.startswith("multipart/related") or "boundary=" not in content_type:
        return _original(request_handler, query)
    raw = server._decode_raw_data(server._read_raw_data(request_handler), request_handler)
    boundary = content_type.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"').encode()
    delimiter = b"--" + boundary
    start = raw.index(delimiter) + len(delimiter)
    eol = b"\r\n" if raw[start : start + 2] == b"\r\n" else b"\n"
    parts = raw[start:].split(eol + delimiter)
    # parts: meta, content, "--" + epilogue
    _, meta = _part(parts[0], eol)
    headers, content = _part(parts[1] + eol, eol)
    if headers.get("content-transfer-encoding", "").lower() == "base64":
        content = base64.b64decode(content)
    return {
        "meta": json.loads(meta),
        "content": content,
        "content-type": headers.get("content-type", "application/octet-stream").split(";")[0],
    }


server._read_data = _read_data

if __name__ == "__main__":
    sys.exit(main())
