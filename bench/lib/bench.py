#!/usr/bin/env python3
"""Side-by-side load benchmark: `cortex serve` vs a Cortex v0.23-style uvicorn/FastAPI runtime.

Workloads (WORKLOAD="echo onnx" by default): examples/echo's trivial predictor; examples/onnx-iris's
ONNXPredictor on a model built into a temp copy of the example; and WORKLOAD=batching, which serves
examples/iris-sklearn (scikit-learn LogisticRegression, PythonPredictor) and onnx-iris three ways each:
`cortex` unbatched, `cortex-batched` with predictor.server_side_batching (batch_interval: adaptive),
and the Cortex-style baseline (README, "Server-side batching").

Driven by bench/run.sh (which installs wrk, builds the release binary and the baseline's virtualenv);
standard library only. Settings come from the environment (see bench/README.md).
"""

import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
EXAMPLES = os.path.join(ROOT, "examples")
LUA = os.path.join(BENCH, "lib", "post.lua")

CORTEX_BIN = os.environ.get("CORTEX_BIN") or os.path.join(ROOT, ".build", "release", "cortex")
BASELINE_PYTHON = os.environ.get("BASELINE_PYTHON") or os.path.join(BENCH, ".venv-baseline", "bin", "python")
DURATION = os.environ.get("DURATION", "10s")
WARMUP = os.environ.get("WARMUP", "3s")
CONCURRENCIES = [int(c) for c in os.environ.get("CONCURRENCIES", "1 8 64").split()]
COLD_RUNS = int(os.environ.get("COLD_RUNS", "3"))
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "1")
TARGETS = os.environ.get("TARGETS", "cortex baseline baseline-lean").split()
WORKLOADS = os.environ.get("WORKLOAD", "echo onnx").replace("all", "echo onnx").replace(",", " ").split()
if "batching" in WORKLOADS:
    WORKLOADS = [w for w in WORKLOADS if w != "batching"] + ["sklearn-batching", "onnx-batching"]
    TARGETS = os.environ.get("TARGETS", "cortex cortex-batched baseline").split()
# WORKLOAD=batching: the batched variant's settings
BATCH_SIZE = int(os.environ.get("BATCH_SIZE", "32"))
BATCH_INTERVAL = os.environ.get("BATCH_INTERVAL", "adaptive")
ONNX_BATCH_THREADS = int(os.environ.get("ONNX_BATCH_THREADS", "16"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Workload:
    """One predictor served by every target: the project folder, cortex's route, the POST body and the
    answer it must get before loading."""

    def __init__(self, name, project, api, body, expected, predictor_type="python", batched_project=None):
        self.name, self.project, self.api, self.body = name, project, api, body
        self.expected, self.predictor_type = expected, predictor_type
        self.batched_project = batched_project  # the same project with server_side_batching (target cortex-batched)
        self.threads_project = None  # (onnx-batching) unbatched, with the batched variant's threads (cortex-threads)

    def check(self, answer):
        if self.name == "echo":  # the JSON comes back
            return json.loads(answer) == json.loads(self.expected)
        return answer.strip() == self.expected


def echo_workload():
    body = b'{"a": 1, "b": [1,2,3]}'
    return Workload("echo", os.path.join(EXAMPLES, "echo"), "echo", body, body)


def onnx_workload(tmp):
    """examples/onnx-iris copied into tmp (the example's own folder is left alone) with its model built there
    by build_model.py, run with the baseline virtualenv's python (scikit-learn + skl2onnx)."""
    source = os.path.join(EXAMPLES, "onnx-iris")
    project = os.path.join(tmp, "onnx-iris")
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("model", "__pycache__"))
    done = subprocess.run([BASELINE_PYTHON, os.path.join(project, "build_model.py"), os.path.join(project, "model")],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"building the iris model failed:\n{done.stdout}{done.stderr}")
    log("  " + done.stdout.strip().replace("\n", "\n  "))
    body = b'{"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}'
    return Workload("onnx", project, "iris-classifier", body, b"setosa", predictor_type="onnx")


IRIS_BODY = b'{"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}'


def with_batching(project, threads=1, batching=True):
    """A copy of project whose cortex.yaml adds predictor.server_side_batching (and threads_per_process);
    batching=False: only the threads (the `cortex-threads` target)."""
    batched = project + ("-batched" if batching else "-threads")
    shutil.copytree(project, batched, ignore=shutil.ignore_patterns(".cortex", "__pycache__"))
    path = os.path.join(batched, "cortex.yaml")
    text = open(path).read().rstrip("\n") + "\n"
    text += f"    threads_per_process: {threads}\n" if threads > 1 else ""
    if batching:
        text += (f"    server_side_batching:\n      max_batch_size: {BATCH_SIZE if threads == 1 else threads}\n"
                 f"      batch_interval: {BATCH_INTERVAL}\n")
    open(path, "w").write(text)
    return batched


def sklearn_batching_workload(tmp):
    """examples/iris-sklearn (its predict takes a payload or, batched, a list of them)."""
    project = os.path.join(tmp, "iris-sklearn")
    shutil.copytree(os.path.join(EXAMPLES, "iris-sklearn"), project, ignore=shutil.ignore_patterns("__pycache__"))
    return Workload("sklearn-batching", project, "iris-sklearn", IRIS_BODY, b"setosa",
                    batched_project=with_batching(project))


def onnx_batching_workload(tmp):
    """onnx-iris; batched: ONNX_BATCH_THREADS predictor threads whose onnx_client calls are merged."""
    w = onnx_workload(tmp)
    w.name = "onnx-batching"
    w.batched_project = with_batching(w.project, threads=ONNX_BATCH_THREADS)
    # unbatched with the batched variant's threads: tells the batching's effect from the thread pool's
    w.threads_project = with_batching(w.project, threads=ONNX_BATCH_THREADS, batching=False)
    return w


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- /proc helpers

def children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root):
    children = children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def status_of(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
    except OSError:
        return None
    return fields


def kib(value):
    return int(value.split()[0]) if value else 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    return (int(rest[11]) / CLK_TCK, int(rest[12]) / CLK_TCK)  # utime, stime


def label_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return f"?({pid})"
    if not argv:
        return f"?({pid})"
    name = os.path.basename(argv[0])
    if "cortex_worker" in argv:
        return f"worker({pid})"
    if "uvicorn" in argv:
        return f"uvicorn({pid})"
    if name == "cortex":
        return f"cortex-front({pid})"
    return f"{name}({pid})"


class Sampler(threading.Thread):
    """Polls the server's process tree: per-process peak VmHWM, peak of the summed VmRSS."""

    def __init__(self, root, interval=0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.hwm, self.labels, self.affinity = {}, {}, {}
        self.peak_rss_sum = 0
        self.stop_event = threading.Event()

    def sample(self):
        total = 0
        for pid in process_tree(self.root):
            st = status_of(pid)
            if not st:
                continue
            self.hwm[pid] = max(self.hwm.get(pid, 0), kib(st.get("VmHWM")))
            total += kib(st.get("VmRSS"))
            if pid not in self.labels:
                self.labels[pid] = label_of(pid)
                self.affinity[pid] = st.get("Cpus_allowed_list")
        self.peak_rss_sum = max(self.peak_rss_sum, total)

    def run(self):
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def finish(self):
        self.sample()
        self.stop_event.set()
        self.join()
        return {
            "peak_rss_mib": round(sum(self.hwm.values()) / 1024, 1),
            "peak_rss_sum_instant_mib": round(self.peak_rss_sum / 1024, 1),
            "per_process_hwm_mib": {self.labels[p]: round(v / 1024, 1) for p, v in self.hwm.items()},
            "affinity": {self.labels[p]: a for p, a in self.affinity.items()},
        }


# ---------------------------------------------------------------- servers

class Target:
    def __init__(self, name, argv, path, body, ready_path=None, env=None, cwd=ROOT, after_launch=None):
        self.name, self.argv, self.path, self.body, self.env, self.cwd = name, argv, path, body, env, cwd
        self.ready_path = ready_path  # a GET that answers 200 once the server says it is ready (cortex: /readyz)
        self.after_launch = after_launch  # run once the process is started (the operator: `cortex deploy`)
        self.scratch = None  # a folder of the run's own, removed when it stops

    def stop(self, proc):
        stop(proc)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def make_target(name, port, workload):
    if name in ("cortex", "cortex-batched", "cortex-threads"):
        project = {"cortex-batched": workload.batched_project,
                   "cortex-threads": workload.threads_project}.get(name, workload.project)
        if project is None:
            raise SystemExit(f"target {name} is for WORKLOAD=batching only")
        return Target(name, [CORTEX_BIN, "serve", project, "--port", str(port), "--host", "127.0.0.1"],
                      "/" + workload.api, workload.body, ready_path="/readyz")
    if name == "cortex-operator":
        # The local operator in the foreground on the server core, with its state in a fresh CORTEX_HOME;
        # the API arrives through `cortex deploy --wait`, as a user deploys it.
        import tempfile
        home = tempfile.mkdtemp(prefix="cxb-", dir="/tmp")
        env = dict(os.environ, CORTEX_HOME=home, CORTEX_PORT=str(port))

        def deploy():
            # Once the foreground operator listens: a CLI finding no socket would start one of its own.
            deadline = time.time() + 30
            while not os.path.exists(os.path.join(home, "operator.sock")) and time.time() < deadline:
                time.sleep(0.005)
            done = subprocess.run([CORTEX_BIN, "deploy", workload.project, "--wait"], env=env,
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"cortex deploy failed: {done.stderr}")
        target = Target(name, [CORTEX_BIN, "operator"], "/" + workload.api, workload.body, ready_path="/readyz",
                        env=env, after_launch=deploy)
        target.scratch = home  # removed once the run is over
        return target
    if name in ("baseline", "baseline-lean"):
        env = dict(os.environ, CORTEX_PREDICTOR=os.path.join(workload.project, "predictor.py"),
                   CORTEX_PREDICTOR_TYPE=workload.predictor_type, CORTEX_MODEL_PATH=os.path.join(workload.project, "model"),
                   CORTEX_THREADS_PER_PROCESS="1", BASELINE_VARIANT="lean" if name == "baseline-lean" else "cortex")
        argv = [BASELINE_PYTHON, "-m", "uvicorn", "server:app", "--app-dir", os.path.join(BENCH, "baseline"),
                "--host", "127.0.0.1", "--port", str(port)]
        argv += os.environ.get("BASELINE_ARGS", "").split()
        return Target(name, argv, "/", workload.body, env=env)
    raise SystemExit(f"unknown target {name}")


def launch(target, logfile):
    out = open(logfile, "ab")
    return subprocess.Popen(
        ["taskset", "-c", SERVER_CPU] + target.argv, cwd=target.cwd, env=target.env,
        stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the session this script started
    except ProcessLookupError:
        pass
    proc.wait()


def request(port, path, body=None, timeout=5.0):
    """POST body (as application/json) to path, or GET it when body is None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_first_200(port, path, proc, deadline_s, body=None, start=None):
    start = time.perf_counter() if start is None else start
    while time.perf_counter() - start < deadline_s:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            status, answer = request(port, path, body, timeout=2.0)
            if status == 200:
                return answer
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.002)
    raise RuntimeError(f"no 200 from {path} within {deadline_s}s")


def cold_start(name, workload, logfile):
    """Launch -> first 200 on the ready endpoint (cortex's /readyz; None for the baselines, which have none)
    and launch -> first 200 on a POST of the workload's body (polled every 2 ms); seconds."""
    port = free_port()
    target = make_target(name, port, workload)
    t0 = time.perf_counter()
    proc = launch(target, logfile)
    try:
        if target.after_launch:
            target.after_launch()
        ready = None
        if target.ready_path:
            wait_first_200(port, target.ready_path, proc, 300, start=t0)
            ready = time.perf_counter() - t0
        wait_first_200(port, target.path, proc, 300, body=target.body, start=t0)
        return ready, time.perf_counter() - t0
    finally:
        target.stop(proc)


def parse_wrk(text):
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError("wrk printed no summary:\n" + text)


def run_wrk(port, path, body, connections, duration):
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency",
            "-s", LUA, f"http://127.0.0.1:{port}{path}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, BENCH_BODY=body.decode()))
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    return done.stdout, parse_wrk(done.stdout)


def tree_cpu(root):
    return {pid: t for pid in process_tree(root) if (t := cpu_seconds(pid)) is not None}


def load_run(name, workload, logfile, rawfile):
    port = free_port()
    target = make_target(name, port, workload)
    proc = launch(target, logfile)
    result = {"runs": {}}
    try:
        if target.after_launch:
            target.after_launch()
        answer = wait_first_200(port, target.path, proc, 300, body=target.body)
        if not workload.check(answer):
            raise RuntimeError(f"{name} answered {answer!r} to {target.body!r}, expected {workload.expected!r}")
        sampler = Sampler(proc.pid)
        sampler.start()
        run_wrk(port, target.path, target.body, max(CONCURRENCIES), WARMUP)  # warm-up, discarded
        for c in CONCURRENCIES:
            before = tree_cpu(proc.pid)
            core0 = cpu_stat(SERVER_CPU)
            t0 = time.perf_counter()
            text, summary = run_wrk(port, target.path, target.body, c, DURATION)
            elapsed = time.perf_counter() - t0
            core1 = cpu_stat(SERVER_CPU)
            after = tree_cpu(proc.pid)
            with open(rawfile, "a") as raw:
                raw.write(f"===== {workload.name} {name} c={c}\n{text}\n")
            seconds = summary["duration_us"] / 1e6
            errors = summary["errors"]
            cpu = {}
            for pid, (u1, s1) in after.items():
                u0, s0 = before.get(pid, (0.0, 0.0))
                cpu[sampler.labels.get(pid, label_of(pid))] = {
                    "user_s": round(u1 - u0, 2), "sys_s": round(s1 - s0, 2),
                    "core_share": round((u1 - u0 + s1 - s0) / elapsed, 3)}
            total_cpu = sum(v["user_s"] + v["sys_s"] for v in cpu.values())
            core_busy = (core1[0] - core0[0]) / max(core1[1] - core0[1], 1)
            run = {
                "connections": c,
                "requests": summary["requests"],
                "rps": round(summary["requests"] / seconds, 1),
                "p50_ms": round(summary["latency_us"]["p50"] / 1000, 3),
                "p90_ms": round(summary["latency_us"]["p90"] / 1000, 3),
                "p99_ms": round(summary["latency_us"]["p99"] / 1000, 3),
                "max_ms": round(summary["latency_us"]["max"] / 1000, 3),
                "non_2xx_3xx": errors["status"],
                "socket_errors": {k: v for k, v in errors.items() if k != "status"},
                "server_cpu": cpu,
                "server_cpu_us_per_request": round(total_cpu / max(summary["requests"], 1) * 1e6, 1),
                # how busy the server's core was, and how much of that was not the server's processes
                # (other work on the machine, or softirq time charged to no process)
                "server_core_busy": round(core_busy, 3),
                "server_core_other": round(core_busy - total_cpu / elapsed, 3),
            }
            result["runs"][str(c)] = run
            log(f"  {workload.name}/{name:13} c={c:<3} {run['rps']:>9.0f} req/s  p50 {run['p50_ms']:7.2f} ms  "
                f"p99 {run['p99_ms']:7.2f} ms  non-2xx {run['non_2xx_3xx']}  "
                f"errors {sum(run['socket_errors'].values())}  cpu/req {run['server_cpu_us_per_request']} us  "
                f"core{SERVER_CPU} busy {run['server_core_busy']:.0%} (other {run['server_core_other']:.0%})")
        result.update(sampler.finish())
    finally:
        target.stop(proc)
    return result


# ---------------------------------------------------------------- reporting

def versions():
    info = {
        "machine": platform.machine(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "python": platform.python_version(),
    }
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        info["baseline_packages"] = subprocess.run(
            [BASELINE_PYTHON, "-c", "import importlib.metadata as m;print(' '.join(f'{p}=={m.version(p)}' for p in "
             "['fastapi','starlette','uvicorn','uvloop','httptools','anyio','onnxruntime','numpy']))"],
            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        info["cortex_bin_built"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(os.path.getmtime(CORTEX_BIN)))
    except OSError:
        pass
    info["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1]
    return info


def cpu_stat(cpu):
    """(busy, total) jiffies of one core from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                values = [int(x) for x in line.split()[1:]]
                return sum(values) - values[3] - values[4], sum(values)
    return 0, 1


def wait_quiet(limit_s=float(os.environ.get("QUIET_WAIT", "60")), threshold=10.0):
    """Waits (up to limit_s) for a second in which the machine is under threshold% busy."""
    start = time.perf_counter()
    while True:
        busy = busy_percent(1.0)
        if busy < threshold or time.perf_counter() - start > limit_s:
            return busy


def busy_percent(seconds=2.0):
    """Share of all cores' time spent busy over a short window (what else runs on this machine)."""
    def snap():
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)
    idle0, total0 = snap()
    time.sleep(seconds)
    idle1, total1 = snap()
    return round(100 * (1 - (idle1 - idle0) / max(total1 - total0, 1)), 1)


def fmt_cold(cold, key):
    return "-" if cold.get(key) is None else f"{cold[key]:.3f}"


def fmt_table(results):
    lines = [f"workload: {results['workload']}"]
    head = (f"{'server':13} {'conc':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'cpu µs/req':>10}"
            f" {'core busy':>9} {'(other)':>8}")
    lines.append(head)
    lines.append("-" * len(head))
    for name, r in results["servers"].items():
        for c, run in r["load"]["runs"].items():
            lines.append(f"{name:13} {c:>5} {run['rps']:>10.0f} {run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} "
                         f"{run['non_2xx_3xx']:>8} {run['server_cpu_us_per_request']:>10} {run['server_core_busy']:>9.0%} "
                         f"{run['server_core_other']:>8.0%}")
    lines.append("")
    lines.append(f"{'server':13} {'peak RSS MiB (ΣVmHWM)':>22} {'cold s: /readyz':>16} {'cold s: 1st POST':>17}"
                 "  1st POST runs (medians of these)")
    for name, r in results["servers"].items():
        cold = r["cold_start_s"]
        lines.append(f"{name:13} {r['load']['peak_rss_mib']:>22.1f} {fmt_cold(cold, 'readyz_median'):>16} "
                     f"{fmt_cold(cold, 'median'):>17}  " + ", ".join(f"{x:.3f}" for x in cold["runs"]))
    for base, ratios in results.get("ratios", {}).items():
        lines.append("")
        lines.append(f"cortex / {base}:")
        lines.append(f"{'conc':>5} {'throughput ×':>13} {'p99 ratio':>10} {'cpu/req ratio':>14}")
        for c, ratio in ratios["by_concurrency"].items():
            lines.append(f"{c:>5} {ratio['throughput_x']:>13.2f} {ratio['p99_ratio']:>10.3f} "
                         f"{ratio['cpu_per_request_ratio']:>14.3f}")
        lines.append(f"RSS difference (cortex - {base}): {ratios['rss_diff_mib']:+.1f} MiB")
    if results.get("batching_ratios"):
        lines.append("")
        lines.append("cortex-batched / cortex (unbatched):")
        lines.append(f"{'conc':>5} {'throughput ×':>13} {'p50 ratio':>10} {'p99 ratio':>10}")
        for c, ratio in results["batching_ratios"].items():
            lines.append(f"{c:>5} {ratio['throughput_x']:>13.2f} {ratio['p50_ratio']:>10.3f} {ratio['p99_ratio']:>10.3f}")
    if results.get("operator_vs_serve"):
        lines.append("")
        lines.append("cortex-operator / cortex (serve), same API:")
        lines.append(f"{'conc':>5} {'throughput ×':>13} {'p99 ratio':>10}")
        for c, ratio in results["operator_vs_serve"].items():
            lines.append(f"{c:>5} {ratio['throughput_x']:>13.3f} {ratio['p99_ratio']:>10.3f}")
    if results.get("batching_vs_threads_ratios"):
        lines.append("")
        lines.append("cortex-batched / cortex-threads (unbatched, same threads_per_process):")
        lines.append(f"{'conc':>5} {'throughput ×':>13} {'p50 ratio':>10} {'p99 ratio':>10}")
        for c, ratio in results["batching_vs_threads_ratios"].items():
            lines.append(f"{c:>5} {ratio['throughput_x']:>13.2f} {ratio['p50_ratio']:>10.3f} {ratio['p99_ratio']:>10.3f}")
    if results.get("targets") or results.get("batching_targets"):
        lines.append("")
        lines.append("targets:")
        for t in results.get("batching_targets", []) + results.get("targets", []):
            lines.append(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['what']}: {t['value']}")
    return "\n".join(lines)


def measure_workload(workload, common, stamp, rawfile):
    results = dict(common, workload=workload.name, servers={})
    results["settings"] = dict(common["settings"], body=workload.body.decode(),
                               expected_answer=workload.expected.decode(), project=workload.project)
    for name in TARGETS:
        logfile = os.path.join(RESULTS, f"{workload.name}-{name}-{stamp}.log")
        log(f"== {workload.name}/{name}: priming start (builds/caches the environment, warms the page cache; not counted)")
        primed = cold_start(name, workload, logfile)[1]
        log(f"  first start: {primed:.3f} s")
        ready, first = [], []
        for i in range(COLD_RUNS):
            wait_quiet(limit_s=10)
            r, f = cold_start(name, workload, logfile)
            ready.append(r)
            first.append(f)
            log(f"  cold start {i + 1}: " + (f"/readyz {r:.3f} s, " if r is not None else "") + f"first POST 200 {f:.3f} s")
        quiet = wait_quiet()
        if quiet >= 10:
            log(f"WARNING: machine still {quiet}% busy; measuring anyway")
        log(f"== {workload.name}/{name}: load (wrk -t1, {DURATION} per concurrency, after a {WARMUP} warm-up at "
            f"c={max(CONCURRENCIES)})")
        load = load_run(name, workload, logfile, rawfile)
        cold = {"median": round(statistics.median(first), 3), "runs": [round(x, 3) for x in first],
                "priming_start": round(primed, 3)}
        if ready[0] is not None:
            cold["readyz_median"] = round(statistics.median(ready), 3)
            cold["readyz_runs"] = [round(x, 3) for x in ready]
        results["servers"][name] = {"cold_start_s": cold, "load": load}

    if "cortex" in results["servers"] and "cortex-batched" in results["servers"]:
        bx, ux = results["servers"]["cortex-batched"], results["servers"]["cortex"]
        by = {}
        for c in map(str, CONCURRENCIES):
            a, b = bx["load"]["runs"][c], ux["load"]["runs"][c]
            by[c] = {"throughput_x": round(a["rps"] / b["rps"], 2), "p50_ratio": round(a["p50_ms"] / b["p50_ms"], 3),
                     "p99_ratio": round(a["p99_ms"] / b["p99_ms"], 3)}
        results["batching_ratios"] = by
        if "cortex-threads" in results["servers"]:
            tx = results["servers"]["cortex-threads"]
            results["batching_vs_threads_ratios"] = {
                c: {"throughput_x": round(bx["load"]["runs"][c]["rps"] / tx["load"]["runs"][c]["rps"], 2),
                    "p50_ratio": round(bx["load"]["runs"][c]["p50_ms"] / tx["load"]["runs"][c]["p50_ms"], 3),
                    "p99_ratio": round(bx["load"]["runs"][c]["p99_ms"] / tx["load"]["runs"][c]["p99_ms"], 3)}
                for c in map(str, CONCURRENCIES)}
        top, low = str(max(CONCURRENCIES)), str(min(CONCURRENCIES))
        results["batching_targets"] = [
            {"what": f"batched throughput at c={top} >= 3x unbatched", "value": f"{by[top]['throughput_x']}x",
             "pass": by[top]["throughput_x"] >= 3},
            {"what": f"batched ({BATCH_INTERVAL}) p50 at c={low} within 10% of unbatched",
             "value": f"{by[low]['p50_ratio']}", "pass": by[low]["p50_ratio"] <= 1.10},
        ]
    if "cortex" in results["servers"] and "cortex-operator" in results["servers"]:
        ox, sx = results["servers"]["cortex-operator"], results["servers"]["cortex"]
        results["operator_vs_serve"] = {
            c: {"throughput_x": round(ox["load"]["runs"][c]["rps"] / sx["load"]["runs"][c]["rps"], 3),
                "p99_ratio": round(ox["load"]["runs"][c]["p99_ms"] / sx["load"]["runs"][c]["p99_ms"], 3)}
            for c in map(str, CONCURRENCIES)}
        log("operator vs serve: " + ", ".join(f"c={c} {r['throughput_x']}x (p99 ratio {r['p99_ratio']})"
                                              for c, r in results["operator_vs_serve"].items()))
    if "cortex" in results["servers"]:
        cx = results["servers"]["cortex"]
        top = str(max(CONCURRENCIES))
        non2xx = sum(r["non_2xx_3xx"] + sum(r["socket_errors"].values())
                     for s in results["servers"].values() for r in s["load"]["runs"].values())
        results["ratios"], results["targets"] = {}, []
        for base in [n for n in results["servers"] if n.startswith("baseline")]:
            bl = results["servers"][base]
            by = {}
            for c in map(str, CONCURRENCIES):
                a, b = cx["load"]["runs"][c], bl["load"]["runs"][c]
                by[c] = {"throughput_x": round(a["rps"] / b["rps"], 2), "p99_ratio": round(a["p99_ms"] / b["p99_ms"], 3),
                         "cpu_per_request_ratio": round(a["server_cpu_us_per_request"]
                                                        / max(b["server_cpu_us_per_request"], 1e-9), 3)}
            rss_diff = round(cx["load"]["peak_rss_mib"] - bl["load"]["peak_rss_mib"], 1)
            results["ratios"][base] = {"by_concurrency": by, "rss_diff_mib": rss_diff}
            if workload.name == "echo":  # the targets are stated for the serving overhead (echo)
                results["targets"] += [
                    {"what": f"throughput at c={top} >= 3x {base}", "value": f"{by[top]['throughput_x']}x",
                     "pass": by[top]["throughput_x"] >= 3},
                    {"what": f"p99 at c={top} <= 1/3 of {base}", "value": f"{by[top]['p99_ratio']}",
                     "pass": by[top]["p99_ratio"] <= 1 / 3},
                    {"what": f"peak RSS <= {base} + 30 MiB", "value": f"{rss_diff:+} MiB", "pass": rss_diff <= 30},
                ]
        results["targets"] += [
            {"what": "cortex cold start < 1 s (median, launch -> first POST 200)", "value": f"{cx['cold_start_s']['median']} s",
             "pass": cx["cold_start_s"]["median"] < 1},
            {"what": "no non-2xx responses or socket errors (all servers)", "value": str(non2xx), "pass": non2xx == 0},
        ]
    results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    table = fmt_table(results)
    results["table"] = table.splitlines()
    suffix = "" if workload.name == "echo" else f"-{workload.name}"  # latest-onnx-batching.json, ...
    paths = [os.path.join(RESULTS, f"latest{suffix}.json"), os.path.join(RESULTS, f"bench{suffix}-{stamp}.json")]
    for path in paths:
        with open(path, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
            f.write("\n")
    print(table + f"\nJSON: {paths[0]}\n", flush=True)


def main():
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # keep this driver (and its pollers) off the server's core
    os.makedirs(RESULTS, exist_ok=True)
    unknown = [w for w in WORKLOADS if w not in ("echo", "onnx", "sklearn-batching", "onnx-batching")]
    if unknown or not WORKLOADS:
        raise SystemExit(f"WORKLOAD must name echo, onnx and/or batching (or all), not {unknown or WORKLOADS}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rawfile = os.path.join(RESULTS, f"wrk-{stamp}.txt")
    common = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": {
        "duration": DURATION, "warmup": WARMUP, "concurrencies": CONCURRENCIES, "cold_runs": COLD_RUNS,
        "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU, "cortex_bin": CORTEX_BIN,
        "baseline_args": os.environ.get("BASELINE_ARGS", ""), "targets": TARGETS, "workloads": WORKLOADS},
        "environment": versions(), "loadavg_start": open("/proc/loadavg").read().split()[:3]}
    common["busy_percent_before"] = busy_percent()
    if common["busy_percent_before"] > 10:
        log(f"WARNING: the machine was {common['busy_percent_before']}% busy before the benchmark: "
            "other work on it will skew the numbers")

    tmp = tempfile.mkdtemp(prefix="cortex-bench-")
    try:
        for name in WORKLOADS:
            if name == "echo":
                workload = echo_workload()
            elif name == "sklearn-batching":
                workload = sklearn_batching_workload(tmp)
            elif name == "onnx-batching":
                log(f"== onnx-batching: building the iris model into {tmp} (examples/onnx-iris/build_model.py)")
                workload = onnx_batching_workload(tmp)
            else:
                log(f"== onnx: building the iris model into {tmp} (examples/onnx-iris/build_model.py)")
                workload = onnx_workload(tmp)
            measure_workload(workload, common, stamp, rawfile)  # prints its table as soon as it is done
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"raw wrk output: {rawfile}")


if __name__ == "__main__":
    main()
