"""Helpers of the fault suite: a keep-alive HTTP client that classifies every answer, load loops,
process probes (/proc) and the one-line-per-promise summary (printed by conftest.py at the end)."""
import http.client
import json
import os
import pathlib
import socket
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))

from cortex_e2e import ECHO_YAML, Server, child_pids, write_project  # noqa: E402,F401  (re-exported)

# The summary lines, in the order the tests report them; conftest.py prints them at the end.
RESULTS = []


def report(promise, sent, succeeded, failed, lost, **figures):
    """Records `fault <promise>: sent=N succeeded=N failed=N lost=N k=v…` (and prints it, for -s)."""
    line = f"fault {promise}: sent={sent} succeeded={succeeded} failed={failed} lost={lost}"
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.3f}".rstrip("0").rstrip(".")
        line += f" {key}={value}"
    RESULTS.append(line)
    print(line, flush=True)
    path = os.environ.get("FAULT_SUMMARY_FILE")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
    return line


# --------------------------------------------------------------------------- predictor and projects

# The predictor of most promises: logs each start (and each post_predict) as one line appended to
# $FAULT_LOG, so a test can tell which requests reached the predictor, and on which worker.
PREDICTOR = '''
import os, time

LOG = os.environ["FAULT_LOG"]


def log(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


class PythonPredictor:
    def __init__(self, config):
        self.pid = os.getpid()
        self.sleep = float(config.get("sleep", 0))

    def predict(self, payload):
        if not isinstance(payload, dict):
            payload = {}
        tag = payload.get("tag", "-")
        log(f"start {tag} {self.pid}")
        time.sleep(payload.get("sleep", self.sleep))
        return {"tag": tag, "pid": self.pid}

    def post_predict(self, response, payload):
        if isinstance(response, dict):
            log(f"post {response['tag']}")
'''


def project_yaml(log_path, predictor="", autoscaling="", networking="", sleep=0.0):
    """cortex.yaml for the `echo` API with PREDICTOR; extra lines go under each section."""
    text = ECHO_YAML + f"    config:\n      sleep: {sleep}\n    env:\n      FAULT_LOG: {log_path}\n"
    text += "".join(f"    {line}\n" for line in predictor.splitlines() if line)
    if autoscaling:
        text += "  autoscaling:\n" + "".join(f"    {line}\n" for line in autoscaling.splitlines() if line)
    if networking:
        text += "  networking:\n" + "".join(f"    {line}\n" for line in networking.splitlines() if line)
    return text


def start_server(tmp_path, yaml, predictor=PREDICTOR, args=(), env=None):
    project = write_project(tmp_path / "project", {"cortex.yaml": yaml, "predictor.py": predictor})
    server = Server(project, args=args)
    saved = {}
    for key, value in (env or {}).items():
        saved[key] = os.environ.get(key)
        os.environ[key] = value
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return server


def log_lines(path):
    path = pathlib.Path(path)
    return path.read_text().splitlines() if path.exists() else []


def started(path):
    """{tag: [pid, …]} of the requests that reached predict."""
    runs = {}
    for line in log_lines(path):
        parts = line.split()
        if parts and parts[0] == "start":
            runs.setdefault(parts[1], []).append(int(parts[2]))
    return runs


def posted(path):
    return [line.split()[1] for line in log_lines(path) if line.startswith("post ")]


# --------------------------------------------------------------------------- the client

class Answer:
    """One HTTP answer, with when the request was written and when the answer came."""

    def __init__(self, status, headers, body, sent_at, written_at, answered_at):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body
        self.sent_at = sent_at
        self.written_at = written_at
        self.answered_at = answered_at

    @property
    def latency(self):
        return self.answered_at - self.sent_at

    def json(self):
        return json.loads(self.body)


class NoAnswer(Exception):
    """No HTTP answer at all: `kind` is refused, reset, closed (no bytes) or timeout."""

    def __init__(self, kind, error, sent_at, written_at):
        super().__init__(f"{kind}: {error!r}")
        self.kind = kind
        self.error = error
        self.sent_at = sent_at
        self.written_at = written_at  # None when the request was not completely written


class Client:
    """One keep-alive connection (http.client), reopened after the server closes it."""

    def __init__(self, port, timeout=60.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=b"", headers=None):
        sent_at = time.monotonic()
        written_at = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            written_at = time.monotonic()
            response = self.conn.getresponse()
            data = response.read()
            answered_at = time.monotonic()
            headers = {name.lower(): value for name, value in response.getheaders()}
            if response.will_close:
                self.close()
            return Answer(response.status, headers, data, sent_at, written_at, answered_at)
        except (ConnectionRefusedError,) as e:
            self.close()
            raise NoAnswer("refused", e, sent_at, written_at) from None
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
            self.close()
            raise NoAnswer("reset", e, sent_at, written_at) from None
        except http.client.RemoteDisconnected as e:
            self.close()
            raise NoAnswer("closed", e, sent_at, written_at) from None
        except (socket.timeout, TimeoutError) as e:
            self.close()
            raise NoAnswer("timeout", e, sent_at, written_at) from None
        except (http.client.HTTPException, OSError) as e:
            self.close()
            raise NoAnswer("error", e, sent_at, written_at) from None

    def post_json(self, path, payload, headers=None):
        return self.request("POST", path, json.dumps(payload).encode(),
                            {"Content-Type": "application/json", **(headers or {})})


def one(port, payload):
    """One POST of `payload` to /echo on a fresh connection: the Answer, or the NoAnswer raised."""
    client = Client(port)
    try:
        return client.post_json("/echo", payload)
    except NoAnswer as e:
        return e
    finally:
        client.close()


def json_or_none(answer):
    try:
        return answer.json()
    except ValueError:
        return None


def carries_request_id(answer):
    """A JSON error body whose request_id is the X-Request-ID header."""
    body = json_or_none(answer)
    rid = answer.headers.get("x-request-id")
    return isinstance(body, dict) and bool(rid) and body.get("request_id") == rid


def died_with_its_worker(answer, ran_on, killed):
    """A 502 naming its request id for a request that started only on killed workers. The worker sends
    START before the predictor writes its log line, so a kill in between leaves `ran_on` empty: that
    fits too; a run on a worker that lived does not."""
    return answer.status == 502 and carries_request_id(answer) and not set(ran_on) - set(killed)


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Loop(threading.Thread):
    """Calls `step(client, i)` repeatedly on its own keep-alive connection until stopped; `step` returns
    False to end the loop early. Exceptions other than NoAnswer are kept in `errors`."""

    def __init__(self, port, step, timeout=60.0):
        super().__init__(daemon=True)
        self.client = Client(port, timeout=timeout)
        self.step = step
        self.stopping = threading.Event()
        self.errors = []

    def run(self):
        i = 0
        try:
            while not self.stopping.is_set():
                if self.step(self.client, i) is False:
                    break
                i += 1
        except Exception as e:  # a bug in the test itself: surface it
            self.errors.append(e)
        finally:
            self.client.close()

    def stop(self):
        self.stopping.set()


class ReadyzPoller(threading.Thread):
    """Polls /readyz every `interval` seconds on a keep-alive connection: [(time, status or kind)]."""

    def __init__(self, port, interval=0.02):
        super().__init__(daemon=True)
        self.client = Client(port, timeout=5)
        self.interval = interval
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            now = time.monotonic()
            try:
                self.samples.append((now, self.client.request("GET", "/readyz").status))
            except NoAnswer as e:
                self.samples.append((now, e.kind))
            self.stopping.wait(self.interval)
        self.client.close()

    def stop(self):
        self.stopping.set()
        self.join(10)


# --------------------------------------------------------------------------- /proc probes

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_targets(pid):
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return targets


def files_under(directory):
    count = 0
    for _, dirs, files in os.walk(directory):
        count += len(files) + len(dirs)
    return count


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
