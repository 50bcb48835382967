"""The Python codec (cortex_worker.protocol) and the worker's frame reader against the shared vectors
in Tests/WorkerProtocolTests/vectors/frames.json."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from worker_harness import VECTORS, P
from cortex_worker.server import Reader

FRAME_NAMES = [f["name"] for f in json.loads(VECTORS.read_text())["frames"]]


def test_vectors_cover_every_kind(vectors):
    kinds = {f["kind"] for f in vectors["frames"]}
    assert {P.HELLO, P.REQUEST, P.START, P.RESPONSE, P.CANCEL, P.SHUTDOWN} <= kinds


@pytest.mark.parametrize("name", FRAME_NAMES)
def test_frame_encode_decode(vectors, name):
    f = next(f for f in vectors["frames"] if f["name"] == name)
    meta, body, rid = bytes.fromhex(f["meta_hex"]), bytes.fromhex(f["body_hex"]), int(f["request_id"])
    encoded = P.encode_frame(f["kind"], rid, meta, body)
    assert encoded.hex() == f["frame_hex"]
    frames, consumed = P.decode_frames(bytes.fromhex(f["frame_hex"]))
    assert consumed == len(encoded)
    assert frames == [(f["kind"], rid, meta, body)]
    # every strict prefix is an incomplete frame, not an error
    for cut in (0, 3, 4, 16, 17, len(encoded) - 1):
        if cut < len(encoded):
            part, used = P.decode_frames(encoded[:cut])
            assert part == [] and used == 0


def test_start_frame_helper(vectors):
    f = next(f for f in vectors["frames"] if f["kind"] == P.START)
    assert P.start_frame(int(f["request_id"])).hex() == f["frame_hex"]


def test_stream_decodes_in_order_whatever_the_chunking(vectors):
    stream = bytes.fromhex(vectors["stream_hex"])
    want = [(f["kind"], int(f["request_id"]), bytes.fromhex(f["meta_hex"]), bytes.fromhex(f["body_hex"]))
            for f in vectors["frames"]]
    frames, consumed = P.decode_frames(stream)
    assert frames == want and consumed == len(stream)
    for size in (1, 2, 7, 17, 64):
        d = P.FrameDecoder()
        got = []
        for i in range(0, len(stream), size):
            got += d.feed(stream[i:i + size])
        assert got == want and d.pending == 0


@pytest.mark.parametrize("case", ["length-below-header", "meta-longer-than-frame"])
def test_corrupt_streams_are_rejected(vectors, case):
    data = bytes.fromhex(next(c for c in vectors["corrupt"] if c["name"] == case)["hex"])
    with pytest.raises(P.ProtocolError):
        P.decode_frames(data)
    with pytest.raises(P.ProtocolError):
        P.FrameDecoder().feed(data)


def test_request_meta_vectors(vectors):
    for r in vectors["requests"]:
        meta = P.encode_request_meta(r["payload_kind"], r["query"], r["headers"], r["parts"])
        assert meta.hex() == r["meta_hex"], r["name"]
        kind, query, headers, parts = P.decode_request_meta(bytes.fromhex(r["meta_hex"]))
        assert kind == r["payload_kind"]
        assert query == r["query"].encode()
        assert headers == [(k.encode(), v.encode()) for k, v in r["headers"]]
        if r["payload_kind"] == P.PAYLOAD_FORM:
            assert [tuple(p) for p in parts] == [
                (p["is_file"], p["name"], p["filename"], p["content_type"], p["offset"], p["length"])
                for p in r["parts"]]
            assert parts[1].filename == "café.png" and parts[1].is_file == 1
        else:
            assert parts is None


def test_response_meta_vectors(vectors):
    for r in vectors["responses"]:
        meta = P.encode_response_meta(r["status"], r["outcome"], r["headers"])
        assert meta.hex() == r["meta_hex"], r["name"]
        status, outcome, headers = P.decode_response_meta(bytes.fromhex(r["meta_hex"]))
        assert (status, outcome) == (r["status"], r["outcome"])
        assert headers == [(k.encode(), v.encode()) for k, v in r["headers"]]


def test_worker_response_metas_match_vectors(vectors):
    from cortex_worker import server
    by_name = {r["name"]: bytes.fromhex(r["meta_hex"]) for r in vectors["responses"]}
    assert server.META_JSON == by_name["json"]
    assert server.META_BAD_JSON == by_name["bad-json"]
    assert server.META_RAISED == by_name["raised"]


def test_malformed_meta_is_an_error():
    with pytest.raises(P.MetaError):
        P.decode_request_meta(b"\x01\x00\x00\x00\xff\x00\x00\x00")
    with pytest.raises(P.MetaError):
        P.decode_headers(b"name\0value")
    with pytest.raises(ValueError):
        P.encode_headers([("a\0b", "c")])


def _reader_frames(data: bytes, chunk: int, bufsize: int):
    a, b = socket.socketpair()
    out = []

    def send():
        for i in range(0, len(data), chunk):
            a.sendall(data[i:i + chunk])
        a.close()

    t = threading.Thread(target=send)
    t.start()
    r = Reader(b, size=bufsize)
    try:
        while r.read(out):
            pass
    finally:
        t.join()
        b.close()
    return out


@pytest.mark.parametrize("chunk,bufsize", [(1, 32), (5, 64), (1000, 1 << 20), (100, 300)])
def test_worker_reader_decodes_the_stream(vectors, chunk, bufsize):
    stream = bytes.fromhex(vectors["stream_hex"])
    want = [(f["kind"], int(f["request_id"]), bytes.fromhex(f["meta_hex"]), bytes.fromhex(f["body_hex"]))
            for f in vectors["frames"]]
    assert _reader_frames(stream * 3, chunk, bufsize) == want * 3


def test_worker_reader_grows_for_big_frames():
    body = bytes(range(256)) * 8192  # 2 MiB
    data = P.encode_frame(P.REQUEST, 9, b"m", body) + P.encode_frame(P.CANCEL, 9)
    got = _reader_frames(data, 65536, 4096)
    assert got == [(P.REQUEST, 9, b"m", body), (P.CANCEL, 9, b"", b"")]


@pytest.mark.parametrize("case", ["length-below-header", "meta-longer-than-frame"])
def test_worker_reader_rejects_corrupt_streams(vectors, case):
    data = bytes.fromhex(next(c for c in vectors["corrupt"] if c["name"] == case)["hex"])
    with pytest.raises(P.ProtocolError):
        _reader_frames(data, 1000, 1024)


def test_batch_vector(vectors):
    f = next(f for f in vectors["frames"] if f["name"] == "batch")
    frames, _ = P.decode_frames(bytes.fromhex(f["frame_hex"]))
    (kind, rid, meta, body), = frames
    assert kind == P.BATCH and rid == 0
    members = P.decode_batch(meta, body)
    json_meta = bytes.fromhex(next(r for r in vectors["requests"] if r["name"] == "json")["meta_hex"])
    bytes_meta = bytes.fromhex(next(r for r in vectors["requests"] if r["name"] == "bytes-with-query")["meta_hex"])
    assert members == [(5, json_meta, b'{"x": 1}'), (6, bytes_meta, b"\x00\xff")]
    assert P.encode_batch(members).hex() == f["frame_hex"]


@pytest.mark.parametrize("meta,body", [
    (b"\x02\x00", b""),  # meta shorter than its count
    (b"\x02\x00\x00\x00", P.encode_frame(P.REQUEST, 1, b"", b"")),  # says 2, holds 1
    (b"\x01\x00\x00\x00", P.encode_frame(P.CANCEL, 1)),  # not a REQUEST
    (b"\x01\x00\x00\x00", P.encode_frame(P.REQUEST, 1, b"", b"x") + b"\x01"),  # stray bytes
])
def test_malformed_batches_are_errors(meta, body):
    with pytest.raises(P.ProtocolError):
        P.decode_batch(meta, body)
