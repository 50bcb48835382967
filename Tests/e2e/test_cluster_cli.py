"""`cortex cluster build` (the image's build context) and the commands against a cluster (`deploy`,
`get`, `logs`, `delete`, `refresh` with `--env`), through the real binary. No container engine and no
cluster run on the development machine: the context's contents are checked file by file, `deploy
--dry-run` output is validated with kubernetes-validate, and the errors without a cluster are checked."""
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import time

import pytest
import yaml

from cortex_e2e import BIN, write_project

VALIDATE = pathlib.Path(sys.executable).parent / "kubernetes-validate"

PROJECT = {
    "cortex.yaml": """
        - name: iris
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
          autoscaling:
            min_replicas: 0
            max_replicas: 4
            target_replica_concurrency: 2
        - name: digits
          kind: RealtimeAPI
          predictor:
            type: onnx
            path: onnx_predictor.py
            model_path: model/
    """,
    "predictor.py": "class PythonPredictor:\n    def __init__(self, config):\n        pass\n    def predict(self, payload):\n        return 1\n",
    "onnx_predictor.py": "class ONNXPredictor:\n    def __init__(self, onnx_client, config):\n        self.client = onnx_client\n    def predict(self, payload):\n        return 1\n",
    "model/1/model.onnx": b"not read by these tests",
    "requirements.txt": "tqdm==4.67.1\n",
    "dependencies.sh": "echo setting up\n",
    ".cortexignore": "notes/\n*.csv\n",
    "notes/secret.txt": "ignored\n",
    "data.csv": "a,b\n",
    ".env": "TOKEN=abc\n",
    ".hidden": "hidden\n",
    "helper.py": "X = 1\n",
}


def run(*args, env=None, timeout=120):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def lone_binary(tmp_path):
    """A binary that loads no Swift runtime: the static build when CORTEX_STATIC_BIN names it, else a
    system executable (the context test checks where the binary goes, not what it does)."""
    source = os.environ.get("CORTEX_STATIC_BIN") or shutil.which("true")
    target = tmp_path / "static-cortex"
    shutil.copy(source, target)
    return target


def test_build_writes_a_complete_context(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    context = tmp_path / "ctx"
    result = run("cluster", "build", str(project), "--tag", "reg.example/p:3", "-o", str(context),
                 "--binary", str(lone_binary(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert f"wrote the build context to {context}" in result.stdout
    # No engine runs here: said plainly, with the command to run where one does; the context stays.
    assert "not building the image:" in result.stdout
    assert f"docker build -t reg.example/p:3 {context}" in result.stdout

    dockerfile = (context / "Dockerfile").read_text().splitlines()
    assert dockerfile[1] == "FROM debian:bookworm-slim"
    assert "RUN python3 -m venv /cortex/env" in dockerfile
    assert "COPY cortex /usr/local/bin/cortex" in dockerfile
    assert "COPY runtime/ /usr/local/share/cortex/python/" in dockerfile
    assert dockerfile[-2] == 'ENTRYPOINT ["/usr/local/bin/cortex"]'
    # dependencies.sh runs in the project, before the requirements, with the environment on PATH.
    steps = [line for line in dockerfile if line.startswith(("COPY project/", "RUN cd /cortex/project", "RUN /cortex/env/bin/pip"))]
    assert steps[0] == "COPY project/ /cortex/project/"
    assert "bash /cortex/build/dependencies.sh" in steps[1] and "PATH=/cortex/env/bin:$PATH" in steps[1]
    assert steps[2].startswith("RUN /cortex/env/bin/pip install") and "-r /cortex/build/requirements.txt" in steps[2]

    assert os.stat(context / "cortex").st_mode & stat.S_IXUSR
    assert (context / "runtime" / "cortex_worker" / "__main__.py").is_file()
    assert not list((context / "runtime").rglob("__pycache__"))
    staged = sorted(str(p.relative_to(context / "project")) for p in (context / "project").rglob("*") if p.is_file())
    # .cortexignore, hidden files and .env stay out (the .env goes to a Secret); the config is cortex.yaml.
    assert staged == ["cortex.yaml", "dependencies.sh", "helper.py", "model/1/model.onnx", "onnx_predictor.py",
                      "predictor.py", "requirements.txt"]
    requirements = (context / "build" / "requirements.txt").read_text().splitlines()
    assert "starlette==1.10.0" in requirements and "onnxruntime==1.32.0" in requirements
    assert "tqdm==4.67.1" in requirements
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert len(pins) == len(set(pins)), "each runtime need once, for both predictor types"
    assert (context / "build" / "dependencies.sh").read_text() == "echo setting up\n"


def test_the_image_runs_what_the_deployment_asks(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    context = tmp_path / "ctx"
    assert run("cluster", "build", str(project), "-o", str(context), "--binary",
               str(lone_binary(tmp_path))).returncode == 0
    out = tmp_path / "k8s"
    rendered = run("cluster", "render", str(project), "-o", str(out), "--image", "reg.example/p:3")
    assert rendered.returncode == 0, rendered.stderr
    dockerfile = (context / "Dockerfile").read_text().splitlines()
    entrypoint = yaml.safe_load(dockerfile[-2].split(" ", 1)[1])
    image_command = yaml.safe_load(dockerfile[-1].split(" ", 1)[1])
    copies = {line.split()[2].rstrip("/") for line in dockerfile if line.startswith("COPY ")}
    deployment = yaml.safe_load((out / "iris-deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container, "the image's ENTRYPOINT runs the Deployment's args"
    args = container["args"]
    assert entrypoint == ["/usr/local/bin/cortex"] and "/usr/local/bin/cortex" in copies
    assert args[:4] == ["serve", "/cortex/project", "--python-env", "/cortex/env"] == image_command[:4]
    assert "/cortex/project" in copies
    assert args[args.index("--port") + 1] == image_command[image_command.index("--port") + 1] == "8888"
    assert f"EXPOSE {container['ports'][0]['containerPort']}" in dockerfile
    assert args[args.index("--api") + 1] == "iris" and "--api" not in image_command


def test_build_refuses_a_dynamic_binary_and_conda_packages(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    needed = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
    if "libswiftCore" in needed:  # the debug build under test
        result = run("cluster", "build", str(project), "-o", str(tmp_path / "ctx"))
        assert result.returncode == 1
        assert "loads the Swift runtime dynamically (libswiftCore.so" in result.stderr
        assert "swift build -c release --static-swift-stdlib" in result.stderr and "--binary" in result.stderr
    conda = write_project(tmp_path / "q", {**PROJECT, "conda-packages.txt": "numpy\n"})
    result = run("cluster", "build", str(conda), "-o", str(tmp_path / "ctx2"), "--binary", str(lone_binary(tmp_path)))
    assert result.returncode == 1 and "conda-packages.txt: cluster build installs with pip only" in result.stderr


def test_the_default_context_is_hidden_in_the_project_and_never_staged_twice(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    binary = str(lone_binary(tmp_path))
    for _ in range(2):
        assert run("cluster", "build", str(project), "--binary", binary).returncode == 0
    context = project / ".cortex" / "build-context"
    assert (context / "Dockerfile").is_file()
    assert not (context / "project" / ".cortex").exists()
    # A visible -o inside the project is left out of the staged project too.
    assert run("cluster", "build", str(project), "-o", str(project / "image"), "--binary", binary).returncode == 0
    assert run("cluster", "build", str(project), "-o", str(project / "image"), "--binary", binary).returncode == 0
    assert not (project / "image" / "project" / "image").exists()


def test_without_docker_or_podman_the_context_is_left(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    result = run("cluster", "build", str(project), "-o", str(tmp_path / "ctx"), "--binary",
                 str(lone_binary(tmp_path)), env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "not building the image: neither docker nor podman is on PATH" in result.stdout


# --- the commands against a cluster -----------------------------------------------------------------

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
users:
- name: me
  user:
    token: not-a-real-token
contexts:
- name: nowhere-ctx
  context:
    cluster: nowhere
    user: me
current-context: nowhere-ctx
"""


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "environments.yaml").write_text(
        "environments:\n"
        "  - name: dev\n    context: nowhere-ctx\n    namespace: ml\n    image: reg.example/p:3\n"
        "  - name: scale0\n    context: nowhere-ctx\n    image: reg.example/p:3\n    autoscaler: keda\n"
        "    prometheus: http://prom.monitoring:9090\n"
        "  - name: ghost\n    context: no-such-ctx\n    image: reg.example/p:3\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    return {"CORTEX_HOME": str(home), "KUBECONFIG": str(kubeconfig)}


def test_deploy_dry_run_prints_valid_objects_and_runs_nothing(tmp_path, home):
    project = write_project(tmp_path / "p", PROJECT)
    # No kubectl on PATH: a dry run must not need (or call) it.
    result = run("deploy", str(project), "--env", "dev", "--dry-run", env={**home, "PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Deployment", "Deployment", "HorizontalPodAutoscaler", "HorizontalPodAutoscaler", "Ingress",
                     "Ingress", "Secret", "Secret", "Service", "Service"]
    assert {o["metadata"]["namespace"] for o in objects} == {"ml"}
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "iris")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/p:3"
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == "iris")
    assert hpa["spec"]["minReplicas"] == 1
    assert "warning: api iris: autoscaling.min_replicas is 0" in result.stderr and "--autoscaler keda" in result.stderr
    out = tmp_path / "objects"
    out.mkdir()
    for i, o in enumerate(objects):
        (out / f"{i}.yaml").write_text(yaml.safe_dump(o))
    for version in ["1.31.0", "1.37.0"]:
        check = subprocess.run([str(VALIDATE), "--strict", "--quiet", "-k", version, *map(str, sorted(out.iterdir()))],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_deploy_dry_run_with_keda_scales_to_zero(tmp_path, home):
    project = write_project(tmp_path / "p", PROJECT)
    result = run("deploy", str(project), "--env", "scale0", "--dry-run", env=home)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    scaled = next(o for o in objects if o["kind"] == "ScaledObject" and o["metadata"]["name"] == "iris")
    assert scaled["spec"]["minReplicaCount"] == 0 and scaled["spec"]["maxReplicaCount"] == 4
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["serverAddress"] == "http://prom.monitoring:9090"
    assert trigger["metadata"]["query"] == 'sum(avg_over_time(cortex_in_flight_requests{api="iris"}[60s]))'
    assert trigger["metadata"]["threshold"] == "2"
    assert "warning" not in result.stderr


@pytest.mark.parametrize("command", [
    ["get"], ["get", "iris", "-o", "json"], ["logs", "iris", "--tail", "5"], ["delete", "iris"], ["refresh", "iris"],
    ["deploy", "PROJECT"],
])
def test_an_unreachable_cluster_is_a_clear_error(tmp_path, home, command):
    project = write_project(tmp_path / "p", PROJECT)
    command = [str(project) if c == "PROJECT" else c for c in command]
    started = time.monotonic()
    result = run(*command, "--env", "dev", env=home, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "environment dev: cannot reach the cluster of kubeconfig context nowhere-ctx" in result.stderr
    assert "server https://127.0.0.1:1" in result.stderr and home["KUBECONFIG"] in result.stderr
    assert "kubectl --context nowhere-ctx get nodes" in result.stderr
    assert time.monotonic() - started < 30


def test_a_context_missing_from_the_kubeconfig_is_named(home):
    result = run("get", "--env", "ghost", env=home)
    assert result.returncode == 1
    assert f"environment ghost: kubeconfig context no-such-ctx is not in {home['KUBECONFIG']}" in result.stderr


def test_an_unknown_environment_lists_the_defined_ones(tmp_path, home):
    result = run("get", "--env", "prod", env=home)
    assert result.returncode == 1
    assert (f"no environment named prod in {home['CORTEX_HOME']}/environments.yaml (defined: dev, scale0, ghost)"
            in result.stderr)
    missing = run("deploy", "--env", "prod", "--dry-run", env={"CORTEX_HOME": str(tmp_path / "empty")})
    assert missing.returncode == 1 and f"{tmp_path / 'empty'}/environments.yaml does not exist" in missing.stderr
    broken_home = tmp_path / "broken"
    broken_home.mkdir()
    (broken_home / "environments.yaml").write_text("environments:\n  - name: dev\n    context: c\n    route: nginx\n")
    broken = run("get", "--env", "dev", env={"CORTEX_HOME": str(broken_home)})
    assert broken.returncode == 1
    assert f"{broken_home}/environments.yaml:2: environments[0] (dev).route: must be ingress or httproute, got nginx" in broken.stderr


def test_the_images_environment_serves_without_the_requirements_warning(tmp_path):
    """The image's environment carries cortex-image-requirements.txt (what the build installed), so
    `serve --python-env` in a pod does not warn that requirements.txt was not installed; any other
    environment still gets the warning."""
    import sysconfig
    from cortex_e2e import ECHO_YAML, Server
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next(env.glob("lib/python*/site-packages"))
    (site / "test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # starlette & co.
    files = {"cortex.yaml": ECHO_YAML, "predictor.py": PROJECT["predictor.py"], "requirements.txt": "tqdm\n"}
    warning = "requirements.txt, dependencies.sh and conda-packages.txt are not installed"
    logs = {}
    for marked in (False, True):
        if marked:
            (env / "cortex-image-requirements.txt").write_text("tqdm\n")
        server = Server(write_project(tmp_path / f"p{marked}", files), args=["--python-env", str(env)]).start()
        try:
            assert server.post("/echo", json={}).status_code == 200
        finally:
            server.stop()
        logs[marked] = server.logs()
    assert warning in logs[False]
    assert warning not in logs[True]


def test_an_api_with_gpus_gets_the_cuda_wheels_in_its_image(tmp_path):
    project = write_project(tmp_path / "gpu", {
        "cortex.yaml": """
            - name: onnx-gpu
              kind: RealtimeAPI
              predictor:
                type: onnx
                path: predictor.py
                model_path: model
              compute:
                gpu: 1
        """,
        "predictor.py": "class ONNXPredictor:\n    def __init__(self, onnx_client, config):\n        self.client = onnx_client\n"
                        "    def predict(self, payload):\n        return self.client.predict(payload)\n",
        "model/1/model.onnx": b"not a real model: the build context does not load it",
    })
    context = tmp_path / "ctx"
    result = run("cluster", "build", str(project), "-o", str(context), "--binary", str(lone_binary(tmp_path)))
    assert result.returncode == 0, result.stderr
    requirements = (context / "build" / "requirements.txt").read_text().splitlines()
    assert "onnxruntime-gpu[cuda,cudnn]==1.31.1" in requirements
    assert not any(line.startswith("onnxruntime==") for line in requirements)
