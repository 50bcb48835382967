"""Predictor metrics (docs/PROTOCOL.md "METRICS", README "Predictor metrics"): the `metrics_client` a
predictor's constructor may take, and the buffer that carries its calls — and the runtime's model-load
metrics — to the front.

A call never blocks predict and never touches the socket: it validates its arguments (a bad name, tag or
value raises ValueError at the call site), then updates an in-memory buffer under a
short lock: counters are summed and gauges keep their last value per series (name + tags), histogram
observations are kept one by one. A flusher thread sends what is buffered as one METRICS frame at most
every FLUSH_INTERVAL, sooner once FLUSH_AT entries wait, and a last time at shutdown. Beyond MAX_PENDING
entries (the front not reading), new series and observations are dropped and counted, with one warning.

The naming rules are pinned by Tests/vectors/metrics.json, shared with the front (CortexMetrics'
PredictorMetricsCatalog), which checks every entry again: the worker is not trusted.
"""
from __future__ import annotations

import math
import numbers
import re
import sys
import threading
import time

from . import protocol as P

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_NAME = 128  # characters of a metric or tag name
MAX_TAGS = 16
MAX_TAG_VALUE = 1024  # characters
RESERVED_PREFIX = "cortex_"
RESERVED_LABELS = frozenset(("api", "le", "quantile"))  # the front's API label; histogram / summary labels
RESERVED_SUFFIXES = ("_bucket", "_sum", "_count")  # a histogram's series

MODEL_LOADS = "cortex_model_loads_total"
MODEL_LOAD_SECONDS = "cortex_model_load_seconds"

FLUSH_INTERVAL = 0.1  # seconds between METRICS frames, at most
FLUSH_AT = 512  # entries waiting that trigger a frame at once
MAX_PENDING = 20000  # entries held while the front does not read; more are dropped
MAX_REMEMBERED = 10000  # validated (kind, name) pairs remembered for the fast path

KINDS = ("counter", "gauge", "histogram")


def MetricsError(code: str, message: str) -> ValueError:
    """A metrics_client call with a bad name, tags or value: a plain ValueError (what the predictor's author
    sees in the traceback) whose `code` names the rule (Tests/vectors/metrics.json)."""
    error = ValueError(message)
    error.code = code
    return error


def exposed_name(kind: str, name: str) -> str:
    """The Prometheus name: a counter's gets `_total` unless it has it."""
    if kind == "counter" and not name.endswith("_total"):
        return name + "_total"
    return name


def check_name(kind: str, name) -> str:
    """-> the exposed name; raises MetricsError."""
    if not isinstance(name, str) or len(name) > MAX_NAME or NAME_RE.fullmatch(name) is None:
        raise MetricsError(
            "invalid-name",
            f"metric name {name!r} is not a valid Prometheus metric name: use ASCII letters, digits, '_' and ':', "
            f"not starting with a digit, at most {MAX_NAME} characters (e.g. 'predictions_total')")
    exposed = exposed_name(kind, name)
    if name.startswith(RESERVED_PREFIX) or exposed.startswith(RESERVED_PREFIX):
        raise MetricsError(
            "reserved-name",
            f"metric name {name!r} is reserved: names starting with {RESERVED_PREFIX!r} are Cortex's own metrics; "
            f"choose another prefix (e.g. your project's name)")
    if name.endswith(RESERVED_SUFFIXES) or (kind != "counter" and name.endswith("_total")):
        suffix = "_" + name.rsplit("_", 1)[1]
        raise MetricsError(
            "reserved-suffix",
            f"metric name {name!r}: the suffix {suffix!r} is reserved "
            f"({'for counters' if suffix == '_total' else 'for the series of histograms'}); drop or rename it")
    return exposed


def check_tags(tags) -> tuple:
    """-> the tags as a sorted tuple of (name, value); raises MetricsError."""
    if tags is None:
        return ()
    if not isinstance(tags, dict):
        raise MetricsError("tags-not-a-dict", f"tags must be a dict of str to str, not {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise MetricsError("too-many-tags", f"{len(tags)} tags: a metric takes at most {MAX_TAGS}")
    for key, value in tags.items():
        if not isinstance(key, str) or len(key) > MAX_NAME or LABEL_RE.fullmatch(key) is None:
            raise MetricsError(
                "invalid-label",
                f"tag name {key!r} is not a valid Prometheus label name: use ASCII letters, digits and '_', "
                f"not starting with a digit, at most {MAX_NAME} characters")
        if key in RESERVED_LABELS or key.startswith("__"):
            raise MetricsError(
                "reserved-label",
                f"tag name {key!r} is reserved ('api' is set by Cortex to the API's name; 'le', 'quantile' and "
                f"names starting with '__' belong to Prometheus)")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            what = f"{len(value)} characters long" if isinstance(value, str) else f"a {type(value).__name__}"
            raise MetricsError(
                "tag-value", f"tag {key!r}: its value must be a str of at most {MAX_TAG_VALUE} characters, not {what}")
    return tuple(sorted(tags.items()))


def check_value(kind: str, value):
    """-> the value as an int (exact) or a finite float; raises MetricsError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MetricsError("not-a-number", f"metric value {value!r} is not a number (int or float)")
    if isinstance(value, numbers.Integral) and -(1 << 53) <= value <= (1 << 53):
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise MetricsError("not-finite", f"metric value {value!r} is not finite")
    if kind == "counter" and value < 0:
        raise MetricsError("negative-increment",
                           f"increment by {value!r}: a counter only goes up (use gauge() for a value that goes down)")
    return value


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        pass


class MetricsBuffer:
    """What is waiting for the next METRICS frame, and the flusher thread that sends it."""

    def __init__(self, interval: float = FLUSH_INTERVAL, flush_at: int = FLUSH_AT,
                 max_pending: int = MAX_PENDING) -> None:
        self.interval = interval
        self.flush_at = flush_at
        self.max_pending = max_pending
        self._cond = threading.Condition(threading.Lock())
        self._counters: dict = {}  # (name, tags) -> sum since the last frame
        self._gauges: dict = {}  # (name, tags) -> last value
        self._histograms: list = []  # (name, tags, value)
        self._pending = 0
        self._dropped = 0
        self._warned = False
        self._stopping = False
        self._thread = None
        self._kinds: dict = {}  # a name (as called and as exposed) -> the kind it was first used as
        self._valid: set = set()  # (kind, name) pairs that passed check_name

    # ---------------------------------------------------------------- recording

    def record(self, kind: str, name, value, tags) -> None:
        """A predictor's call: validate (raises MetricsError), then buffer."""
        if (kind, name if type(name) is str else None) not in self._valid:
            self._admit(kind, name)
        tags = check_tags(tags) if tags is not None else ()
        self.add(kind, name, tags, check_value(kind, value))

    def _admit(self, kind: str, name) -> None:
        exposed = check_name(kind, name)
        kinds = self._kinds
        for n in (name, exposed):
            first = kinds.get(n)
            if first is not None and first != kind:
                raise MetricsError(
                    "kind-conflict",
                    f"metric {name!r} was first recorded as a {first}; a metric name keeps one type "
                    f"(use another name for the {kind})")
        if len(kinds) < 2 * MAX_REMEMBERED:
            kinds.setdefault(name, kind)
            kinds.setdefault(exposed, kind)
            self._valid.add((kind, name))

    def add(self, kind: str, name: str, tags: tuple, value) -> None:
        """Buffer an entry whose name, tags and value are already valid (the runtime's own metrics)."""
        with self._cond:
            if kind == "histogram":
                if self._pending >= self.max_pending:
                    self._dropped += 1
                    return
                self._histograms.append((name, tags, value))
            else:
                table = self._counters if kind == "counter" else self._gauges
                key = (name, tags)
                current = table.get(key)
                if current is None:
                    if self._pending >= self.max_pending:
                        self._dropped += 1
                        return
                    table[key] = value
                else:
                    table[key] = current + value if kind == "counter" else value
                    return
            self._pending += 1
            if self._pending == 1 or self._pending == self.flush_at:
                self._cond.notify()

    def model_load(self, model: str, version: str, ok: bool, seconds=None) -> None:
        """One model load (models.Registry): its outcome, and how long a successful one took."""
        self.add("counter", MODEL_LOADS,
                 (("model", model), ("outcome", "ok" if ok else "error"), ("version", version)), 1)
        if ok and seconds is not None:
            self.add("histogram", MODEL_LOAD_SECONDS, (("model", model),), float(seconds))

    # ---------------------------------------------------------------- frames

    def _drain_locked(self) -> list:
        out = [{"kind": "counter", "name": n, "value": v, "tags": dict(t)} for (n, t), v in self._counters.items()]
        out += [{"kind": "gauge", "name": n, "value": v, "tags": dict(t)} for (n, t), v in self._gauges.items()]
        out += [{"kind": "histogram", "name": n, "value": v, "tags": dict(t)} for n, t, v in self._histograms]
        self._counters = {}
        self._gauges = {}
        self._histograms = []
        self._pending = 0
        return out

    def take_frame(self):
        """The METRICS frame of everything buffered (None when nothing is), emptying the buffer."""
        with self._cond:
            entries = self._drain_locked()
            dropped, self._dropped = self._dropped, 0
        self._warn_dropped(dropped)
        if not entries:
            return None
        return P.encode_frame(P.METRICS, 0, P.encode_metrics_meta(entries))

    def _warn_dropped(self, dropped: int) -> None:
        if dropped and not self._warned:
            self._warned = True
            _write_stderr(f"cortex_worker: metrics: dropped {dropped} observation(s): more than {self.max_pending} "
                          f"were waiting for the front (further drops are not reported)\n")

    # ---------------------------------------------------------------- the flusher

    def start(self, send) -> None:
        """Send METRICS frames with `send(bytes)` (thread-safe) from a background thread, until stop()."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(send,), name="metrics-flusher", daemon=True)
        self._thread.start()

    def _run(self, send) -> None:
        cond = self._cond
        last = time.monotonic() - self.interval
        while True:
            with cond:
                while self._pending == 0 and not self._stopping:
                    cond.wait()
                due = last + self.interval
                while self._pending < self.flush_at and not self._stopping:
                    remaining = due - time.monotonic()
                    if remaining <= 0:
                        break
                    cond.wait(remaining)
                stopping = self._stopping
            frame = self.take_frame()
            if frame is not None:
                try:
                    send(frame)
                except Exception as e:  # never let the flusher die; the worker notices a broken socket itself
                    _write_stderr(f"cortex_worker: metrics: cannot send: {e}\n")
                last = time.monotonic()
            if stopping:
                return

    def stop(self, send=None, timeout: float = 2.0) -> None:
        """Flush what is buffered (with the flusher thread, or `send` when there is none) and stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        elif send is not None:
            frame = self.take_frame()
            if frame is not None:
                send(frame)


class MetricsClient:
    """The `metrics_client` argument of a predictor's constructor. Each call is validated at once (a bad
    name, tag or value raises ValueError) and buffered; the front exposes the values on GET /metrics with
    the label api=<the API's name> plus the tags."""

    __slots__ = ("_record",)

    def __init__(self, buffer: MetricsBuffer) -> None:
        self._record = buffer.record

    def increment(self, name: str, value=1, tags=None) -> None:
        """Add `value` (≥ 0, default 1) to the counter `name` (exposed as `name_total` unless it ends so)."""
        self._record("counter", name, value, tags)

    def gauge(self, name: str, value, tags=None) -> None:
        """Set the gauge `name` to `value`."""
        self._record("gauge", name, value, tags)

    def histogram(self, name: str, value, tags=None) -> None:
        """Observe `value` in the histogram `name` (buckets from 0.001 to 10000)."""
        self._record("histogram", name, value, tags)

    def __repr__(self) -> str:
        return "<cortex MetricsClient>"
