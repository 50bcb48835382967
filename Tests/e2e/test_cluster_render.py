"""`cortex cluster render` (issue 8, "Manifests"): every rendered object passes kubernetes-validate
(strict, bundled schemas) for three Kubernetes minor versions, `kubectl kustomize` accepts the directory,
and the objects read back line up with the parsed cortex.yaml and with what the binary serves."""
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from cortex_e2e import run_cli, write_project

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "Tests" / "KubernetesManifestsTests" / "golden"
VERSIONS = ["1.31.0", "1.34.0", "1.37.0"]
VALIDATE = pathlib.Path(sys.executable).parent / "kubernetes-validate"


def validate(directory):
    files = sorted(str(p) for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"
                   and "HTTPRoute" not in p.read_text())  # Gateway API is a CRD: not in the core schemas
    for version in VERSIONS:
        check = subprocess.run([str(VALIDATE), "--strict", "--quiet", "-k", version, *files],
                               capture_output=True, text=True)
        assert check.returncode == 0, f"kubernetes {version}:\n{check.stdout}{check.stderr}"
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to check the kustomization"
    built = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return list(yaml.safe_load_all(built.stdout))


def objects_by_kind(objects):
    out = {}
    for o in objects:
        out.setdefault(o["kind"], []).append(o)
    return out


def check_against_config(objects, config):
    kinds = objects_by_kind(objects)
    for api in config:
        name = api["name"]
        deployment = next(d for d in kinds["Deployment"] if d["metadata"]["name"] == name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        args = container["args"]
        assert args[:2] == ["serve", "/cortex/project"] and args[args.index("--api") + 1] == name
        assert args[args.index("--port") + 1] == "8888"
        assert container["ports"] == [{"name": "http", "containerPort": 8888}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert deployment["spec"]["selector"]["matchLabels"] == {"apiName": name}
        assert deployment["spec"]["template"]["metadata"]["labels"]["apiName"] == name
        service = next(s for s in kinds["Service"] if s["metadata"]["name"] == f"api-{name}")
        assert service["spec"]["ports"][0]["port"] == 8888 and service["spec"]["selector"] == {"apiName": name}
        endpoint = (api.get("networking") or {}).get("endpoint", f"/{name}")
        ingress = next(i for i in kinds["Ingress"] if i["metadata"]["name"] == name)
        path = ingress["spec"]["rules"][0]["http"]["paths"][0]
        assert path["path"] == endpoint and path["backend"]["service"]["name"] == f"api-{name}"
        hpa = next(h for h in kinds["HorizontalPodAutoscaler"] if h["metadata"]["name"] == name)
        scaling = api.get("autoscaling") or {}
        assert hpa["spec"]["minReplicas"] == scaling.get("min_replicas", 1)
        assert hpa["spec"]["maxReplicas"] == scaling.get("max_replicas", 100)
        assert hpa["spec"]["scaleTargetRef"]["name"] == name


@pytest.mark.parametrize("example", sorted(p.name for p in GOLDEN.iterdir()))
def test_golden_manifests_validate_and_match_the_example(example):
    objects = validate(GOLDEN / example)
    config = yaml.safe_load((ROOT / "examples" / example / "cortex.yaml").read_text())
    check_against_config(objects, config)


PROJECT = {
    "cortex.yaml": """
        - name: iris
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            env:
              MODE: fast
          networking:
            endpoint: /v1/iris
          compute:
            cpu: 250m
            mem: 512Mi
            gpu: 1
          autoscaling:
            min_replicas: 2
            max_replicas: 6
            target_replica_concurrency: 4
        - name: other
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
    """,
    "predictor.py": "class PythonPredictor:\n    def __init__(self, config):\n        pass\n    def predict(self, payload):\n        return 1\n",
    ".env": "TOKEN=abc=def\n",
}


def test_the_binary_renders_a_project(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    out = tmp_path / "k8s"
    result = run_cli("cluster", "render", str(project), "-o", str(out), "--image", "reg.example/p:7",
                     "--namespace", "ml")
    assert result.returncode == 0, result.stderr
    written = sorted(line.rsplit("/", 1)[1] for line in result.stdout.split())
    assert "iris-env-secret.yaml" in written and "kustomization.yaml" in written
    objects = validate(out)
    config = yaml.safe_load(PROJECT["cortex.yaml"].replace("\n        ", "\n"))
    check_against_config(objects, config)
    assert {o["metadata"]["namespace"] for o in objects} == {"ml"}
    iris = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "iris")
    container = iris["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg.example/p:7"
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi", "nvidia.com/gpu": 1},
                                      "limits": {"nvidia.com/gpu": 1}}
    assert container["env"] == [{"name": "MODE", "value": "fast"}]
    assert container["envFrom"] == [{"secretRef": {"name": "iris-env"}}]
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert secret["stringData"] == {"TOKEN": "abc=def"}
    # the HTTPRoute variant
    out2 = tmp_path / "k8s-gw"
    result = run_cli("cluster", "render", str(project), "-o", str(out2), "--route", "httproute", "--gateway", "edge")
    assert result.returncode == 0, result.stderr
    route = yaml.safe_load((out2 / "iris-httproute.yaml").read_text())
    assert route["spec"]["parentRefs"] == [{"name": "edge"}]
    assert route["spec"]["rules"][0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/v1/iris"}
    validate(out2)


def test_render_errors_name_the_problem(tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    bad = run_cli("cluster", "render", str(project), "--route", "nginx")
    assert bad.returncode != 0 and "--route must be ingress or httproute, got nginx" in bad.stderr
    broken = write_project(tmp_path / "q", {**PROJECT, "cortex.yaml": "- name: x\n  kind: RealtimeAPI\n"})
    result = run_cli("cluster", "render", str(broken), "-o", str(tmp_path / "out"))
    assert result.returncode != 0 and "api x" in result.stderr


def test_serve_api_selects_one_api(tmp_path):
    from cortex_e2e import Server
    project = write_project(tmp_path / "p", PROJECT)
    server = Server(project, args=["--api", "other"]).start()
    try:
        assert server.post("/other", json={}).status_code == 200
        assert server.post("/v1/iris", json={}).status_code == 404
    finally:
        server.stop()
    bad = Server(write_project(tmp_path / "q", PROJECT), args=["--api", "nope"])
    assert bad.exit_code_of_start(timeout=60) != 0
    assert "no api named nope (its APIs: iris, other)" in bad.logs()
