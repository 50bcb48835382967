"""compute.gpu locally (issue 8, "GPU"): each API's workers see their own GPUs through
CUDA_VISIBLE_DEVICES, taken in config order from the devices this process may use (the caller's own
CUDA_VISIBLE_DEVICES, else what the NVIDIA driver reports); with none visible, an API asking for GPUs is
served on the CPU with a warning."""
import os

from cortex_e2e import Server, write_project

PREDICTOR = '''
import os
class PythonPredictor:
    def __init__(self, config):
        pass
    def predict(self, payload):
        return {"devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
'''


def project(tmp_path, gpus):
    apis = "".join(f"""
- name: {name}
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    processes_per_replica: 2
  compute:
    gpu: {count}
""" for name, count in gpus)
    return write_project(tmp_path / "p", {"cortex.yaml": apis, "predictor.py": PREDICTOR})


def serve_with(tmp_path, gpus, visible):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["CUDA_VISIBLE_DEVICES"] = visible
    return Server(project(tmp_path, gpus), env=env).start()


def test_apis_get_their_own_devices_shared_by_their_workers(tmp_path):
    server = serve_with(tmp_path, [("a", 2), ("cpu", 0), ("b", 1)], "3,5,7,9")
    try:
        for _ in range(6):  # both workers of each API
            assert server.post("/a", json={}).json() == {"devices": "3,5"}
            assert server.post("/b", json={}).json() == {"devices": "7"}
            assert server.post("/cpu", json={}).json() == {"devices": "3,5,7,9"}  # untouched
    finally:
        server.stop()


def test_without_a_visible_gpu_the_api_runs_on_the_cpu_with_a_warning(tmp_path):
    server = serve_with(tmp_path, [("a", 1)], "")
    try:
        assert server.post("/a", json={}).json() == {"devices": ""}
    finally:
        server.stop()
    assert "api a asks for 1 GPU(s) (compute.gpu), but no GPU is visible: it is served on the CPU" in server.logs()


def test_operator_replicas_each_get_their_own_devices(tmp_path):
    from cortex_e2e import Operator
    yaml = """
- name: a
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
  compute:
    gpu: 1
  autoscaling:
    min_replicas: 3
    max_replicas: 3
"""
    op = Operator()
    op.env["CUDA_VISIBLE_DEVICES"] = "4,6"
    try:
        op.deploy(write_project(tmp_path / "p", {"cortex.yaml": yaml, "predictor.py": PREDICTOR}))
        seen = {op.post("/a", json={}).json()["devices"] for _ in range(60)}
        # Three replicas on two devices: two get their own, the third shares (with a warning).
        assert seen == {"4", "6"}
        assert "shares devices with other replicas" in op.log("a")
    finally:
        op.stop()
