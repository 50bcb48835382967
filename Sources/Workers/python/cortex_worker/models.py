"""Models (docs/PROTOCOL.md "MODELS", docs/CORTEX-COMPATIBILITY.md §5-6): the versions the front announced, the
loading/caching policy, and the clients handed to predictors (python_client, onnx_client,
tensorflow_client).

The front sends the complete table of versions (name -> version -> local path, stamp) in every MODELS
frame; `Registry.update` swaps it in without blocking the reader thread. Loaded versions are keyed by
(name, version) and remember the stamp they were loaded with.

- No caching (`cache_size` null): after READY every announced version is loaded in a background thread
  (each model's latest first); a new version or a changed stamp is (re)loaded there too and swapped in
  when ready, so requests keep using what is loaded until then: while a newer version is still loading
  (or failed to load), "latest" resolves to the highest *loaded* version. A request for a version that
  nothing has loaded yet loads it in the request thread (one lock per (name, version): never twice).
- Caching (`cache_size` N): versions are loaded on demand in the request thread and at most N stay in
  memory; the least recently used ones beyond N are dropped right after a load (and `gc.collect()`).

S3 versions fetched on demand: a version entry with a `source` (s3://...) lives at `path` only once it
was downloaded. Whoever loads it first (a request, or the background loader) downloads it under the
version's lock (s3sync.download_version: a temporary folder beside `path`, renamed into place) when
`path` is missing or the stamp recorded beside it (`.<version>.cortex-model.json`: source and stamp)
differs from the table's. With `disk_cache_size` M at most M downloaded versions stay on disk: the least
recently used ones that are not loaded in memory are deleted before a download makes room and after it
(so M may be exceeded while every version on disk is loaded). Downloaded versions that vanish from the
table are deleted by the background loader. Versions without `source` are local folders, never deleted.

Client errors map to HTTP statuses (server.py): an unknown model or version -> 404, a malformed
model_name/model_version -> 400, a version that failed to load -> 500; the body is JSON {"error": msg}.

numpy, onnxruntime and tensorflow are imported only by the predictor types that need them.
"""
from __future__ import annotations

import gc
import itertools
import json
import operator
import os
import shutil
import sys
import threading
import time
from collections import deque

from .metrics import _write_stderr

SINGLE_MODEL_NAME = "_cortex_default"


# --------------------------------------------------------------------------- errors

class ModelError(Exception):
    """A model client error; `status` is the HTTP status the runtime answers with."""
    status = 500

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class ModelNotFoundError(ModelError, LookupError):
    """The model name or version does not exist (404)."""
    status = 404


class InvalidModelRequestError(ModelError, ValueError):
    """model_name / model_version is missing or malformed (400)."""
    status = 400


class ModelLoadError(ModelError, RuntimeError):
    """The version exists but could not be loaded (500)."""
    status = 500


# --------------------------------------------------------------------------- MODELS frame

def parse_models_frame(meta) -> dict:
    """MODELS meta -> {name: {version: (path, stamp)}} (insertion order = the frame's order); a version
    with a `source` (an S3 version downloaded on demand) is (path, stamp, source).
    Raises ValueError when the frame does not have the documented shape."""
    try:
        doc = json.loads(bytes(meta))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"MODELS meta is not JSON: {e}") from None
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, list):
        raise ValueError("MODELS meta must be an object with a 'models' list")
    table = {}
    for m in models:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise ValueError("each MODELS entry needs a string 'name'")
        versions = m.get("versions") or []
        if not isinstance(versions, list):
            raise ValueError(f"model {m['name']!r}: 'versions' must be a list")
        vs = {}
        for v in versions:
            if not isinstance(v, dict):
                raise ValueError(f"model {m['name']!r}: each version must be an object")
            version, path, stamp = v.get("version"), v.get("path"), v.get("stamp", "")
            if isinstance(version, int) and not isinstance(version, bool):
                version = str(version)
            if not isinstance(version, str) or not (version.isascii() and version.isdigit()):
                raise ValueError(f"model {m['name']!r}: version {version!r} is not an integer string")
            if not isinstance(path, str) or not path:
                raise ValueError(f"model {m['name']!r} version {version}: 'path' must be a non-empty string")
            source = v.get("source")
            if source is None:
                vs[str(int(version))] = (path, str(stamp))
            else:
                if not isinstance(source, str) or not source.startswith("s3://"):
                    raise ValueError(f"model {m['name']!r} version {version}: 'source' must be an s3:// URL")
                vs[str(int(version))] = (path, str(stamp), source)
        table[m["name"]] = vs
    return table


# --------------------------------------------------------------------------- helpers

def dir_size(path: str) -> int:
    total = 0
    try:
        if os.path.isfile(path):
            return os.path.getsize(path)
        for root, _dirs, files in os.walk(path):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
    except OSError:
        pass
    return total


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def _version_key(v: str) -> int:
    return int(v)


def entry_source(entry):
    """The s3:// source of a table entry (None: a local folder)."""
    return entry[2] if len(entry) > 2 else None


def marker_path(path: str) -> str:
    """Where the stamp of a downloaded version is recorded: beside it, hidden."""
    path = os.path.abspath(path)
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".cortex-model.json")


def read_marker(path: str):
    """-> (source, stamp) recorded for a downloaded version, or None."""
    try:
        with open(marker_path(path)) as f:
            doc = json.load(f)
        return doc["source"], doc["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_marker(path: str, source: str, stamp: str) -> None:
    target = marker_path(path)
    tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"source": source, "stamp": stamp}, f)
    os.replace(tmp, target)


def remove_marker(path: str) -> None:
    try:
        os.unlink(marker_path(path))
    except FileNotFoundError:
        pass


_DISK_GC = object()  # a loader job: delete downloaded versions that left the table


class _Loaded:
    __slots__ = ("obj", "stamp", "used")

    def __init__(self, obj, stamp: str, used: int) -> None:
        self.obj = obj
        self.stamp = stamp
        self.used = used


# --------------------------------------------------------------------------- the registry

class Registry:
    """The current table of versions and the loaded ones. `load_fn(path, name, version)` loads one
    version (set by the client / after the predictor's constructor for python_client)."""

    def __init__(self, mode: str = "single", cache_size=None, load_fn=None, summarize=None,
                 disk_cache_size=None) -> None:
        self.mode = mode
        self.cache_size = cache_size
        self.disk_cache_size = disk_cache_size
        self.eager = cache_size is None
        self.load_fn = load_fn
        self.load_unavailable = "the model cannot be loaded yet"
        self._summarize = summarize or (lambda e: f"{type(e).__name__}: {e}")
        # (table, sorted versions): name -> {version: (path, stamp)}, name -> [versions ascending];
        # replaced whole by update(), read as one snapshot
        self._state = ({}, {})
        self.loaded: dict = {}  # (name, version) -> _Loaded
        self.failed: dict = {}  # (name, version) -> (stamp, message)
        # downloaded (S3) versions on disk: (name, version) -> [last used tick, path]; guarded by _lock
        self.disk: dict = {}
        self._key_locks: dict = {}
        self._lock = threading.Lock()
        self._tick = itertools.count(1)
        self._jobs: deque = deque()
        self._jobs_cv = threading.Condition(threading.Lock())
        self._graveyard: list = []
        self._started = False
        self._thread = None
        # metrics.MetricsBuffer: every load (and failed download) is reported as cortex_model_loads_total
        # and cortex_model_load_seconds (docs/PROTOCOL.md, METRICS)
        self.metrics = None

    # ---------------------------------------------------------------- naming / logs

    def label(self, name: str, version: str) -> str:
        if self.mode == "single":
            return f"model version {version}"
        return f"model {name} version {version}"

    def _quoted_label(self, name: str, version: str) -> str:
        if self.mode == "single":
            return f"model version {version!r}"
        return f"model {name!r} version {version!r}"

    # ---------------------------------------------------------------- MODELS

    def update(self, table: dict) -> None:
        """Swap in a new table (the reader thread calls this: it never loads or frees anything)."""
        sorted_versions = {n: sorted(vs, key=_version_key) for n, vs in table.items()}
        with self._lock:
            self._state = (table, sorted_versions)
            dropped = []
            for key in list(self.loaded):
                entry = table.get(key[0], {}).get(key[1])
                if entry is None:
                    dropped.append((key, self.loaded.pop(key)))
            for key, (stamp, _msg) in list(self.failed.items()):
                entry = table.get(key[0], {}).get(key[1])
                if entry is None or entry[1] != stamp:
                    del self.failed[key]
            gone = any(table.get(k[0], {}).get(k[1]) is None for k in self.disk)
            wanted = []
            # each model's latest first, then the older versions, newest first
            depth = max((len(v) for v in sorted_versions.values()), default=0)
            for i in range(depth):
                for name, vs in sorted_versions.items():
                    if i < len(vs):
                        key = (name, vs[-1 - i])
                        cur = self.loaded.get(key)
                        stamp = table[name][key[1]][1]
                        if cur is not None:
                            if cur.stamp != stamp:
                                wanted.append(key)  # changed on disk: reload, whatever the policy
                        elif self.eager:
                            wanted.append(key)
        for key, _ in dropped:
            _write_stderr(f"unloaded {self.label(*key)} (removed)\n")
        with self._jobs_cv:
            if dropped:
                self._graveyard.extend(l for _, l in dropped)
                self._jobs.append(None)  # a collect job
            if gone:
                self._jobs.append(_DISK_GC)
            self._jobs.extend(wanted)
            self._jobs_cv.notify()
        del dropped

    def start(self) -> None:
        """Start the background loader (after READY)."""
        with self._jobs_cv:
            if self._started:
                return
            self._started = True
        self._thread = threading.Thread(target=self._loader, name="model-loader", daemon=True)
        self._thread.start()

    def _loader(self) -> None:
        while True:
            with self._jobs_cv:
                while not self._jobs:
                    self._jobs_cv.wait()
                key = self._jobs.popleft()
            try:
                if key is None:
                    self._collect()
                elif key is _DISK_GC:
                    self._disk_gc()
                else:
                    self._ensure(key, background=True)
            except Exception as e:  # never let the loader die
                _write_stderr(f"model loader: {self._summarize(e)}\n")

    def _collect(self) -> None:
        with self._jobs_cv:
            grave = self._graveyard
            self._graveyard = []
        if grave:
            grave.clear()
            del grave
            gc.collect()

    # ---------------------------------------------------------------- resolving

    @property
    def table(self) -> dict:
        return self._state[0]

    def names(self) -> list:
        return list(self._state[0])

    def resolve(self, model_name=None, model_version="latest"):
        """-> (name, version string, whether it was asked as "latest", versions of that model
        ascending) or raises a ModelError."""
        table, sorted_versions = self._state
        if self.mode == "single":
            if not table:
                raise ModelNotFoundError("the model is not available")
            name = SINGLE_MODEL_NAME if SINGLE_MODEL_NAME in table else next(iter(table))
        else:
            if model_name is None:
                raise InvalidModelRequestError(
                    f"model_name is required (several models are configured); available models: "
                    f"{', '.join(table) or 'none'}")
            if not isinstance(model_name, str):
                raise InvalidModelRequestError(f"model_name must be a string, not {type(model_name).__name__}")
            if model_name not in table:
                raise ModelNotFoundError(
                    f"model {model_name!r} not found; available models: {', '.join(table) or 'none'}")
            name = model_name
        versions = sorted_versions.get(name) or []
        if model_version is None or (isinstance(model_version, str) and model_version.strip() == "latest"):
            if not versions:
                what = "the model has" if self.mode == "single" else f"model {name!r} has"
                raise ModelNotFoundError(f"{what} no versions available")
            return name, versions[-1], True, versions
        version = None
        if isinstance(model_version, str):
            s = model_version.strip()
            if s.isascii() and s.isdigit():
                version = str(int(s))
        elif not isinstance(model_version, bool):
            try:
                n = operator.index(model_version)
            except TypeError:
                n = None
            if n is not None and n >= 0:
                version = str(n)
        if version is None:
            raise InvalidModelRequestError(
                f"model_version must be either a parse-able numeric value or 'latest', not {model_version!r}")
        if version not in table.get(name, {}):
            what = "the model has" if self.mode == "single" else f"model {name!r} has"
            raise ModelNotFoundError(
                f"{what} no version {version!r}; available versions: {', '.join(versions) or 'none'}")
        return name, version, False, versions

    # ---------------------------------------------------------------- getting

    def get(self, model_name=None, model_version="latest"):
        name, version, is_latest, versions = self.resolve(model_name, model_version)
        key = (name, version)
        cur = self.loaded.get(key)
        if cur is not None:
            cur.used = next(self._tick)
            return cur.obj
        if is_latest and self.eager:
            # a newer version still loading (or broken): keep serving the newest loaded one
            for v in reversed(versions[:-1]):
                older = self.loaded.get((name, v))
                if older is not None:
                    older.used = next(self._tick)
                    return older.obj
        got = self._ensure(key, background=False)
        if got is None:  # removed while we waited
            raise ModelNotFoundError(f"{self._quoted_label(name, version)} was removed")
        return got.obj

    def _key_lock(self, key) -> threading.Lock:
        lock = self._key_locks.get(key)
        if lock is None:
            with self._lock:
                lock = self._key_locks.setdefault(key, threading.Lock())
        return lock

    def _entry(self, key):
        return self.table.get(key[0], {}).get(key[1])

    def _ensure(self, key, background: bool):
        """Load `key` unless what is loaded has the current stamp (downloading it first when it is an
        S3 version that is not on disk at that stamp). -> _Loaded or None (removed, or a background
        load that failed). Request threads get a ModelLoadError on failure."""
        fetched = []
        try:
            return self._ensure_locked(key, background, fetched)
        finally:
            if fetched and self.disk_cache_size is not None:
                self._evict_disk(protect=key, limit=self.disk_cache_size)

    def _ensure_locked(self, key, background: bool, fetched: list):
        name, version = key
        with self._key_lock(key):
            entry = self._entry(key)
            if entry is None:
                return None
            path, stamp = entry[0], entry[1]
            cur = self.loaded.get(key)
            if cur is not None and cur.stamp == stamp:
                return cur
            if background and cur is None and not self.eager:
                return None  # caching: loaded on demand only
            failed = self.failed.get(key)
            if failed is not None and failed[0] == stamp:
                if background or cur is not None:
                    return cur
                raise ModelLoadError(failed[1])
            load_fn = self.load_fn
            if load_fn is None:
                raise ModelLoadError(f"failed loading {self.label(name, version)}: {self.load_unavailable}")
            label = self.label(name, version)
            source = entry_source(entry)
            if source is not None:
                try:
                    if self._fetch(key, path, stamp, source, label):
                        fetched.append(key)
                except ModelLoadError:
                    self._report_load(name, version, False)
                    if background or cur is not None:
                        return cur
                    raise
            _write_stderr(f"{'reloading' if cur is not None else 'loading'} {label} "
                          f"({human_size(dir_size(path))}) …\n")
            t0 = time.perf_counter()
            try:
                obj = load_fn(path, name, version)
            except Exception as e:
                msg = f"failed loading {label}: {self._summarize(e)}"
                import traceback
                tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                keep = " (still serving the previously loaded copy)" if cur is not None else ""
                _write_stderr(f"{msg}{keep}\n{tb}")
                self._report_load(name, version, False)
                with self._lock:
                    if self._entry(key) == entry:
                        self.failed[key] = (stamp, msg)
                if background or cur is not None:
                    return cur
                raise ModelLoadError(msg) from None
            elapsed = time.perf_counter() - t0
            _write_stderr(f"loaded {label} in {elapsed:.2f}s\n")
            self._report_load(name, version, True, elapsed)
            new = _Loaded(obj, stamp, next(self._tick))
            del obj
            evicted = []
            with self._lock:
                if self._entry(key) is not None:
                    self.loaded[key] = new
                    self.failed.pop(key, None)
                    if self.cache_size is not None:
                        evicted = self._evict_locked(keep=key)
            cur = None
        if evicted:
            for k, _ in evicted:
                _write_stderr(f"evicted {self.label(*k)} from the cache (cache_size {self.cache_size})\n")
            evicted.clear()
            gc.collect()
        return new

    def _report_load(self, name: str, version: str, ok: bool, seconds=None) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.model_load(name, version, ok, seconds)

    def _evict_locked(self, keep) -> list:
        over = len(self.loaded) - self.cache_size
        if over <= 0:
            return []
        candidates = sorted((l.used, k) for k, l in self.loaded.items() if k != keep)
        out = []
        for _used, k in candidates[:over]:
            gone = self.loaded.pop(k)
            on_disk = self.disk.get(k)
            if on_disk is not None and on_disk[0] < gone.used:
                on_disk[0] = gone.used  # its last use, for the disk cache's LRU order
            out.append((k, gone))
        return out

    # ---------------------------------------------------------------- S3 versions on disk

    def _fetch(self, key, path: str, stamp: str, source: str, label: str) -> bool:
        """Make `path` hold `source` as of `stamp` (the caller holds key's lock). -> whether it
        downloaded. Raises ModelLoadError when the download fails."""
        import fcntl
        from . import s3sync
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # other worker processes of the API may share the folder (no caching): one downloads at a time
        with open(marker_path(path)[:-len(".json")] + ".lock", "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            if os.path.isdir(path) and read_marker(path) == (source, stamp):
                with self._lock:
                    self.disk[key] = [next(self._tick), path]
                return False
            if self.disk_cache_size is not None:
                self._evict_disk(protect=key, limit=self.disk_cache_size, incoming=True)
            remove_marker(path)

            def listed(total, _count):
                _write_stderr(f"downloading {label} ({human_size(total)}) from {source} …\n")

            t0 = time.perf_counter()
            try:
                s3sync.download_version(source, path, on_listed=listed)
                write_marker(path, source, stamp)
            except Exception as e:
                if isinstance(e, s3sync.SyncError):  # names the S3 path already
                    msg = f"failed downloading {label}: {e}"
                else:
                    msg = f"failed downloading {label} from {source}: {self._summarize(e)}"
                _write_stderr(msg + "\n")
                with self._lock:
                    if os.path.isdir(path):
                        self.disk.setdefault(key, [next(self._tick), path])
                    else:
                        self.disk.pop(key, None)
                raise ModelLoadError(msg) from None
            _write_stderr(f"downloaded {label} in {time.perf_counter() - t0:.2f}s\n")
            with self._lock:
                self.disk[key] = [next(self._tick), path]
            return True

    def _adopt_disk(self) -> None:
        """Count the S3 versions already on disk that this process did not download (a previous
        worker's): least recently used of all."""
        table = self.table
        found = []
        for name, vs in table.items():
            for version, entry in vs.items():
                if entry_source(entry) is not None and (name, version) not in self.disk \
                        and os.path.isdir(entry[0]):
                    found.append(((name, version), entry[0]))
        if found:
            with self._lock:
                for key, path in found:
                    self.disk.setdefault(key, [0, path])

    def _remove_from_disk(self, key, path: str) -> None:
        remove_marker(path)
        shutil.rmtree(path, ignore_errors=True)

    def _evict_disk(self, protect, limit: int, incoming: bool = False) -> None:
        """Delete the least recently used downloaded versions beyond `limit`, never one that is loaded
        in memory, `protect`, or busy (its lock held: loading or downloading). `incoming`: `protect` is
        about to be downloaded; make room for it unless it replaces a copy already on disk."""
        self._adopt_disk()
        with self._lock:
            if incoming and protect not in self.disk:
                limit -= 1
            over = len(self.disk) - max(limit, 0)
            if over <= 0:
                return
            candidates = sorted((d[0], k) for k, d in self.disk.items() if k != protect and k not in self.loaded)
        for _used, k in candidates:
            if over <= 0:
                break
            lock = self._key_lock(k)
            if not lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    d = self.disk.get(k)
                    if d is None or k in self.loaded:
                        continue
                    del self.disk[k]
                self._remove_from_disk(k, d[1])
                over -= 1
                _write_stderr(f"evicted {self.label(*k)} from the disk cache "
                              f"(disk_cache_size {self.disk_cache_size})\n")
            finally:
                lock.release()

    def _disk_gc(self) -> None:
        """Delete downloaded versions that are no longer in the table (loader thread)."""
        with self._lock:
            gone = [(k, d[1]) for k, d in self.disk.items() if self._entry(k) is None]
        for k, path in gone:
            with self._key_lock(k):
                with self._lock:
                    if self._entry(k) is not None or k not in self.disk:
                        continue
                    del self.disk[k]
                self._remove_from_disk(k, path)
            _write_stderr(f"deleted {self.label(*k)} from the disk cache (removed)\n")

    # ---------------------------------------------------------------- introspection

    def loaded_versions(self) -> dict:
        out = {}
        for (name, version) in list(self.loaded):
            out.setdefault(name, []).append(version)
        return {n: sorted(vs, key=_version_key) for n, vs in out.items()}


# --------------------------------------------------------------------------- python_client

class PythonClient:
    """python_client: `get_model(model_name=None, model_version="latest")` returns what the predictor's
    load_model(model_path) returned for that version."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get_model(self, model_name=None, model_version="latest"):
        return self._registry.get(model_name, model_version)

    def __repr__(self) -> str:
        return f"<PythonClient models={self._registry.names()}>"


# --------------------------------------------------------------------------- server_side_batching

class _Call:
    __slots__ = ("inputs", "rows", "key", "t", "state", "result", "error")

    def __init__(self, inputs, rows, key):
        self.inputs = inputs
        self.rows = rows
        self.key = key
        self.t = time.monotonic()
        self.state = 0  # 0 waiting, 1 leads the next batch, 2 done
        self.result = None
        self.error = None


def batch_rows(inputs):
    """(rows, key) when every input has the same leading dimension (the caller's rows), else None:
    such a call runs alone. `key` tells calls whose inputs can be concatenated (names, dtypes, the
    other dimensions)."""
    rows = None
    key = []
    for name, arr in inputs.items():
        shape = tuple(arr.shape)
        if not shape:
            return None
        if rows is None:
            rows = shape[0]
        elif shape[0] != rows:
            return None
        key.append((name, str(arr.dtype), shape[1:]))
    if not rows:
        return None
    return rows, tuple(key)


class Batcher:
    """Merges concurrent model calls of one model version into one call along the first (batch)
    dimension (predictor.server_side_batching for the TensorFlow and ONNX predictors).

    Each `call(inputs)` is one predictor thread's client.predict with its converted inputs
    ({name: array with a leading rows dimension}). Calls queue; one of the waiting threads leads: it
    takes up to `max_rows` rows of compatible calls from the head of the queue — at once in the
    adaptive mode (`interval` None: whatever queued while the model was busy), or once the batch is
    full or its oldest call has waited `interval` seconds — concatenates them, runs the model once,
    and hands each caller its own slice of every output. A lone call in the adaptive mode runs on its
    own thread right away: no hand-off, no added latency.
    """

    def __init__(self, run, max_rows: int, interval=None, concat=None, label: str = "the model"):
        self.run = run  # inputs dict -> outputs (dict name -> array, or list of arrays/lists)
        self.max_rows = max(1, int(max_rows))
        self.interval = interval
        self.concat = concat
        self.label = label
        self.cv = threading.Condition(threading.Lock())
        self.queue = deque()
        self.busy = False
        self.batches = 0  # batches run (for logs and tests)

    def call(self, inputs):
        cv = self.cv
        if self.interval is None:
            # adaptive, and the model is free: run now on this thread, nothing to merge
            with cv:
                lone = not self.busy
                if lone:
                    self.busy = True
            if lone:
                try:
                    self.batches += 1
                    return self.run(inputs)
                finally:
                    with cv:
                        if self.queue:  # calls that came meanwhile: the first leads their batch
                            self.queue[0].state = 1
                            cv.notify_all()
                        else:
                            self.busy = False
        shape = batch_rows(inputs)
        if shape is None or shape[0] > self.max_rows:
            return self.run(inputs)
        c = _Call(inputs, shape[0], shape[1])
        with cv:
            self.queue.append(c)
            if self.busy:
                cv.notify_all()  # a leader may be waiting for its batch to fill
                while c.state == 0:
                    cv.wait()
            else:
                self.busy = True
                c.state = 1
        while c.state == 1:
            with cv:
                batch = self._form_locked()
            self._run(batch)
            with cv:
                for x in batch:
                    x.state = 2
                if c.state == 2 or c not in self.queue:
                    if self.queue:
                        self.queue[0].state = 1
                    else:
                        self.busy = False
                    cv.notify_all()
                    break
                cv.notify_all()
        if c.error is not None:
            raise c.error
        return c.result

    def _form_locked(self):
        q = self.queue
        if self.interval:
            deadline = q[0].t + self.interval
            while True:
                if sum(x.rows for x in q) >= self.max_rows:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cv.wait(remaining)
        first = q.popleft()
        batch = [first]
        rows = first.rows
        skipped = []
        while q and rows < self.max_rows:
            x = q.popleft()
            if x.key == first.key and rows + x.rows <= self.max_rows:
                batch.append(x)
                rows += x.rows
            else:
                skipped.append(x)
        q.extendleft(reversed(skipped))
        return batch

    def _run(self, batch):
        self.batches += 1
        if len(batch) == 1:
            c = batch[0]
            try:
                c.result = self.run(c.inputs)
            except BaseException as e:
                c.error = e
            return
        try:
            joined = {name: self.concat([c.inputs[name] for c in batch]) for name in batch[0].inputs}
            outputs = self.run(joined)
            total = sum(c.rows for c in batch)
            items = outputs.items() if isinstance(outputs, dict) else enumerate(outputs)
            for _, out in items:
                if len(out) != total:
                    raise _Unsplittable()
            offset = 0
            for c in batch:
                end = offset + c.rows
                if isinstance(outputs, dict):
                    c.result = {k: v[offset:end] for k, v in outputs.items()}
                else:
                    c.result = [v[offset:end] for v in outputs]
                offset = end
        except BaseException:
            # an output without the batch dimension, or a failure that one call may have caused:
            # each call runs alone, so it gets exactly what it would have got unbatched
            for c in batch:
                try:
                    c.result = self.run(c.inputs)
                except BaseException as e:
                    c.error = e


class _Unsplittable(Exception):
    pass


def _np_concat(arrays):
    import numpy as np
    return np.concatenate(arrays, axis=0)


def _check_onnx_batch_dimension(signatures, path: str) -> None:
    """server_side_batching needs a free first dimension on every input."""
    for meta in signatures:
        shape = meta.shape or []
        if shape and isinstance(shape[0], int) and shape[0] > 0:
            raise ValueError(
                f"server_side_batching: input {meta.name!r} of {os.path.basename(path)} has its first (batch) "
                f"dimension fixed at {shape[0]} (shape {shape}), so requests cannot be merged along it; "
                f"export the model with a dynamic first dimension (torch.onnx.export(..., dynamic_axes="
                f"{{{meta.name!r}: {{0: 'batch'}}}}), skl2onnx initial_types with [None, ...]) or remove "
                f"predictor.server_side_batching")


# --------------------------------------------------------------------------- onnx_client

# https://github.com/microsoft/onnxruntime (type strings of NodeArg.type)
ONNX_TO_NP_TYPE = {
    "tensor(float16)": "float16",
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def load_onnx(path: str, name: str = "", version: str = "", batching=None):
    import onnxruntime as rt
    if os.path.isfile(path):
        model_file = path
    else:
        found = sorted(f for f in os.listdir(path) if f.endswith(".onnx") and os.path.isfile(os.path.join(path, f)))
        if len(found) != 1:
            raise ValueError(f"expected exactly one .onnx file in {path}, found "
                             f"{', '.join(found) if found else 'none'}")
        model_file = os.path.join(path, found[0])
    # every local provider, in onnxruntime's order of preference (CUDA first on a GPU build)
    providers = [p for p in rt.get_available_providers() if p != "AzureExecutionProvider"]
    session = rt.InferenceSession(model_file, providers=providers or None)
    signatures = session.get_inputs()
    input_signatures = {}
    for meta in signatures:
        input_signatures[meta.name] = {"shape": meta.shape, "type": ONNX_TO_NP_TYPE.get(meta.type, meta.type)}
    model = {"session": session, "signatures": signatures, "input_signatures": input_signatures}
    if batching is not None:
        _check_onnx_batch_dimension(signatures, model_file)
        model["_batcher"] = Batcher(lambda inputs: session.run([], inputs), batching["max_batch_size"],
                                    batching["batch_interval"], _np_concat, model_file)
    return model


def _onnx_array(value, meta, model_label: str):
    import numpy as np
    target_dtype = ONNX_TO_NP_TYPE.get(meta.type)
    if target_dtype is None:
        raise ValueError(f"input {meta.name!r} of {model_label}: unsupported input type {meta.type}")
    shape = []
    for dim in (meta.shape or []):
        if isinstance(dim, int) and dim > 0:
            shape.append(dim)
        elif isinstance(dim, str) or (isinstance(dim, int) and dim <= 0) or dim is None:
            shape.append(-1)
        else:
            shape.append(1)
    try:
        if isinstance(value, np.ndarray):
            arr = value
            if np.issubdtype(arr.dtype, np.number) == np.issubdtype(np.dtype(target_dtype), np.number) \
                    or target_dtype == "bool":
                if str(arr.dtype) != target_dtype:
                    arr = arr.astype(target_dtype)
            else:
                raise ValueError(f"expected dtype {target_dtype!r} but found {str(arr.dtype)!r}")
        else:
            arr = np.array(value, dtype=target_dtype)
        # the size can be inferred for at most one unknown dimension
        if meta.shape is not None and shape.count(-1) <= 1:
            arr = arr.reshape(shape)
        return arr
    except Exception as e:
        raise ValueError(f"input {meta.name!r} of {model_label}: cannot convert to a {target_dtype} array "
                         f"of shape {meta.shape}: {e}") from e


def onnx_inputs(model_input, signatures, model_label: str = "the model") -> dict:
    """Cortex's conversion of a predictor's model_input into the session's input dict."""
    inputs = {}
    if len(signatures) == 1:
        meta = signatures[0]
        if isinstance(model_input, dict):
            if model_input.get(meta.name) is None:
                raise ValueError(f"missing key {meta.name!r} for {model_label}")
            model_input = model_input[meta.name]
        inputs[meta.name] = _onnx_array(model_input, meta, model_label)
        return inputs
    if not isinstance(model_input, dict):
        raise ValueError(f"expected model_input to be a dictionary with keys "
                         f"{', '.join(repr(m.name) for m in signatures)} for {model_label}")
    for meta in signatures:
        if model_input.get(meta.name) is None:
            raise ValueError(f"missing key {meta.name!r} for {model_label}")
        inputs[meta.name] = _onnx_array(model_input[meta.name], meta, model_label)
    return inputs


class ONNXClient:
    """onnx_client: `predict(model_input, model_name=None, model_version="latest")` ->
    `session.run([], inputs)` (the list of every output); `get_model()` -> {"session", "signatures",
    "input_signatures"}."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def predict(self, model_input, model_name=None, model_version="latest"):
        model = self._registry.get(model_name, model_version)
        label = "the model" if self._registry.mode == "single" else f"model {model_name!r}"
        inputs = onnx_inputs(model_input, model["signatures"], label)
        batcher = model.get("_batcher")
        if batcher is not None:
            return batcher.call(inputs)
        return model["session"].run([], inputs)

    def get_model(self, model_name=None, model_version="latest"):
        return self._registry.get(model_name, model_version)

    def __repr__(self) -> str:
        return f"<ONNXClient models={self._registry.names()}>"


# --------------------------------------------------------------------------- tensorflow_client

class TFModel:
    """One loaded SavedModel version and its chosen signature."""

    def __init__(self, loaded, signature_key: str, fn, inputs: dict, outputs: dict) -> None:
        self.batcher = None  # a Batcher with server_side_batching
        self.loaded = loaded  # keeps the variables alive
        self.signature_key = signature_key
        self.fn = fn
        self.inputs = inputs  # name -> TensorSpec
        self.outputs = outputs  # name -> TensorSpec

    @property
    def input_signature(self) -> dict:
        return {n: {"shape": s.shape.as_list() if s.shape.rank is not None else None, "type": s.dtype.name}
                for n, s in self.inputs.items()}


def choose_signature(keys, configured, label: str) -> str:
    keys = list(keys)
    if not keys:
        raise ValueError(f"unable to find signature defs in {label}")
    if configured is not None:
        if configured not in keys:
            raise ValueError(f"signature_key {configured!r} was not found in the signature def map of {label}; "
                             f"found: {', '.join(repr(k) for k in keys)}")
        return configured
    if len(keys) == 1:
        return keys[0]
    if "predict" in keys:
        return "predict"
    raise ValueError(f"signature_key was not configured and {label} has several signatures: "
                     f"{', '.join(repr(k) for k in keys)}; set signature_key to one of them")


_tf = None


def _import_tf():
    global _tf
    if _tf is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TF's INFO lines would flood the API's log
        import tensorflow as tf
        _tf = tf
    return _tf


def load_tensorflow(path: str, signature_key=None, label: str = "the model") -> TFModel:
    tf = _import_tf()
    loaded = tf.saved_model.load(path)
    sigs = getattr(loaded, "signatures", None) or {}
    key = choose_signature(sigs.keys(), signature_key, label)
    fn = sigs[key]
    _args, kwargs = fn.structured_input_signature
    inputs = dict(kwargs or {})
    outputs = fn.structured_outputs
    if not isinstance(outputs, dict):
        outputs = {"output_0": outputs}
    return TFModel(loaded, key, fn, inputs, dict(outputs))


def _tf_tensor(tf, value, spec, name: str, label: str):
    import numpy as np
    dtype = spec.dtype
    try:
        if isinstance(value, tf.Tensor):
            t = value if value.dtype == dtype else tf.cast(value, dtype)
        elif dtype == tf.string:
            t = tf.constant(value, dtype=tf.string)
        else:
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            if arr.dtype == object:
                raise ValueError("ragged or non-numeric values")
            if arr.dtype != dtype.as_numpy_dtype:
                if arr.dtype.kind == "f" and dtype.is_integer:
                    if not np.all(np.mod(arr, 1) == 0):
                        raise ValueError(f"expected {dtype.name} values, got floats")
                arr = arr.astype(dtype.as_numpy_dtype)
            t = tf.constant(arr)
    except Exception as e:
        raise ValueError(f"key {name!r} of {label}: cannot convert to {dtype.name}: {e}") from e
    shape = spec.shape
    if shape.rank is not None and not shape.is_compatible_with(t.shape):
        target = [d if d is not None else -1 for d in shape.as_list()]
        if target.count(-1) > 1:
            raise ValueError(f"key {name!r} of {label}: expected shape {shape.as_list()}, got {t.shape.as_list()}")
        try:
            t = tf.reshape(t, target)
        except Exception as e:
            raise ValueError(f"key {name!r} of {label}: expected shape {shape.as_list()}, "
                             f"got {t.shape.as_list()}") from e
    return t


def _tf_run(model: TFModel, tensors) -> dict:
    """One SavedModel call -> {output name: numpy array}."""
    result = model.fn(**tensors)
    if not isinstance(result, dict):
        result = {"output_0": result}
    return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in result.items()}


def _tf_concat(tensors):
    return _import_tf().concat(tensors, axis=0)


def _shortest_float32(values) -> list:
    return [float(str(v)) for v in values]


def tf_output_values(arr) -> list:
    """A flat list the way TF Serving's response went through protobuf's MessageToDict: int64/uint64
    as strings, float32 in shortest form, strings decoded (UTF-8; base64 when they are not text)."""
    import numpy as np
    flat = np.asarray(arr).ravel()
    kind = flat.dtype.kind
    if flat.dtype == np.int64 or flat.dtype == np.uint64:
        return [str(int(v)) for v in flat]
    if flat.dtype == np.float32 or flat.dtype == np.float16:
        return _shortest_float32(flat.astype(np.float32))
    if kind == "c":
        out = []
        for v in flat:
            out += [float(v.real), float(v.imag)]
        return out
    if kind in ("O", "S", "U"):
        out = []
        for v in flat:
            if isinstance(v, bytes):
                try:
                    out.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    import base64
                    out.append(base64.b64encode(v).decode("ascii"))
            else:
                out.append(str(v))
        return out
    return flat.tolist()


class TensorFlowClient:
    """tensorflow_client: `predict(model_input, model_name=None, model_version="latest")` ->
    {output_name: flat list of values}, as Cortex returned TF Serving's answer. The SavedModel runs in
    this process (tf.saved_model.load) instead of a TF Serving container."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def predict(self, model_input, model_name=None, model_version="latest"):
        model = self._registry.get(model_name, model_version)
        label = "the model" if self._registry.mode == "single" else f"model {model_name!r}"
        if not isinstance(model_input, dict):
            raise ValueError(f"model_input must be a dictionary with keys "
                             f"{', '.join(repr(k) for k in model.inputs)} for {label}")
        tf = _import_tf()
        missing = [k for k in model.inputs if k not in model_input]
        if missing:
            keys = ", ".join(repr(k) for k in missing)
            raise ValueError(f"missing key{'s' if len(missing) > 1 else ''} {keys} for {label}")
        tensors = {}
        for key, spec in model.inputs.items():
            tensors[key] = _tf_tensor(tf, model_input[key], spec, key, label)
        if model.batcher is not None:
            result = model.batcher.call(tensors)
        else:
            result = _tf_run(model, tensors)
        return {k: tf_output_values(v) for k, v in result.items()}

    def get_model(self, model_name=None, model_version="latest") -> TFModel:
        return self._registry.get(model_name, model_version)

    def __repr__(self) -> str:
        return f"<TensorFlowClient models={self._registry.names()}>"


# --------------------------------------------------------------------------- setup

class ModelsSpec:
    """The spec's `models` object."""

    def __init__(self, obj) -> None:
        if not isinstance(obj, dict):
            raise ValueError("spec 'models' must be a JSON object")
        self.mode = obj.get("mode") or "single"
        if self.mode not in ("single", "multi"):
            raise ValueError(f"spec models.mode must be 'single' or 'multi', not {self.mode!r}")
        cache = obj.get("cache_size")
        if cache is not None:
            if isinstance(cache, bool) or not isinstance(cache, int) or cache < 1:
                raise ValueError(f"spec models.cache_size must be null or a positive integer, not {cache!r}")
        self.cache_size = cache
        disk = obj.get("disk_cache_size")
        if disk is not None:
            if isinstance(disk, bool) or not isinstance(disk, int) or disk < 1:
                raise ValueError(f"spec models.disk_cache_size must be null or a positive integer, not {disk!r}")
        self.disk_cache_size = disk
        keys = obj.get("signature_keys") or {}
        if not isinstance(keys, dict):
            raise ValueError("spec models.signature_keys must be an object")
        self.signature_keys = keys
        default = obj.get("default_signature_key")
        if default is not None and not isinstance(default, str):
            raise ValueError("spec models.default_signature_key must be null or a string")
        self.default_signature_key = default

    def signature_key(self, name: str):
        """The configured TF signature key of a model (None: choose as Cortex did). Models found in
        `models.dir` are not in signature_keys: they get models.signature_key (default_signature_key)."""
        if name in self.signature_keys:
            return self.signature_keys[name]
        return self.default_signature_key


def make_registry(predictor_type: str, models: ModelsSpec, summarize=None, batching=None) -> Registry:
    """`batching` ({"max_batch_size", "batch_interval"}): TensorFlow/ONNX versions get a Batcher."""
    reg = Registry(models.mode, models.cache_size, None, summarize, models.disk_cache_size)
    if predictor_type == "onnx":
        def load_onnx_version(path, name, version):
            return load_onnx(path, name, version, batching)
        reg.load_fn = load_onnx_version
    elif predictor_type == "tensorflow":
        def load_tf(path, name, version):
            label = reg.label(name, version)
            model = load_tensorflow(path, models.signature_key(name), label)
            if batching is not None:
                model.batcher = Batcher(lambda tensors: _tf_run(model, tensors), batching["max_batch_size"],
                                        batching["batch_interval"], _tf_concat, label)
            return model
        reg.load_fn = load_tf
    else:
        reg.load_unavailable = "the predictor's constructor has not returned yet (load_model is not available)"
    return reg


def make_client(predictor_type: str, registry: Registry):
    if predictor_type == "onnx":
        return ONNXClient(registry)
    if predictor_type == "tensorflow":
        return TensorFlowClient(registry)
    return PythonClient(registry)
