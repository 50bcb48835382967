"""Installing (issue 7): scripts/install.sh puts a working `cortex` under a prefix, and a binary without
its Python runtime fails with a clear one-line error, never a crash or a traceback.

The install uses the binary under test (CORTEX_BIN, the debug build in scripts/test.sh) through
install.sh's CORTEX_INSTALL_BINARY, so the suite does not build a release binary. With
CORTEX_E2E_INSTALL_RELEASE=1 the test runs install.sh exactly as a user does (`swift build -c release`).
"""
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from cortex_e2e import BIN, READY_TIMEOUT, ROOT

INSTALL = ROOT / "scripts" / "install.sh"
RUNTIME = ROOT / "Sources" / "Workers" / "python"


def clean_env(**extra):
    """The environment of a user's shell: no runtime override, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("CORTEX_RUNTIME_DIR", "CORTEX_WORKER_RUNTIME")}
    env.update(extra)
    return env


def install(prefix, *args, env=None):
    env = env or clean_env()
    if os.environ.get("CORTEX_E2E_INSTALL_RELEASE") != "1":
        env["CORTEX_INSTALL_BINARY"] = BIN
    return subprocess.run(
        ["bash", str(INSTALL), "--prefix", str(prefix), *args],
        capture_output=True, text=True, env=env, timeout=1800)


class Served:
    """`cortex serve PROJECT --port 0` started with `command`; the port is read from its 'is live' line."""

    def __init__(self, command, project, cwd, env):
        self.out_path = cwd / f"serve-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [*command, "serve", str(project), "--port", "0"],
            cwd=cwd, env=env, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)

    def logs(self):
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    def url(self, timeout=READY_TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = re.search(r"api echo is live at (http://127\.0\.0\.1:\d+)/echo", self.logs())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"cortex serve exited with {self.proc.returncode}:\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"not live after {timeout}s:\n{self.logs()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()
        return self.proc.returncode


def serve_and_predict(command, project, cwd, env):
    served = Served(command, project, cwd, env)
    try:
        url = served.url()
        response = requests.post(url + "/echo", json={"text": "installed"}, timeout=60)
        assert response.status_code == 200, served.logs()
        assert response.json() == {"text": "installed"}
    finally:
        assert served.stop() == 0, served.logs()


@pytest.fixture
def echo(tmp_path):
    """A copy of examples/echo (serving stages a copy inside the project: keep the checkout clean)."""
    project = tmp_path / "echo"
    shutil.copytree(ROOT / "examples" / "echo", project)
    return project


@pytest.fixture
def elsewhere(tmp_path):
    """A working directory far from the checkout."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def test_installed_binary_serves_from_any_directory(tmp_path, echo, elsewhere):
    prefix = tmp_path / "prefix"
    result = install(prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (prefix / "bin" / "cortex").is_file()
    assert os.access(prefix / "bin" / "cortex", os.X_OK)
    assert (prefix / "share" / "cortex" / "python" / "cortex_worker" / "__main__.py").is_file()
    assert (prefix / "share" / "cortex" / "python" / "requirements.txt").is_file()
    assert not list((prefix / "share" / "cortex" / "python").rglob("__pycache__"))
    assert f"installed {prefix}/bin/cortex" in result.stdout
    assert f"{prefix}/bin is not on PATH" in result.stdout
    assert f'export PATH="{prefix}/bin:$PATH"' in result.stdout

    # As a user runs it: by name, from PATH, in another directory.
    env = clean_env(PATH=f"{prefix / 'bin'}:{os.environ['PATH']}")
    serve_and_predict(["cortex"], echo, elsewhere, env)

    # The same install again (an upgrade) replaces the files in place and now finds the prefix on PATH.
    again = install(prefix, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{prefix}/bin is on PATH" in again.stdout


def test_a_symlink_to_the_installed_binary_finds_the_runtime(tmp_path, echo, elsewhere):
    prefix = tmp_path / "prefix"
    assert install(prefix).returncode == 0
    links = tmp_path / "links"
    links.mkdir()
    (links / "cortex").symlink_to(prefix / "bin" / "cortex")
    serve_and_predict([str(links / "cortex")], echo, elsewhere, clean_env())


def test_uninstall_removes_what_install_put(tmp_path):
    prefix = tmp_path / "prefix"
    assert install(prefix).returncode == 0
    (prefix / "bin" / "other-tool").write_text("kept")
    result = install(prefix, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not (prefix / "bin" / "cortex").exists()
    assert not (prefix / "share" / "cortex").exists()
    assert (prefix / "bin" / "other-tool").read_text() == "kept"
    assert f"removed {prefix}/bin/cortex" in result.stdout
    assert install(prefix, "--uninstall").stdout.strip() == f"nothing to remove under {prefix}"


def test_prefix_from_the_environment(tmp_path):
    prefix = tmp_path / "from-env"
    env = clean_env(PREFIX=str(prefix))
    if os.environ.get("CORTEX_E2E_INSTALL_RELEASE") != "1":
        env["CORTEX_INSTALL_BINARY"] = BIN
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin" / "cortex").is_file()


def run_alone(binary, echo, cwd, env):
    return subprocess.run(
        [str(binary), "serve", str(echo), "--port", "0"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def assert_clear_failure(result):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert result.returncode < 128, f"killed by a signal: {output}"
    for crash in ("Traceback", "Fatal error", "fatalError", "could not load resource bundle", "Stack dump"):
        assert crash not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


def test_a_binary_copied_alone_fails_with_a_clear_message(tmp_path, echo, elsewhere):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy2(BIN, alone / "cortex")
    result = run_alone(alone / "cortex", echo, elsewhere, clean_env())
    line = assert_clear_failure(result)
    assert "cannot find the Python worker runtime" in line
    assert "CORTEX_RUNTIME_DIR" in line
    assert "scripts/install.sh" in line
    # It names where it looked: beside the binary, and the prefix's share folder.
    assert f"{alone}/cortex-swift_Workers.resources/python" in line
    assert f"{tmp_path}/share/cortex/python" in line
    # Nothing was started or staged.
    assert not (echo / ".cortex").exists() or not list((echo / ".cortex").iterdir())


def test_a_removed_runtime_is_named_and_cortex_runtime_dir_fixes_it(tmp_path, echo, elsewhere):
    prefix = tmp_path / "prefix"
    assert install(prefix).returncode == 0
    shutil.rmtree(prefix / "share" / "cortex")
    line = assert_clear_failure(run_alone(prefix / "bin" / "cortex", echo, elsewhere, clean_env()))
    assert f"{prefix}/share/cortex/python" in line

    # A wrong CORTEX_RUNTIME_DIR is an error naming it, not a fallback.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    line = assert_clear_failure(
        run_alone(prefix / "bin" / "cortex", echo, elsewhere, clean_env(CORTEX_RUNTIME_DIR=str(wrong))))
    assert f"CORTEX_RUNTIME_DIR={wrong} (no cortex_worker/ there)" in line

    # Pointing CORTEX_RUNTIME_DIR at the checkout's runtime makes the lone binary serve.
    serve_and_predict(
        [str(prefix / "bin" / "cortex")], echo, elsewhere, clean_env(CORTEX_RUNTIME_DIR=str(RUNTIME)))
