"""Front <-> worker wire protocol, version 1 (docs/PROTOCOL.md is the spec).

Frame: u32 length | u8 kind | u64 request_id | u32 meta_length | meta | body, all little-endian,
`length` counting everything after itself (13 + meta_length + body length).

This module is the codec: encoders for every frame and meta, and decoders used by the worker and by
tests that play the front. The worker's hot loop (server.py) uses the same precompiled Structs inline.
"""
from __future__ import annotations

import struct

VERSION = 1

# kinds
HELLO = 1
READY = 2
FAILED = 3
REQUEST = 10
START = 11
RESPONSE = 12
CANCEL = 13
BATCH = 14
SHUTDOWN = 20
MODELS = 30
METRICS = 40

KIND_NAMES = {
    HELLO: "HELLO", READY: "READY", FAILED: "FAILED", REQUEST: "REQUEST", START: "START",
    RESPONSE: "RESPONSE", CANCEL: "CANCEL", BATCH: "BATCH", SHUTDOWN: "SHUTDOWN", MODELS: "MODELS",
    METRICS: "METRICS",
}

# payload kinds (REQUEST meta)
PAYLOAD_BYTES = 0
PAYLOAD_JSON = 1
PAYLOAD_FORM = 2

# outcomes (RESPONSE meta)
OUTCOME_OK = 0
OUTCOME_REJECTED = 1
OUTCOME_RAISED = 2
OUTCOME_HTTP_EXCEPTION = 3

HEADER = struct.Struct("<IBQI")  # length, kind, request_id, meta_length
HEADER_SIZE = HEADER.size  # 17
LENGTH_FLOOR = 13  # kind + request_id + meta_length
MAX_LENGTH = 0xFFFFFFFF
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
REQ_FIXED = struct.Struct("<BBH")  # payload_kind, flags, reserved
REQ_KIND_QLEN = struct.Struct("<BxxxI")  # payload_kind, (flags, reserved), query length
PART_RANGE = struct.Struct("<QQ")
RESP_FIXED = struct.Struct("<HBB")  # status, outcome, reserved


class ProtocolError(Exception):
    """The byte stream is corrupt; the connection must be closed."""


class MetaError(ValueError):
    """A REQUEST/RESPONSE meta block does not parse."""


# --------------------------------------------------------------------------- frames

def encode_frame(kind: int, request_id: int = 0, meta: bytes = b"", body: bytes = b"") -> bytes:
    length = LENGTH_FLOOR + len(meta) + len(body)
    if length > MAX_LENGTH:
        raise ValueError(f"frame too large: {length} bytes after the length field")
    return HEADER.pack(length, kind, request_id, len(meta)) + bytes(meta) + bytes(body)


def decode_frames(data, start: int = 0, end: int | None = None):
    """Decode every complete frame in data[start:end].

    Returns (frames, consumed_to): frames is a list of (kind, request_id, meta bytes, body bytes),
    consumed_to the offset of the first byte of the first incomplete frame (== end when none).
    Raises ProtocolError on a corrupt header.
    """
    if end is None:
        end = len(data)
    mv = memoryview(data)
    frames = []
    pos = start
    unpack = HEADER.unpack_from
    while end - pos >= HEADER_SIZE:
        length, kind, rid, mlen = unpack(data, pos)
        if length < LENGTH_FLOOR or mlen > length - LENGTH_FLOOR:
            raise ProtocolError(f"corrupt frame header at offset {pos}: length={length} meta_length={mlen}")
        stop = pos + 4 + length
        if stop > end:
            break
        ms = pos + HEADER_SIZE
        me = ms + mlen
        frames.append((kind, rid, bytes(mv[ms:me]), bytes(mv[me:stop])))
        pos = stop
    if end - pos >= 4 and end - pos < HEADER_SIZE:
        # a length field alone can already be judged
        (length,) = U32.unpack_from(data, pos)
        if length < LENGTH_FLOOR:
            raise ProtocolError(f"corrupt frame header at offset {pos}: length={length}")
    return frames, pos


def encode_batch(requests) -> bytes:
    """A BATCH frame holding complete REQUEST frames: requests = [(request_id, meta, body)]."""
    inner = b"".join(encode_frame(REQUEST, rid, meta, body) for rid, meta, body in requests)
    return encode_frame(BATCH, 0, U32.pack(len(requests)), inner)


def decode_batch(meta, body) -> list:
    """The requests of a BATCH frame: [(request_id, request meta, body)], in batch order."""
    if len(meta) < 4:
        raise ProtocolError("BATCH meta is shorter than its u32 count")
    (count,) = U32.unpack_from(meta, 0)
    frames, used = decode_frames(body)
    if used != len(body) or len(frames) != count:
        raise ProtocolError(f"BATCH says {count} requests but its body holds {len(frames)} complete frames "
                            f"and {len(body) - used} stray bytes")
    out = []
    for kind, rid, m, b in frames:
        if kind != REQUEST:
            raise ProtocolError(f"BATCH holds a {KIND_NAMES.get(kind, kind)} frame; only REQUEST frames belong there")
        out.append((rid, m, b))
    return out


class FrameDecoder:
    """Incremental decoder: feed() bytes as they arrive, get complete frames back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data) -> list:
        self._buf += data
        frames, pos = decode_frames(self._buf)
        if pos:
            del self._buf[:pos]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)


# --------------------------------------------------------------------------- meta helpers

def _lp(b) -> bytes:
    if isinstance(b, str):
        b = b.encode("utf-8")
    return U32.pack(len(b)) + b


def _b(x) -> bytes:
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def encode_headers(pairs) -> bytes:
    """`name\\0value\\0...` from (name, value) pairs (str or bytes)."""
    out = []
    for k, v in pairs:
        k = _b(k)
        v = _b(v)
        if b"\0" in k or b"\0" in v:
            raise ValueError("header names and values may not contain NUL")
        out.append(k + b"\0" + v + b"\0")
    return b"".join(out)


def decode_headers(blob) -> list:
    """[(name bytes, value bytes), ...] from a `name\\0value\\0...` block."""
    if not blob:
        return []
    items = bytes(blob).split(b"\0")
    if len(items) % 2 != 1 or items[-1] != b"":
        raise MetaError("header block is not a sequence of NUL-terminated name/value pairs")
    return list(zip(items[0:-1:2], items[1:-1:2]))


def _read_lp(meta, pos: int):
    if pos + 4 > len(meta):
        raise MetaError("meta truncated")
    (n,) = U32.unpack_from(meta, pos)
    pos += 4
    if pos + n > len(meta):
        raise MetaError("meta truncated")
    return bytes(meta[pos:pos + n]), pos + n


def encode_request_meta(payload_kind: int, query="", headers=(), parts=None) -> bytes:
    """parts: iterable of dicts/tuples (is_file, name, filename, content_type, offset, length)."""
    m = [REQ_FIXED.pack(payload_kind, 0, 0), _lp(_b(query)), _lp(encode_headers(headers))]
    if payload_kind == PAYLOAD_FORM:
        parts = list(parts or ())
        m.append(U32.pack(len(parts)))
        for p in parts:
            if isinstance(p, dict):
                p = (p["is_file"], p["name"], p["filename"], p["content_type"], p["offset"], p["length"])
            is_file, name, filename, ctype, offset, length = p
            m.append(bytes([1 if is_file else 0]) + _lp(name) + _lp(filename) + _lp(ctype))
            m.append(PART_RANGE.pack(offset, length))
    return b"".join(m)


class Part(tuple):
    __slots__ = ()
    is_file = property(lambda s: s[0])
    name = property(lambda s: s[1])
    filename = property(lambda s: s[2])
    content_type = property(lambda s: s[3])
    offset = property(lambda s: s[4])
    length = property(lambda s: s[5])


def decode_request_meta(meta):
    """-> (payload_kind, query bytes, [(name, value) bytes pairs], [Part] or None).

    Part fields: is_file int, name/filename/content_type str, offset int, length int.
    """
    meta = bytes(meta)
    if len(meta) < 4:
        raise MetaError("request meta truncated")
    payload_kind, _flags, _reserved = REQ_FIXED.unpack_from(meta, 0)
    query, pos = _read_lp(meta, 4)
    hblob, pos = _read_lp(meta, pos)
    headers = decode_headers(hblob)
    parts = None
    if payload_kind == PAYLOAD_FORM:
        parts, pos = decode_parts(meta, pos)
    elif payload_kind not in (PAYLOAD_BYTES, PAYLOAD_JSON):
        raise MetaError(f"unknown payload_kind {payload_kind}")
    if pos != len(meta):
        raise MetaError("trailing bytes after request meta")
    return payload_kind, query, headers, parts


def decode_parts(meta, pos: int):
    if pos + 4 > len(meta):
        raise MetaError("request meta truncated (part_count)")
    (count,) = U32.unpack_from(meta, pos)
    pos += 4
    parts = []
    for _ in range(count):
        if pos + 1 > len(meta):
            raise MetaError("request meta truncated (part)")
        is_file = meta[pos]
        name, pos = _read_lp(meta, pos + 1)
        filename, pos = _read_lp(meta, pos)
        ctype, pos = _read_lp(meta, pos)
        if pos + 16 > len(meta):
            raise MetaError("request meta truncated (part range)")
        offset, length = PART_RANGE.unpack_from(meta, pos)
        pos += 16
        parts.append(Part((is_file, name.decode("utf-8"), filename.decode("utf-8"), ctype.decode("utf-8"),
                           offset, length)))
    return parts, pos


def encode_response_meta(status: int, outcome: int, headers=()) -> bytes:
    blob = headers if isinstance(headers, (bytes, bytearray)) else encode_headers(headers)
    return RESP_FIXED.pack(status, outcome, 0) + U32.pack(len(blob)) + bytes(blob)


def decode_response_meta(meta):
    """-> (status, outcome, [(name bytes, value bytes), ...])."""
    meta = bytes(meta)
    if len(meta) < 4:
        raise MetaError("response meta truncated")
    status, outcome, _ = RESP_FIXED.unpack_from(meta, 0)
    hblob, pos = _read_lp(meta, 4)
    if pos != len(meta):
        raise MetaError("trailing bytes after response meta")
    return status, outcome, decode_headers(hblob)


def encode_models_meta(models) -> bytes:
    """MODELS meta from [{"name", "versions": [{"version", "path", "stamp"}]}] (or the whole dict)."""
    import json
    doc = models if isinstance(models, dict) else {"models": list(models)}
    return json.dumps(doc).encode("utf-8")


def decode_models_meta(meta) -> dict:
    """MODELS meta -> the JSON object {"models": [...]} (models.parse_models_frame validates it)."""
    import json
    doc = json.loads(bytes(meta))
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        raise MetaError("MODELS meta must be a JSON object with a 'models' list")
    return doc


def encode_metrics_meta(entries) -> bytes:
    """METRICS meta from [{"kind", "name", "value", "tags"}]: compact JSON, UTF-8 (docs/PROTOCOL.md)."""
    import json
    return json.dumps({"metrics": list(entries)}, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def decode_metrics_meta(meta) -> list:
    """METRICS meta -> the list of {"kind", "name", "value", "tags"} entries (structure only)."""
    import json
    doc = json.loads(bytes(meta))
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list):
        raise MetaError("METRICS meta must be a JSON object with a 'metrics' list")
    return doc["metrics"]


def start_frame(request_id: int) -> bytes:
    return HEADER.pack(LENGTH_FLOOR, START, request_id, 0)


def response_frame(request_id: int, status: int, outcome: int, headers=(), body: bytes = b"") -> bytes:
    return encode_frame(RESPONSE, request_id, encode_response_meta(status, outcome, headers), body)
