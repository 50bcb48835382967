"""SIGINT while `cortex serve` builds a Python environment stops it promptly, with nothing left running
(issue 9: child processes on swift-subprocess, cancellable preparation)."""
import os
import signal
import time

from cortex_e2e import ECHO_YAML, Server, write_project

PREDICTOR = "class PythonPredictor:\n    def __init__(self, config):\n        pass\n    def predict(self, payload):\n        return 1\n"


def descendants(pid):
    """Every process below `pid` (children, grandchildren, ...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid):
    """Running (a zombie waiting to be reaped by whoever adopted it counts as gone)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def test_sigint_during_an_environment_build_stops_everything(tmp_path):
    marker = tmp_path / "build-started"
    package = write_project(tmp_path / "slowpkg", {
        "setup.py": f"""
            import os, time
            from setuptools import setup
            with open({str(marker)!r}, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
            setup(name="slow-pkg", version="0.1", py_modules=[])
            """,
    })
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML,
        "predictor.py": PREDICTOR,
        "requirements.txt": f"slow-pkg @ file://{package}\n",
    })
    s = Server(project)
    s.start(wait=False)
    try:
        deadline = time.time() + 300
        while not marker.exists() or not marker.read_text():
            assert s.proc.poll() is None, f"serve exited with {s.proc.returncode}:\n{s.logs()}"
            assert time.time() < deadline, f"the build of slow-pkg did not start:\n{s.logs()}"
            time.sleep(0.2)
        build_pid = int(marker.read_text())
        assert alive(build_pid)
        assert "building the Python environment" in s.stderr()
        assert "  | " in s.stderr()  # the installer's progress is shown as it comes
        running = descendants(s.proc.pid)
        assert build_pid in running
        assert any("uv" in command(pid) for pid in running)

        s.proc.send_signal(signal.SIGINT)
        started = time.time()
        code = s.wait_exit(timeout=10)
        elapsed = time.time() - started
    finally:
        s.stop(sig=signal.SIGKILL)
    assert code != 0
    assert elapsed < 10
    assert "interrupted" in s.stderr()
    left = {pid: command(pid) for pid in running if alive(pid)}
    assert not left, f"still running after serve exited: {left}"
