"""Writes the seed corpus and dictionary of each fuzz target (nothing binary is committed).

  python3 fuzz/make_seeds.py OUT_DIR   →  OUT_DIR/<target>/seed-N and OUT_DIR/<target>.dict
"""
import hashlib
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def multipart_body(boundary, parts, eol=b"\r\n", preamble=b"", epilogue=b"", close=True):
    out = preamble
    for headers, value in parts:
        out += b"--" + boundary + eol + eol.join(headers) + eol + eol + value + eol
    if close:
        out += b"--" + boundary + b"--" + eol + epilogue
    return out


def multipart_seeds():
    b = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = [
        ([b'Content-Disposition: form-data; name="text"'], b"hello"),
        ([b'Content-Disposition: form-data; name="file"; filename="a.txt"', b"Content-Type: text/plain"],
         b"line 1\r\nline 2\r\n--not-a-boundary\r\n"),
        ([b"Content-Disposition: form-data; name*=utf-8''%C3%A9t%C3%A9; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"],
         bytes(range(256))),
        ([b'content-disposition: form-data; name="w"; filename="C:\\\\dir\\\\f.txt"'], b""),
        ([b'Content-Disposition: form-data; name="q\\"uoted"; filename=""'], b"\x00\xff"),
    ]
    bodies = [
        (b, multipart_body(b, parts)),
        (b"abc", multipart_body(b"abc", parts[:2], eol=b"\n")),
        (b"x", multipart_body(b"x", parts[:1], preamble=b"preamble\r\n", epilogue=b"epilogue")),
        (b"boundary with spaces", multipart_body(b"boundary with spaces", parts[1:3])),
        (b"b", multipart_body(b"b", parts[:2], close=False)),  # truncated
        (b"b", b"--b--\r\n"),  # no parts
        (b"b", b"--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--"),  # bad header
        (b"b", b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),  # no disposition
        (b"b", b"--b \t\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b-- \r\n"),
    ]
    seeds = []
    for i, (boundary, body) in enumerate(bodies):
        selector = 0 if i % 3 else 0x35  # odd: small limits
        seeds.append(bytes([selector, len(boundary) - 1]) + boundary + body)
    words = [b"Content-Disposition:", b"Content-Type:", b"form-data", b"name=", b"filename=", b"name*=",
             b"filename*=", b"utf-8''", b"iso-8859-1''", b"\r\n", b"\r\n--", b"\n--", b"--", b'"', b"\\\"",
             b";", b"%C3%A9", b"C:\\", b"\\\\"]
    return seeds, words


def urlencoded_seeds():
    bodies = [b"a=1&b=2", b"name=J%C3%BCrgen+M%C3%BCller&empty=&flag&&x=%2B%26%3D", b"%zz=1", b"a=%4",
              b"a=%C3%28", b"=v&k=", b"+%20+=%7E", b"a=" + b"%41" * 50]
    types = [b"multipart/form-data; boundary=abc", b'multipart/form-data; boundary="a b:c"; charset=utf-8',
             b"Multipart/Form-Data ; BOUNDARY=x ; boundary*=utf-8''y", b"multipart/form-data; boundary=",
             b'multipart/form-data; boundary="unterminated', b"application/x-www-form-urlencoded",
             b"multipart/form-data; boundary=" + b"z" * 71, b"text/plain; a; b=\"\\\"\"; c*=x"]
    seeds = [b"\x00" + body for body in bodies] + [b"\x02" + body for body in bodies[:2]]
    seeds += [b"\x01" + t for t in types]
    words = [b"%", b"%2", b"%C3%A9", b"+", b"&", b"=", b"boundary=", b"multipart/form-data", b'"', b";", b"*=",
             b"utf-8''"]
    return seeds, words


def frames_seeds():
    vectors = json.loads((ROOT / "Tests" / "WorkerProtocolTests" / "vectors" / "frames.json").read_text())
    frames = [bytes.fromhex(f["frame_hex"]) for f in vectors["frames"]]
    seeds = []
    for i, frame in enumerate(frames):
        seeds.append(bytes([0, i * 37 % 256]) + frame)
    seeds.append(bytes([3, 7]) + b"".join(frames))
    seeds.append(bytes([0, 1]) + struct.pack("<IBQI", 12, 10, 1, 0))  # length below 13
    seeds.append(bytes([0, 1]) + struct.pack("<IBQI", 13, 99, 1, 0))  # unknown kind
    seeds.append(bytes([0, 1]) + struct.pack("<IBQI", 14, 10, 1, 5) + b"x")  # meta longer than frame
    for f in vectors["frames"]:
        if f["kind"] == 10:
            seeds.append(b"\x01" + bytes.fromhex(f["meta_hex"]))
        if f["kind"] == 12:
            seeds.append(b"\x02" + bytes.fromhex(f["meta_hex"]))
    # A REQUEST meta with a form part table.
    def sized(b):
        return struct.pack("<I", len(b)) + b
    form = bytes([2, 0, 0, 0]) + sized(b"q=1") + sized(b"host\0x\0") + struct.pack("<I", 1)
    form += b"\x01" + sized(b"f") + sized(b"a.txt") + sized(b"text/plain") + struct.pack("<QQ", 0, 3)
    seeds.append(b"\x01" + form)
    words = [struct.pack("<I", 13), struct.pack("<I", 0xFFFFFFFF), bytes([10]), bytes([12]), b"\0"]
    return seeds, words


def main():
    out = pathlib.Path(sys.argv[1])
    for target, make in [("multipart", multipart_seeds), ("urlencoded", urlencoded_seeds), ("frames", frames_seeds)]:
        seeds, words = make()
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            (directory / ("seed-" + hashlib.sha1(seed).hexdigest()[:16])).write_bytes(seed)
        lines = ['"' + "".join(chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else f"\\x{c:02X}" for c in w) + '"'
                 for w in words]
        (out / f"{target}.dict").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
