"""Writes frames.json: the shared front<->worker test vectors (docs/PROTOCOL.md).

Built with `struct` straight from the spec, independent of both codecs under test.
Run: python3 make_vectors.py > frames.json
"""
import json
import struct


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<I", len(b)) + b


def headers_blob(pairs):
    return b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs)


def frame(kind, rid, meta, body):
    rest = struct.pack("<BQI", kind, rid, len(meta)) + meta + body
    return struct.pack("<I", len(rest)) + rest


def request_meta(kind, query, headers, parts=None):
    m = struct.pack("<BBH", kind, 0, 0) + s(query) + s(headers_blob(headers))
    if kind == 2:
        m += struct.pack("<I", len(parts))
        for p in parts:
            m += struct.pack("<B", p["is_file"]) + s(p["name"]) + s(p["filename"]) + s(p["content_type"])
            m += struct.pack("<QQ", p["offset"], p["length"])
    return m


def response_meta(status, outcome, headers):
    return struct.pack("<HBB", status, outcome, 0) + s(headers_blob(headers))


requests = [
    dict(name="json", payload_kind=1, query="", headers=[["content-type", "application/json"]], parts=[]),
    dict(name="bytes-with-query", payload_kind=0, query="a=1&b=%20x&a=2",
         headers=[["host", "api-x:8888"], ["x-multi", "1"], ["x-multi", "2"]], parts=[]),
    dict(name="form", payload_kind=2, query="", headers=[["content-type", "multipart/form-data; boundary=b"]],
         parts=[dict(is_file=0, name="key", filename="", content_type="", offset=0, length=5),
                dict(is_file=1, name="image", filename="café.png", content_type="image/png", offset=5, length=3)]),
    dict(name="unicode", payload_kind=0, query="q=%C3%A9", headers=[["x-name", "é"]], parts=[]),
]
responses = [
    dict(name="json", status=200, outcome=0, headers=[["content-type", "application/json"]]),
    dict(name="bad-json", status=400, outcome=1, headers=[["content-type", "application/json"]]),
    dict(name="raised", status=500, outcome=2, headers=[]),
    dict(name="http-exception", status=418, outcome=3,
         headers=[["content-type", "text/plain; charset=utf-8"], ["x-extra", "1"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]),
]
for r in requests:
    r["meta_hex"] = request_meta(r["payload_kind"], r["query"], r["headers"], r["parts"]).hex()
for r in responses:
    r["meta_hex"] = response_meta(r["status"], r["outcome"], r["headers"]).hex()

body_all_bytes = bytes(range(256))
frames = [
    dict(name="hello", kind=1, request_id=0, meta=b'{"worker": 3, "pid": 1234}', body=b""),
    dict(name="request-all-bytes", kind=10, request_id=0x1122334455667788,
         meta=bytes.fromhex(requests[1]["meta_hex"]), body=body_all_bytes),
    dict(name="start", kind=11, request_id=7, meta=b"", body=b""),
    dict(name="response", kind=12, request_id=7, meta=bytes.fromhex(responses[0]["meta_hex"]), body=b'{"ok": true}'),
    dict(name="cancel", kind=13, request_id=0xFFFFFFFFFFFFFFFF, meta=b"", body=b""),
    # BATCH: meta = u32 count; body = that many complete REQUEST frames, back to back
    dict(name="batch", kind=14, request_id=0, meta=struct.pack("<I", 2),
         body=frame(10, 5, bytes.fromhex(requests[0]["meta_hex"]), b'{"x": 1}')
         + frame(10, 6, bytes.fromhex(requests[1]["meta_hex"]), b"\x00\xff")),
    dict(name="shutdown", kind=20, request_id=0, meta=b"", body=b""),
    dict(name="models", kind=30, request_id=0,
         meta=b'{"models": [{"name": "iris", "versions": [{"version": "1", "path": "/m/iris/1", "stamp": "1-1"}]}]}',
         body=b""),
    # METRICS: worker -> front, compact JSON (UTF-8), body empty; counters summed since the last frame,
    # a gauge's last value, each histogram observation (Tests/vectors/metrics.json has the naming rules)
    dict(name="metrics", kind=40, request_id=0,
         meta=('{"metrics":[{"kind":"counter","name":"predictions_total","value":3,"tags":{"label":"cat"}},'
               '{"kind":"counter","name":"cortex_model_loads_total","value":1,'
               '"tags":{"model":"iris","outcome":"ok","version":"1"}},'
               '{"kind":"gauge","name":"queue_depth","value":0.5,"tags":{}},'
               '{"kind":"histogram","name":"score","value":0.25,"tags":{"model":"café"}},'
               '{"kind":"histogram","name":"score","value":2,"tags":{"model":"café"}},'
               '{"kind":"histogram","name":"cortex_model_load_seconds","value":0.125,"tags":{"model":"iris"}}]}'
               ).encode("utf-8"),
         body=b""),
]
out_frames = []
for f in frames:
    out_frames.append(dict(name=f["name"], kind=f["kind"], request_id=str(f["request_id"]),
                           meta_hex=f["meta"].hex(), body_hex=f["body"].hex(),
                           frame_hex=frame(f["kind"], f["request_id"], f["meta"], f["body"]).hex()))
stream = "".join(f["frame_hex"] for f in out_frames)
print(json.dumps(dict(
    comment="Shared vectors for docs/PROTOCOL.md; generated by make_vectors.py. request_id is a decimal string (u64).",
    frames=out_frames, stream_hex=stream,
    corrupt=[dict(name="length-below-header", hex=struct.pack("<I", 5).hex() + "00" * 5),
             dict(name="meta-longer-than-frame", hex=struct.pack("<IBQI", 13, 10, 1, 99).hex())],
    requests=requests, responses=responses), indent=1, ensure_ascii=False))
