"""Project directory, .cortexignore, .env, python_path, managed environment (issue 2, items 2 and 3)."""
import time

from cortex_e2e import ECHO_YAML, run_cli

LISTER = '''
import os, sys
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        files = []
        for root, dirs, names in os.walk("."):
            for name in names:
                files.append(os.path.relpath(os.path.join(root, name), "."))
        return {"files": sorted(files), "cwd_has_values": os.path.exists("values.json"),
                "env": {k: os.environ.get(k) for k in ["FROM_DOTENV", "WITH_EQUALS", "FROM_SPEC", "OVERRIDDEN",
                                                       "CORTEX_PROVIDER", "CORTEX_THREADS_PER_PROCESS"]}}
'''


def test_predictor_sees_only_visible_files_and_gets_env(serve):
    s = serve({
        "cortex.yaml": ECHO_YAML + "    env:\n      FROM_SPEC: spec\n      OVERRIDDEN: spec\n",
        "predictor.py": LISTER,
        "values.json": "{}",
        ".hidden": "x",
        ".git/config": "x",
        "pkg/mod.pyc": b"\0",
        "pkg/__pycache__/m.cpython-311.pyc": b"\0",
        "pkg/keep.txt": "k",
        "data/big.bin": b"\1" * 10,
        "data/keep.csv": "a",
        "logs/a.log": "x",
        "sub/logs/b.log": "x",
        ".cortexignore": "*.bin\n/logs/\n!data/keep.csv\nsub/**/*.log\n",
        ".env": "# comment\n\nFROM_DOTENV=hello\nWITH_EQUALS=a=b=c\nOVERRIDDEN=dotenv\n",
    })
    body = s.post("/echo", json={}).json()
    assert body["files"] == ["data/keep.csv", "pkg/keep.txt", "predictor.py", "values.json"]
    assert body["cwd_has_values"]
    assert body["env"] == {"FROM_DOTENV": "hello", "WITH_EQUALS": "a=b=c", "FROM_SPEC": "spec",
                           "OVERRIDDEN": "dotenv", "CORTEX_PROVIDER": "local", "CORTEX_THREADS_PER_PROCESS": "1"}


def test_malformed_dotenv_names_file_and_line(tmp_path):
    from cortex_e2e import write_project
    project = write_project(tmp_path / "p", {"cortex.yaml": ECHO_YAML, "predictor.py": LISTER,
                                             ".env": "A=1\nthis is not an assignment\n"})
    result = run_cli("validate", str(project))
    assert result.returncode == 1
    assert ".env:2" in result.stderr


def test_python_path_is_importable(serve):
    s = serve({
        "cortex.yaml": ECHO_YAML + "    python_path: lib\n",
        "predictor.py": "from helper import VALUE\nclass PythonPredictor:\n    def __init__(self, config):\n        pass\n"
                        "    def predict(self):\n        return VALUE\n",
        "lib/helper.py": "VALUE = 'from lib'\n",
    })
    assert s.post("/echo").text == "from lib"


def test_requirements_are_installed_and_the_environment_is_reused(serve):
    files = {
        "cortex.yaml": ECHO_YAML,
        "requirements.txt": "six==1.16.0\n",
        "predictor.py": "import six\nclass PythonPredictor:\n    def __init__(self, config):\n        pass\n"
                        "    def predict(self):\n        return six.__version__\n",
    }
    first = serve(files, name="first")
    assert first.post("/echo").text == "1.16.0"
    first.stop()
    started = time.time()
    second = serve(files, name="second")
    assert second.post("/echo").text == "1.16.0"
    assert "building the Python environment" not in second.stderr()
    assert time.time() - started < 10


def test_failing_install_names_the_requirement(tmp_path):
    from cortex_e2e import Server, write_project
    project = write_project(tmp_path / "p", {
        "cortex.yaml": ECHO_YAML, "predictor.py": LISTER,
        "requirements.txt": "this-package-does-not-exist-cortex-swift==0.0.1\n"})
    s = Server(project).start(wait=False)
    assert s.wait_exit(300) != 0
    assert "this-package-does-not-exist-cortex-swift" in s.stderr()


def test_server_side_batching_validates_without_a_warning(tmp_path):
    from cortex_e2e import run_cli, write_project
    project = write_project(tmp_path / "p", {
        "cortex.yaml": """
            - name: batched
              kind: RealtimeAPI
              predictor:
                type: tensorflow
                path: predictor.py
                model_path: model/
                threads_per_process: 2
                server_side_batching:
                  max_batch_size: 2
                  batch_interval: 0.1s
        """,
        "predictor.py": """
            class TensorFlowPredictor:
                def __init__(self, tensorflow_client, config):
                    self.client = tensorflow_client

                def predict(self, payload):
                    return self.client.predict(payload)
        """,
        "model/saved_model.pb": b"x",
        "model/variables/variables.index": b"x",
        "model/variables/variables.data-00000-of-00001": b"x",
    })
    result = run_cli("validate", str(project))
    assert result.returncode == 0, result.stderr
    assert "server_side_batching" not in result.stderr
    assert "not implemented" not in result.stderr
