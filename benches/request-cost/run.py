#!/usr/bin/env python3
"""What telemetry costs per request: CPU time of the example backend's process.

Builds the example backend in release and runs it three ways, one after another on this
machine: telemetry off (`OTEL_SDK_DISABLED=true`), the zero-configuration defaults
(Prometheus `/metrics`, spans made for the logs but not recorded), and full export (every
request traced, and traces, metrics and logs over OTLP/gRPC to a rotel collector that
drops what it receives). Each way serves a fixed load on one light endpoint (the catalog's
by-name lookup) and one write (creating a todo), on one keep-alive connection, one request
at a time. The figure is the backend process's CPU time (user and system, every thread:
the sum of `/proc/PID/task/*/schedstat`, in nanoseconds) over the requests, divided by
their number: not wall time, and not the load generator's. Each figure is the median of
`--rounds` rounds (default 3) of `--requests` requests (default 5000) after a warm-up.

With `--instructions N` it also counts the instructions the backend executes per request
(user space, every thread), which do not vary from run to run as CPU time does: the
backend runs under callgrind, whose counters are zeroed after the warm-up
(`callgrind_control -z`) and dumped after N requests (`callgrind_control -d`). Under
callgrind a request takes about 50 times as long, so what runs on a timer (the metric
export every second) weighs more per request than it does at full speed.

    python3 benches/request-cost/run.py [--requests N] [--rounds R] [--instructions N]

Needs the rotel agent for full export (`pip install --pre rotel`, or `ROTEL_AGENT`).
"""

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

LIGHT = ("GET", "/api/catalog/entities/by-name/component/default/payments-service", None)
WRITE = ("POST", "/api/todos", b'{"title": "measure it", "category": "work"}')
# the write's caller: a service, whose todos the app-config below does not cap
HEADERS = {"authorization": "Bearer ci-token", "content-type": "application/json"}
CONFIG = "todos:\n  maxPerPrincipal: 1000000000\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rotel_agent() -> str | None:
    if os.environ.get("ROTEL_AGENT"):
        return os.environ["ROTEL_AGENT"]
    found = shutil.which("rotel-agent")
    if found:
        return found
    try:
        import rotel  # noqa: PLC0415
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")
    return path if os.path.isfile(path) else None


def wait_for(port: int, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"nothing answered {path} on port {port}")


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` so far (threads that ended are not counted, so
    none may end during a measurement: the backend's threads live as long as it does)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def send(connection: http.client.HTTPConnection, request: tuple, count: int) -> None:
    method, path, body = request
    for _ in range(count):
        connection.request(method, path, body=body, headers=HEADERS if body else {})
        response = connection.getresponse()
        response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status}")


def instructions(env: dict, binary: str, config: str, request: tuple, count: int,
                 work: str) -> float:
    """Instructions per request of `count` requests, the backend under callgrind."""
    port = free_port()
    dump = os.path.join(work, f"callgrind.{port}")
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}",
         binary, "--port", str(port), "--config", config],
        env={**os.environ, **env, "OTEL_EXPORTER_PROMETHEUS_PORT": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, "/.backstage/health/v1/readiness", time.monotonic() + 120)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        send(connection, request, 100)
        time.sleep(1.5)
        subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        send(connection, request, count)
        time.sleep(1.5)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        process.terminate()
        process.wait(timeout=60)
    # the dump made on request (`.1`), not the one written at exit
    with open(dump + ".1") as f:
        totals = [line for line in f if line.startswith("summary:")]
    if not totals:
        sys.exit(f"no summary in {dump}.1")
    return int(totals[0].split()[1]) / count


def measure(mode: str, env: dict, binary: str, config: str, requests: int, rounds: int) -> dict:
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--config", config],
        env={**os.environ, **env, "OTEL_EXPORTER_PROMETHEUS_PORT": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, "/.backstage/health/v1/readiness", time.monotonic() + 30)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        result = {}
        for name, request in [("light", LIGHT), ("write", WRITE)]:
            send(connection, request, min(1000, requests))  # warm-up
            per_request = []
            for _ in range(rounds):
                before = cpu_ns(process.pid)
                send(connection, request, requests)
                # let the export threads finish what these requests gave them
                time.sleep(0.3 if mode == "full" else 0.05)
                per_request.append((cpu_ns(process.pid) - before) / requests / 1000)
            result[name] = statistics.median(per_request)
            result[name + " rounds"] = per_request
        return result
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    args = sys.argv[1:]

    def option(name: str, default: int) -> int:
        return int(args[args.index(name) + 1]) if name in args else default

    requests = option("--requests", 5000)
    rounds = option("--rounds", 3)
    counted = option("--instructions", 0)
    agent = rotel_agent()
    if agent is None:
        sys.exit("rotel-agent not found (pip install --pre rotel, or set ROTEL_AGENT)")
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "backend"], cwd=ROOT,
                   check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    binary = os.path.join(os.path.abspath(target), "release", "backend")
    work = tempfile.mkdtemp(prefix="bt-request-cost-")
    config = os.path.join(work, "app-config.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)

    grpc, http_port = free_port(), free_port()
    rotel = subprocess.Popen(
        [agent, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
         "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--exporter", "blackhole",
         "--pid-file", os.path.join(work, "rotel.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while socket.socket().connect_ex(("127.0.0.1", grpc)) != 0:
            if time.monotonic() > deadline:
                sys.exit("the rotel agent did not start")
            time.sleep(0.1)
        modes = [
            ("off", "telemetry off (`OTEL_SDK_DISABLED=true`)", {"OTEL_SDK_DISABLED": "true"}),
            ("defaults", "zero-configuration defaults", {}),
            ("full", "full export: every request traced; traces, metrics, logs over OTLP", {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            }),
        ]
        results = {mode: measure(mode, env, binary, config, requests, rounds)
                   for mode, _, env in modes}
        counts = {(mode, name): instructions(env, binary, config, request, counted, work)
                  for mode, _, env in modes if counted
                  for name, request in [("light", LIGHT), ("write", WRITE)]}
    finally:
        rotel.terminate()
        rotel.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"CPU time of the backend per request, µs (median of {rounds} rounds of "
          f"{requests} requests; each round's figure in brackets):\n")
    print("| set-up | catalog by-name lookup | vs. off | create todo | vs. off |")
    print("|---|---:|---:|---:|---:|")
    for mode, label, _ in modes:
        row = results[mode]
        cells = []
        for name in ["light", "write"]:
            rounds_text = ", ".join(f"{r:.1f}" for r in row[name + " rounds"])
            cells.append(f"{row[name]:.1f} ({rounds_text})")
            cells.append(f"{row[name] / results['off'][name]:.2f}×")
        print(f"| {label} | " + " | ".join(cells) + " |")
    if counts:
        print(f"\nInstructions of the backend per request (callgrind, {counted} requests after "
              "100):\n")
        print("| set-up | catalog by-name lookup | vs. off | create todo | vs. off |")
        print("|---|---:|---:|---:|---:|")
        for mode, label, _ in modes:
            cells = []
            for name in ["light", "write"]:
                cells.append(f"{counts[mode, name]:,.0f}")
                cells.append(f"{counts[mode, name] / counts['off', name]:.2f}×")
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
