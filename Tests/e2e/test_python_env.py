"""`cortex serve --python-env PATH` (issue 8, GPU boxes): serve with an existing Python environment as it
is — nothing is built or installed — after checking that it can import what the worker runtime needs."""
import subprocess
import sys

from cortex_e2e import ECHO_YAML, Server, write_project

PREDICTOR = '''
import sys
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        return {"python": sys.executable}
'''


def test_serves_with_an_existing_interpreter_without_building(tmp_path):
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR, "requirements.txt": "left-pad-not-installed==9.9\n"})
    # the test environment's own interpreter has starlette (the runtime's pinned need)
    server = Server(project, args=["--python-env", sys.executable]).start()
    try:
        assert server.post("/echo", json={}).json() == {"python": sys.executable}
    finally:
        server.stop()
    logs = server.logs()
    assert "building the Python environment" not in logs
    assert "requirements.txt, dependencies.sh and conda-packages.txt are not installed" in logs


def test_a_virtualenv_missing_the_runtime_modules_is_named(tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    server = Server(project, args=["--python-env", str(bare)])
    assert server.exit_code_of_start(timeout=60) != 0
    logs = server.logs()
    assert f"--python-env {bare}: the worker runtime needs starlette" in logs
    assert "'starlette==" in logs
    assert "Traceback" not in logs


def test_a_path_that_is_not_an_environment_is_an_error(tmp_path):
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR})
    server = Server(project, args=["--python-env", str(tmp_path)])
    assert server.exit_code_of_start(timeout=60) != 0
    assert f"--python-env {tmp_path}: not a virtualenv (no bin/python)" in server.logs()
