"""End-to-end fixtures: run the real `cortex` binary against real projects and talk HTTP to it."""
import os
import pathlib
import signal
import socket
import subprocess
import textwrap
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("CORTEX_BIN", str(ROOT / ".build" / "debug" / "cortex"))
READY_TIMEOUT = float(os.environ.get("CORTEX_E2E_READY_TIMEOUT", "300"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_pids(pid):
    """Direct children of a process (the workers of a `cortex serve`)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return sorted(children)


def write_project(directory, files):
    """Writes {relative path: text or bytes} under directory (text is dedented)."""
    directory = pathlib.Path(directory)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))
    return directory


class Server:
    """One `cortex serve` process with its output captured to files."""

    def __init__(self, project, args=(), port=None, env=None):
        self.env = env
        self.project = pathlib.Path(project)
        self.port = port or free_port()
        self.args = list(args)
        self.out_path = self.project.parent / f"serve-{self.port}.out"
        self.err_path = self.project.parent / f"serve-{self.port}.err"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", str(self.project), "--port", str(self.port), *self.args],
            stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cortex serve exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s:\n{self.logs()}")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def logs(self):
        return self.stdout() + self.stderr()

    def wait_for_log(self, text, timeout=5):
        """Waits until `text` is in the server's stderr (log lines are flushed every 20 ms)."""
        deadline = time.time() + timeout
        while text not in self.stderr():
            if time.time() > deadline:
                raise AssertionError(f"{text!r} not in the log after {timeout}s:\n{self.stderr()[-3000:]}")
            time.sleep(0.05)

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.out.close()
            self.err.close()

    def exit_code_of_start(self, timeout=300):
        """Starts a server expected to fail and returns its exit code (it is killed if it does not exit)."""
        self.start(wait=False)
        try:
            return self.wait_exit(timeout=timeout)
        finally:
            self.stop()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.out.close()
            self.err.close()
        return self.proc.returncode if self.proc else None

    def post(self, path, **kwargs):
        kwargs.setdefault("timeout", 60)
        return requests.post(self.url + path, **kwargs)

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 60)
        return requests.get(self.url + path, **kwargs)


def run_cli(*args, cwd=None, timeout=120):
    return subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


ECHO_YAML = """
- name: echo
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
"""


class Operator:
    """A local operator under a fresh CORTEX_HOME: the CLI commands as subprocesses, and at the end
    every process the operator started is stopped (its session is killed)."""

    def __init__(self, home=None, port=None):
        import tempfile
        # Unix socket paths are limited to 107 bytes: a short home, not pytest's long tmp_path.
        self.owned = home is None  # made here: removed by stop()
        self.home = pathlib.Path(home or tempfile.mkdtemp(prefix="cx-", dir="/tmp"))
        self.port = port or free_port()
        self.env = dict(os.environ, CORTEX_HOME=str(self.home), CORTEX_PORT=str(self.port))

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args, timeout=300, check=True):
        result = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"cortex {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def deploy(self, project, wait=True, check=True):
        return self.cli("deploy", str(project), *(["--wait"] if wait else []), check=check)

    def get_json(self, name=None):
        import json
        return json.loads(self.cli("get", "-o", "json", *([name] if name else [])).stdout)["realtime_apis"]

    def pid(self):
        try:
            return int((self.home / "operator.lock").read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        return bool(pid) and running(pid)

    def post(self, path, **kwargs):
        kwargs.setdefault("timeout", 60)
        return requests.post(self.url + path, **kwargs)

    def kill(self, sig=signal.SIGKILL):
        """Kills the operator (and, with SIGKILL, its whole session: the workers too)."""
        pid = self.pid()
        if not pid:
            return
        try:
            if sig == signal.SIGKILL:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + 60
        while time.time() < deadline and running(pid):
            time.sleep(0.05)

    def stop(self):
        self.kill(signal.SIGTERM)
        self.kill(signal.SIGKILL)
        if self.owned:
            import shutil
            shutil.rmtree(self.home, ignore_errors=True)

    def log(self, name):
        path = self.home / "logs" / f"{name}.log"
        return path.read_text() if path.exists() else ""


def running(pid):
    """Whether a process exists and is not a zombie."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def operator_processes(home):
    """Pids of `cortex operator` processes whose CORTEX_HOME is `home`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            environ = open(f"/proc/{entry}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if len(cmdline) >= 2 and cmdline[1] == b"operator" and f"CORTEX_HOME={home}".encode() in environ:
            found.append(int(entry))
    return found


def assert_promtool_accepts(text):
    """Every metric has a HELP line, and Prometheus's own linter accepts the exposition."""
    import shutil
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            assert f"# HELP {line.split()[2]} " in text, line
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian's prometheus package; scripts/test.sh installs it)"
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
