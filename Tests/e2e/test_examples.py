"""The examples in examples/ serve and answer as their READMEs say (issue 2)."""
import shutil
import struct
import zlib

import pytest

from cortex_e2e import ROOT, Server


def tiny_png():
    """The 4×3 red PNG of examples/image-bytes/README.md."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress((b"\x00" + b"\xff\x00\x00" * 4) * 3)) + chunk(b"IEND", b""))


@pytest.fixture
def example(tmp_path):
    servers = []

    def start(name):
        project = tmp_path / name
        shutil.copytree(ROOT / "examples" / name, project)
        server = Server(project).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_echo(example):
    s = example("echo")
    assert s.post("/echo", json={"a": 1, "b": [1, 2, 3], "text": "héllo"}).text == \
        '{"a": 1, "b": [1, 2, 3], "text": "h\\u00e9llo"}'


def test_image_bytes(example):
    s = example("image-bytes")
    png = tiny_png()
    assert len(png) == 73
    for content_type in ["image/png", "application/octet-stream"]:
        r = s.post("/image-bytes", data=png, headers={"Content-Type": content_type})
        assert r.json() == {"format": "PNG", "size": [4, 3], "mode": "RGB", "bytes": 73,
                            "content_type": content_type}


def test_file_upload(example):
    s = example("file-upload")
    r = s.post("/file-upload", files={"text": ("hello.txt", b"hello from a text file\n", "text/plain"),
                                      "data": ("zeros.bin", bytes(1024), "application/octet-stream")})
    assert r.json() == {
        "text": {"filename": "hello.txt", "content_type": "text/plain", "size": 23,
                 "content": "hello from a text file\n"},
        "data": {"filename": "zeros.bin", "content_type": "application/octet-stream", "size": 1024},
        "fields": ["data", "text"]}


def test_iris_sklearn(example):
    s = example("iris-sklearn")
    cases = [({"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}, "setosa"),
             ({"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}, "versicolor"),
             ({"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}, "virginica")]
    for payload, label in cases:
        assert s.post("/iris-sklearn", json=payload).text == label
