"""API-to-API calls at http://api-<name>:8888/predict (issue 2, item 8)."""

YAML = """
- name: upstream
  kind: RealtimeAPI
  predictor:
    type: python
    path: upstream.py
- name: caller
  kind: RealtimeAPI
  predictor:
    type: python
    path: caller.py
"""

UPSTREAM = '''
class PythonPredictor:
    def predict(self, payload, headers):
        return {"got": payload, "host": headers.get("host")}
'''

CALLER = '''
import json
import urllib.request

import httpx
import requests


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        url = "http://api-upstream:8888/predict"
        a = requests.post(url, json={"via": "requests"}).json()
        request = urllib.request.Request(url, data=json.dumps({"via": "urllib"}).encode(),
                                         headers={"Content-Type": "application/json"})
        b = json.loads(urllib.request.urlopen(request).read())
        c = httpx.post(url, json={"via": "httpx"}).json()
        return [a, b, c]
'''


def test_api_to_api_with_requests_urllib_and_httpx(serve):
    s = serve({"cortex.yaml": YAML, "upstream.py": UPSTREAM, "caller.py": CALLER,
               "requirements.txt": "requests\nhttpx\n"})
    r = s.post("/caller", json={})
    assert r.status_code == 200, s.logs()
    assert r.json() == [{"got": {"via": via}, "host": "api-upstream:8888"} for via in ["requests", "urllib", "httpx"]]


def test_a_chained_request_is_in_flight_on_both_apis(serve):
    import concurrent.futures
    import time
    yaml = YAML.replace("    path: upstream.py\n", "    path: slow.py\n  autoscaling:\n    max_replica_concurrency: 1\n") \
        .replace("    path: caller.py\n", "    path: chain.py\n  autoscaling:\n    max_replica_concurrency: 1\n")
    slow = "import time\nclass PythonPredictor:\n    def predict(self):\n        time.sleep(1.5)\n        return 'slow'\n"
    chain = ("import requests\nclass PythonPredictor:\n    def predict(self):\n"
             "        return requests.post('http://api-upstream:8888/predict').text\n")
    s = serve({"cortex.yaml": yaml, "slow.py": slow, "chain.py": chain})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        chained = pool.submit(s.post, "/caller")
        time.sleep(0.7)
        # While the chained request waits on upstream, it holds the one slot of each API.
        assert s.post("/caller").status_code == 503
        assert s.post("/upstream").status_code == 503
        assert chained.result().text == "slow"
    assert s.post("/upstream").text == "slow"
