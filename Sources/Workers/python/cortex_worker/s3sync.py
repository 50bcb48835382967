"""Mirror an S3 prefix into a local directory (the front runs this for S3 model paths).

    python -m cortex_worker.s3sync --source s3://bucket/prefix --dest /local/dir [--manifest PATH]

- Credentials come from the usual places (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
  AWS_PROFILE, ~/.aws); with none at all the requests are anonymous (unsigned), for public buckets.
  AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL select another endpoint (MinIO, moto...); the region is
  AWS_REGION / AWS_DEFAULT_REGION / the profile's, else us-east-1.
- `prefix` names a folder: `s3://b/models/iris` mirrors the keys under `models/iris/` (not
  `models/iris2/...`); `s3://b` or `s3://b/` mirrors the whole bucket.
- A new or changed object (size, ETag or LastModified differ from the manifest, or the local file is
  missing or has another size) is downloaded to a temporary file beside dest and renamed into place; its
  modification time is set to the object's LastModified. Local files with no object upstream are deleted
  (empty folders too). Folder markers (keys ending in "/") and keys with "." / ".." / empty path
  segments are skipped.
- The manifest (what was downloaded: key -> size, ETag, LastModified) is kept OUTSIDE dest, by default
  `<parent of dest>/.<name of dest>.s3sync.json`, so dest holds exactly the mirrored files.
- On success one JSON line goes to stdout: {"downloaded": n, "deleted": m, "bytes": b, "objects": k}
  (bytes = bytes downloaded, objects = objects mirrored). On failure a one-line message goes to stderr
  (`s3sync: error: ...`) and the exit status is 1 (2 for a malformed command line or URL).

Listing (caching on: the worker downloads a version when it is first used, see models.py):

    python -m cortex_worker.s3sync --source s3://bucket/prefix --list --format python|onnx|tensorflow [--dir]

downloads nothing and prints one JSON line, `{"versions": [{"version", "stamp", "source"}, ...]}`
(ascending), or with `--dir` (`predictor.models.dir`: each child prefix is a model)
`{"models": [{"name", "versions": [...]}, ...]}` (by name). Integer-named child prefixes are versions
(`source` = s3://bucket/prefix/N); a prefix without any is version "1" (`source` = the prefix). Version
prefixes with no visible object are skipped. The layout is validated per format as for local folders
(docs/CORTEX-COMPATIBILITY.md "Model layouts"; names starting with "." are ignored; the rules are
pinned by Tests/vectors/model_layouts.json); a bad layout exits 1 with
`s3sync: error: s3://bucket/path: what is wrong`. `stamp` is "<newest LastModified>-<total size>" of the
version's objects.

`download_version(source, dest)` (the worker, on demand) fetches every object under `source` into a
temporary folder beside `dest`, then renames it into place (replacing what was there).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import threading
import uuid

BUCKET_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{2,62}$")


class SyncError(Exception):
    """A failure explained in one line."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def parse_s3_url(url: str):
    """-> (bucket, prefix) where prefix is "" or ends with "/"."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise SyncError(f"invalid S3 URL {url!r}: expected s3://bucket/prefix", 2)
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket or not BUCKET_RE.match(bucket):
        raise SyncError(f"invalid S3 URL {url!r}: {bucket!r} is not a bucket name", 2)
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def safe_relative(rel: str):
    """A key's path below the prefix, or None when it cannot be mirrored safely."""
    if not rel or rel.endswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        return None
    return "/".join(parts)


def default_manifest(dest: str) -> str:
    dest = os.path.abspath(dest)
    return os.path.join(os.path.dirname(dest), "." + os.path.basename(dest) + ".s3sync.json")


def make_client():
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError:
        raise SyncError("boto3 is not installed (pip install -r requirements-s3.txt)") from None
    session = boto3.session.Session()
    anonymous = session.get_credentials() is None
    kwargs = {"retries": {"max_attempts": 5, "mode": "standard"}}
    if anonymous:
        kwargs["signature_version"] = UNSIGNED
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = session.region_name or "us-east-1"
    return session.client("s3", endpoint_url=endpoint, region_name=region, config=Config(**kwargs)), anonymous


def explain(e, bucket: str, prefix: str, anonymous: bool) -> SyncError:
    """A botocore exception -> a one-line SyncError."""
    where = f"s3://{bucket}/{prefix}"
    try:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
    except ImportError:  # pragma: no cover
        return SyncError(f"{where}: {e}")
    if isinstance(e, ClientError):
        err = e.response.get("Error", {}) if hasattr(e, "response") else {}
        code = str(err.get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if hasattr(e, "response") else None
        if code in ("NoSuchBucket",) or (status == 404 and code in ("404", "NotFound")):
            return SyncError(f"bucket {bucket!r} does not exist")
        if code in ("AccessDenied", "AllAccessDisabled", "403") or status == 403:
            how = "anonymously (no AWS credentials are set)" if anonymous else "with the configured AWS credentials"
            return SyncError(f"access denied to {where} {how}")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidClientTokenId"):
            return SyncError(f"the AWS credentials were refused for {where}: {code}: {err.get('Message', '')}".rstrip())
        return SyncError(f"{where}: {code or status}: {err.get('Message', '') or e}")
    if isinstance(e, EndpointConnectionError):
        return SyncError(f"cannot reach the S3 endpoint: {e}")
    if isinstance(e, BotoCoreError):
        return SyncError(f"{where}: {e}")
    return SyncError(f"{where}: {type(e).__name__}: {e}")


def list_objects(client, bucket: str, prefix: str) -> dict:
    """-> {relative path: {"key", "size", "etag", "last_modified" (iso), "mtime" (float)}}"""
    out = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []) or []:
            key = obj["Key"]
            rel = safe_relative(key[len(prefix):])
            if rel is None:
                if not key.endswith("/"):
                    sys.stderr.write(f"s3sync: skipping key {key!r}: not a safe local path\n")
                continue
            lm = obj.get("LastModified")
            out[rel] = {"key": key, "size": int(obj.get("Size", 0)), "etag": str(obj.get("ETag", "")),
                        "last_modified": lm.isoformat() if lm is not None else "",
                        "mtime": lm.timestamp() if lm is not None else None}
    return out


def read_manifest(path: str, source: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("source") != source or not isinstance(doc.get("objects"), dict):
        return {}
    return doc["objects"]


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _make_parents(dest: str, rel: str) -> str:
    """Create the folders of dest/rel, removing files that stand where a folder must be."""
    parts = rel.split("/")
    cur = dest
    for p in parts[:-1]:
        cur = os.path.join(cur, p)
        if os.path.islink(cur) or (os.path.exists(cur) and not os.path.isdir(cur)):
            os.unlink(cur)
        os.makedirs(cur, exist_ok=True)
    target = os.path.join(cur, parts[-1])
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    return target


def local_files(dest: str) -> set:
    found = set()
    for root, dirs, files in os.walk(dest):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            found.add(os.path.relpath(full, dest).replace(os.sep, "/"))
    return found


def remove_empty_dirs(dest: str) -> None:
    for root, dirs, files in os.walk(dest, topdown=False):
        if root == dest:
            continue
        try:
            if not os.listdir(root):
                os.rmdir(root)
        except OSError:
            pass


def sync(source: str, dest: str, manifest_path: str | None = None, jobs: int = 4) -> dict:
    bucket, prefix = parse_s3_url(source)
    source = f"s3://{bucket}/{prefix}"  # the manifest's key: one spelling per prefix
    dest = os.path.abspath(dest)
    manifest_path = manifest_path or default_manifest(dest)
    client, anonymous = make_client()
    try:
        upstream = list_objects(client, bucket, prefix)
    except Exception as e:
        raise explain(e, bucket, prefix, anonymous) from None
    os.makedirs(dest, exist_ok=True)
    known = read_manifest(manifest_path, source)
    todo = []
    for rel, obj in upstream.items():
        have = known.get(rel)
        local = os.path.join(dest, *rel.split("/"))
        same = (have is not None and have.get("size") == obj["size"] and have.get("etag") == obj["etag"]
                and have.get("last_modified") == obj["last_modified"])
        if same:
            try:
                same = os.path.isfile(local) and os.path.getsize(local) == obj["size"]
            except OSError:
                same = False
        if not same:
            todo.append(rel)

    tmpdir = os.path.join(os.path.dirname(dest), "." + os.path.basename(dest) + ".s3sync-tmp")
    downloaded = 0
    nbytes = 0
    objects = {rel: {k: v for k, v in upstream[rel].items() if k in ("size", "etag", "last_modified")}
               for rel in upstream if rel not in todo}
    # files kept from the previous manifest entry are still valid
    if todo:
        os.makedirs(tmpdir, exist_ok=True)

        def fetch(rel):
            obj = upstream[rel]
            tmp = os.path.join(tmpdir, uuid.uuid4().hex)
            try:
                client.download_file(bucket, obj["key"], tmp)
                if obj["mtime"] is not None:
                    os.utime(tmp, (obj["mtime"], obj["mtime"]))
            except Exception:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            return rel, tmp

        errors = []
        results = []
        if jobs > 1 and len(todo) > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                futures = [pool.submit(fetch, rel) for rel in todo]
                for fut in futures:
                    try:
                        results.append(fut.result())
                    except Exception as e:
                        errors.append(e)
        else:
            for rel in todo:
                try:
                    results.append(fetch(rel))
                except Exception as e:
                    errors.append(e)
        for rel, tmp in results:
            target = _make_parents(dest, rel)
            os.replace(tmp, target)
            downloaded += 1
            nbytes += upstream[rel]["size"]
            objects[rel] = {k: v for k, v in upstream[rel].items() if k in ("size", "etag", "last_modified")}
        shutil.rmtree(tmpdir, ignore_errors=True)
        if errors:
            # remember what did arrive, then report the first failure
            write_atomic(manifest_path, json.dumps({"source": source, "objects": objects}, sort_keys=True).encode())
            raise explain(errors[0], bucket, prefix, anonymous)

    deleted = 0
    for rel in sorted(local_files(dest) - set(upstream)):
        try:
            os.unlink(os.path.join(dest, *rel.split("/")))
            deleted += 1
        except FileNotFoundError:
            pass
    remove_empty_dirs(dest)
    write_atomic(manifest_path, json.dumps({"source": source, "objects": objects}, sort_keys=True).encode())
    return {"downloaded": downloaded, "deleted": deleted, "bytes": nbytes, "objects": len(upstream)}


# --------------------------------------------------------------------------- listing (caching on)

FORMATS = ("python", "onnx", "tensorflow")
INT64_MAX = (1 << 63) - 1


def _s3_path(bucket: str, prefix: str) -> str:
    """How errors and `source` name a prefix: s3://bucket/a/b (no trailing slash)."""
    return f"s3://{bucket}/{prefix}".rstrip("/") if prefix else f"s3://{bucket}"


def _version_name(name: str):
    """An integer-named folder -> its version string, else None (digits only, int64)."""
    if not name or not (name.isascii() and name.isdigit()):
        return None
    n = int(name)
    return str(n) if n <= INT64_MAX else None


def _children(objects: dict):
    """{relative path: obj} -> (visible files, visible folders -> {path below the folder: obj})."""
    files = set()
    folders = {}
    for rel, obj in objects.items():
        head, sep, rest = rel.partition("/")
        if head.startswith("."):
            continue
        if sep:
            folders.setdefault(head, {})[rest] = obj
        else:
            files.add(head)
    return files, folders


def stamp_of(objects) -> str:
    """Newest LastModified and total size of a version's objects (the MODELS `stamp`)."""
    newest = 0.0
    total = 0
    for obj in objects:
        if obj.get("mtime") is not None:
            newest = max(newest, obj["mtime"])
        total += int(obj.get("size", 0))
    return f"{newest:.6f}-{total}"


def validate_version(where: str, objects: dict, fmt: str) -> None:
    """Raise a SyncError when a version's objects are not what `fmt` loads (as ModelLayout.validate)."""
    files, folders = _children(objects)
    children = sorted(files | set(folders))
    if fmt == "python":
        if not children:
            raise SyncError(f"{where}: the model folder is empty")
    elif fmt == "onnx":
        onnx = [f for f in files if f.endswith(".onnx") and f not in folders]
        if len(onnx) != 1 or len(children) != 1:
            found = ", ".join(children) if children else "nothing"
            raise SyncError(f"{where}: an ONNX model version must hold exactly one .onnx file and nothing else, "
                            f"found {found}")
    elif fmt == "tensorflow":
        variables, _ = _children(folders.get("variables", {}))
        if not ("saved_model.pb" in files and "variables.index" in variables
                and any(v.startswith("variables.data-00000-of-") for v in variables)):
            raise SyncError(f"{where}: a TensorFlow model version must hold saved_model.pb, "
                            "variables/variables.index and variables/variables.data-00000-of-*")
    else:  # pragma: no cover (argparse restricts it)
        raise SyncError(f"unknown model format {fmt!r}", 2)


def list_versions(bucket: str, prefix: str, objects: dict, fmt: str) -> list:
    """The versions of one model whose objects (relative to `prefix`) are `objects`: the layout rules of
    ModelLayout.versions (Swift), pinned by Tests/vectors/model_layouts.json. The whole folder's
    structure (strays, duplicate versions) is checked before any version's contents."""
    where = _s3_path(bucket, prefix)
    files, folders = _children(objects)
    versioned = {name: v for name in folders if (v := _version_name(name)) is not None}
    if not versioned:
        validate_version(where, objects, fmt)
        return [{"version": "1", "stamp": stamp_of(objects.values()), "source": where}]
    strays = sorted((files | set(folders)) - set(versioned))
    if strays:
        raise SyncError(f"{where}/{strays[0]}: a versioned model folder may only hold integer-named "
                        "version folders")
    names = sorted(versioned, key=lambda n: (int(n), n))
    seen = {}
    for name in names:
        version = versioned[name]
        if version in seen:
            raise SyncError(f"{where}/{name}: version {version} is also {where}/{seen[version]}")
        seen[version] = name
    out = []
    for name in names:
        below = folders[name]
        vfiles, vfolders = _children(below)
        if not vfiles and not vfolders:
            continue  # an empty version folder is skipped
        vwhere = f"{where}/{name}"
        validate_version(vwhere, below, fmt)
        out.append({"version": versioned[name], "stamp": stamp_of(below.values()), "source": vwhere})
    return out


def list_models(bucket: str, prefix: str, objects: dict, fmt: str) -> list:
    """`predictor.models.dir`: each visible child folder of `prefix` is a model named after it (files
    beside them are ignored), by name, as ModelLayout.models(inDirectory:)."""
    _files, folders = _children(objects)
    return [{"name": name, "versions": list_versions(bucket, prefix + name + "/", folders[name], fmt)}
            for name in sorted(folders)]


def listing(source: str, fmt: str, directory: bool = False) -> dict:
    """`--list`: {"versions": [...]} for one model, {"models": [...]} for a `models.dir` prefix."""
    bucket, prefix = parse_s3_url(source)
    client, anonymous = make_client()
    try:
        upstream = list_objects(client, bucket, prefix)
    except Exception as e:
        raise explain(e, bucket, prefix, anonymous) from None
    if not upstream:  # on S3 a missing folder and an empty one are the same thing
        raise SyncError(f"{_s3_path(bucket, prefix)}: no model found (there is no object under this prefix)")
    if not directory:
        return {"versions": list_versions(bucket, prefix, upstream, fmt)}
    return {"models": list_models(bucket, prefix, upstream, fmt)}


# --------------------------------------------------------------------------- on-demand download (worker)

_shared = None
_shared_lock = threading.Lock()


def shared_client():
    """One client per process (boto3 clients are thread-safe; making one takes a while)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = make_client()
        return _shared


def download_version(source: str, dest: str, jobs: int = 4, on_listed=None) -> dict:
    """Fetch every object under `source` into a new folder beside `dest`, then rename it to `dest`
    (what was at `dest` is replaced). `on_listed(total_bytes, objects)` is called before the first byte
    is fetched. -> {"objects": n, "bytes": b}. Raises SyncError."""
    bucket, prefix = parse_s3_url(source)
    dest = os.path.abspath(dest)
    client, anonymous = shared_client()
    try:
        upstream = list_objects(client, bucket, prefix)
    except Exception as e:
        raise explain(e, bucket, prefix, anonymous) from None
    if not upstream:
        raise SyncError(f"{_s3_path(bucket, prefix)}: there is no object under this prefix (removed?)")
    total = sum(o["size"] for o in upstream.values())
    if on_listed is not None:
        on_listed(total, len(upstream))
    parent, base = os.path.dirname(dest), os.path.basename(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{base}.download-{uuid.uuid4().hex[:12]}")
    os.makedirs(tmp)
    try:
        def fetch(rel):
            obj = upstream[rel]
            target = os.path.join(tmp, *rel.split("/"))
            client.download_file(bucket, obj["key"], target)
            if obj["mtime"] is not None:
                os.utime(target, (obj["mtime"], obj["mtime"]))

        rels = sorted(upstream)
        # the folders first (a key that is also a folder, "a" beside "a/b", fails: IsADirectoryError)
        for rel in rels:
            if "/" in rel:
                os.makedirs(os.path.join(tmp, *rel.split("/")[:-1]), exist_ok=True)
        try:
            if jobs > 1 and len(rels) > 1:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(max_workers=min(jobs, len(rels))) as pool:
                    for fut in [pool.submit(fetch, rel) for rel in rels]:
                        fut.result()
            else:
                for rel in rels:
                    fetch(rel)
        except SyncError:
            raise
        except OSError as e:
            raise SyncError(f"{_s3_path(bucket, prefix)}: cannot write {dest}: {e}") from None
        except Exception as e:
            raise explain(e, bucket, prefix, anonymous) from None
        old = None
        if os.path.lexists(dest):
            old = os.path.join(parent, f".{base}.old-{uuid.uuid4().hex[:12]}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        tmp = None
        if old is not None:
            if os.path.isdir(old) and not os.path.islink(old):
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.unlink(old)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"objects": len(upstream), "bytes": total}


# --------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cortex_worker.s3sync",
                                description="Mirror an S3 prefix into a local directory, or list its model versions.")
    p.add_argument("--source", required=True, help="s3://bucket/prefix")
    p.add_argument("--dest", default=None, help="local directory (created if missing); required unless --list")
    p.add_argument("--manifest", default=None,
                   help="where to keep what was downloaded (default: <parent>/.<dest name>.s3sync.json)")
    p.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    p.add_argument("--list", action="store_true",
                   help="print the model versions under --source as one JSON line; download nothing")
    p.add_argument("--format", choices=FORMATS, default=None, help="the predictor type (with --list)")
    p.add_argument("--dir", action="store_true",
                   help="with --list: --source is a models.dir (each child prefix is a model)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        if args.format is None:
            p.error("--list needs --format")
        if args.dest is not None or args.manifest is not None:
            p.error("--list downloads nothing: --dest and --manifest are not allowed")
    else:
        if args.dest is None:
            p.error("the following arguments are required: --dest (or --list)")
        if args.format is not None or args.dir:
            p.error("--format and --dir go with --list")
    try:
        if args.list:
            summary = listing(args.source, args.format, args.dir)
        else:
            summary = sync(args.source, args.dest, args.manifest, max(1, args.jobs))
    except SyncError as e:
        sys.stderr.write(f"s3sync: error: {e}\n")
        return e.code
    except OSError as e:
        sys.stderr.write(f"s3sync: error: {e}\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
