"""Cortex's other project setup files (issue 7): `dependencies.sh` runs once per distinct content inside
the API's environment, before the requirements, its output shown as progress, a failure stopping the
start with its output; `conda-packages.txt` without a conda installer is a clear error."""
import uuid

from cortex_e2e import ECHO_YAML, Server, write_project

PREDICTOR = '''
import os, sys
class PythonPredictor:
    def __init__(self, config):
        with open(os.path.join(sys.prefix, "from-dependencies-sh")) as f:
            self.marker = f.read().strip()
    def predict(self, payload):
        return {"marker": self.marker}
'''


def test_dependencies_sh_runs_once_in_the_environment(tmp_path):
    runs = tmp_path / "runs.txt"
    token = uuid.uuid4().hex  # a fresh environment for this test run
    script = f"""set -e
echo "setting up {token}"
echo run >> {runs}
# the environment's python and pip come first on PATH
python -c 'import sys; open(sys.prefix + "/from-dependencies-sh", "w").write("{token}")'
test "$(command -v pip)" = "$VIRTUAL_ENV/bin/pip"
"""
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR, "dependencies.sh": script})
    for attempt in range(2):
        server = Server(project).start()
        try:
            assert server.post("/echo", json={}).json() == {"marker": token}
        finally:
            server.stop()
        if attempt == 0:
            assert f"| setting up {token}" in server.logs()
    assert runs.read_text().splitlines() == ["run"]  # the second start reused the environment


def test_a_failing_dependencies_sh_stops_the_start_with_its_output(tmp_path):
    token = uuid.uuid4().hex
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR,
        "dependencies.sh": f"echo 'cannot find libfoo {token}'\nexit 3\n"})
    server = Server(project)
    assert server.exit_code_of_start() != 0
    logs = server.logs()
    assert "dependencies.sh of api echo failed (exit status 3)" in logs
    assert f"cannot find libfoo {token}" in logs
    assert "Traceback" not in logs


def test_conda_packages_without_an_installer_is_a_clear_error(tmp_path):
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML, "predictor.py": PREDICTOR,
        "conda-packages.txt": f"# {uuid.uuid4().hex}\nconda-forge::rdkit\nnumpy=1.26\n"})
    server = Server(project)
    assert server.exit_code_of_start() != 0
    logs = server.logs()
    assert "conda-packages.txt of api echo lists 2 conda package(s), but no conda installer" in logs
    assert "micromamba" in logs and "requirements.txt" in logs
