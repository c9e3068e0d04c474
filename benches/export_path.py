#!/usr/bin/env python3
"""The export path's allocations per exported span (BENCHMARKS.md, "Export path").

Runs `profile_export` (tests/src/bin/profile_export.rs, release) against the test receiver
in another process, over http/protobuf and gRPC, at two span counts; the difference over
the difference in spans is the cost of exporting one span.

    python3 benches/export_path.py
"""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
N1, N2 = 512, 4096


def main() -> int:
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "-p", "backstage-telemetry-tests",
         "--bin", "profile_export"],
        cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "profile_export")
    receiver = subprocess.Popen([binary, "receiver"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    addresses = dict(receiver.stdout.readline().split() for _ in range(2))
    try:
        print("| protocol | allocations per exported span | bytes allocated per exported span |")
        print("|---|---|---|")
        for protocol, transport in [("http/protobuf", "http"), ("grpc", "grpc")]:
            endpoint = "http://" + addresses[transport]
            counts = []
            for n in (N1, N2):
                out = subprocess.run([binary, protocol, endpoint, str(n)], capture_output=True,
                                     text=True, check=True, env={"PATH": os.environ["PATH"]})
                words = out.stdout.split()
                counts.append((int(words[1]), int(words[3])))
            allocations = (counts[1][0] - counts[0][0]) / (N2 - N1)
            allocated = (counts[1][1] - counts[0][1]) / (N2 - N1)
            print(f"| {protocol} | {allocations:.1f} | {allocated:.0f} |")
    finally:
        receiver.stdin.close()
        receiver.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
