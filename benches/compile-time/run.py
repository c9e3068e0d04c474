#!/usr/bin/env python3
"""Compile-time cost of the macros (budget: docs/design.md, "Performance budgets").

Writes, for each N, a crate with N `#[span]` functions and N `metric!` counters, and the same
code written by hand against the OpenTelemetry API (the same behaviour: scope attribute,
error recording, cached instruments). Both are members of a throwaway workspace under
target/compile-time, whose dependencies are built once first. For each crate it reports

- the full check (`cargo clean -p`, then `cargo check` with `CARGO_INCREMENTAL=0`): median
  wall time of three, and the instructions rustc executed, counted under valgrind
  (cachegrind without cache simulation; deterministic, unlike wall time on a shared
  machine). The count includes running the proc macros, which run inside rustc;
- touch and recheck (incremental `cargo check` after touching the source): median of three;

with the ratios macros / hand-written. Also reports the build time of the macros crate.

    python3 benches/compile-time/run.py [--optimized-macros] [--no-instructions] [N ...]
                                                                     (default: 100 500 1000)

With --optimized-macros the throwaway workspace sets what we recommend to users with many
annotated items, `[profile.dev.build-override] opt-level = 3`: proc macros (and build
scripts) are compiled optimised, so expanding runs faster.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(ROOT, "target", "compile-time")


def macro_crate(n: int) -> str:
    metrics = "\n".join(
        f'        pub static CALLS_{i}: Counter<u64> = "calls.f{i}", unit = "{{call}}";' for i in range(n)
    )
    functions = "\n".join(
        f"""
    #[span(attributes(work.index = {i}_i64))]
    pub fn f{i}(x: u64) -> Result<u64, std::fmt::Error> {{
        CALLS_{i}.add(1, &[KeyValue::new("result", "ok")]);
        if x == u64::MAX {{ Err(std::fmt::Error) }} else {{ Ok(x + {i}) }}
    }}"""
        for i in range(n)
    )
    return f"""//! Generated: {n} functions and metrics with the macros.
#[backstage_telemetry::backstage_plugin(id = "generated")]
pub mod generated {{
    use backstage_telemetry::{{KeyValue, metric, span}};

    metric! {{
{metrics}
    }}
{functions}
}}
"""


def hand_crate(n: int) -> str:
    metrics = "\n".join(
        f"""static CALLS_{i}: LazyLock<Counter<u64>> = LazyLock::new(|| {{
    global::meter("backstage-plugin-generated")
        .u64_counter("backstage.plugin.generated.calls.f{i}")
        .with_unit("{{call}}")
        .build()
}});"""
        for i in range(n)
    )
    functions = "\n".join(
        f"""
pub fn f{i}(x: u64) -> Result<u64, std::fmt::Error> {{
    tracer().in_span("f{i}", |cx| {{
        let span = cx.span();
        span.set_attribute(KeyValue::new("backstage.plugin.id", "generated"));
        span.set_attribute(KeyValue::new("work.index", {i}_i64));
        CALLS_{i}.add(1, &[KeyValue::new("result", "ok")]);
        let result = if x == u64::MAX {{ Err(std::fmt::Error) }} else {{ Ok(x + {i}) }};
        if let Err(error) = &result {{
            span.set_attribute(KeyValue::new("error.type", std::any::type_name::<std::fmt::Error>()));
            span.set_status(Status::error(error.to_string()));
        }}
        result
    }})
}}"""
        for i in range(n)
    )
    return f"""//! Generated: the same {n} functions and metrics written by hand.
use std::sync::LazyLock;

use opentelemetry::global::{{self, BoxedTracer}};
use opentelemetry::metrics::Counter;
use opentelemetry::trace::{{Status, TraceContextExt, Tracer}};
use opentelemetry::KeyValue;

fn tracer() -> &'static BoxedTracer {{
    static TRACER: LazyLock<BoxedTracer> = LazyLock::new(|| global::tracer("backstage-plugin-generated"));
    &TRACER
}}

{metrics}
{functions}
"""


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def cargo(*args: str, env: dict | None = None) -> float:
    start = time.monotonic()
    subprocess.run(["cargo", *args], cwd=WORK, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    return time.monotonic() - start


# Run as cargo's RUSTC_WORKSPACE_WRAPPER (workspace members only): rustc under valgrind,
# its instruction count written to $COUNT_FILE.
WRAPPER = """#!/bin/sh
exec valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
    --log-file="$COUNT_FILE" "$@"
"""


def full_check(name: str) -> float:
    cargo("clean", "-q", "-p", name)
    return cargo("check", "-q", "-p", name, env={"CARGO_INCREMENTAL": "0"})


def instructions(name: str) -> int:
    """Instructions rustc executes for a full check of `name` (proc macros included)."""
    wrapper = os.path.join(WORK, "count-rustc.sh")
    write(wrapper, WRAPPER)
    os.chmod(wrapper, 0o755)
    log = os.path.join(WORK, f"{name}.count")
    cargo("clean", "-q", "-p", name)
    cargo("check", "-q", "-p", name,
          env={"CARGO_INCREMENTAL": "0", "RUSTC_WORKSPACE_WRAPPER": wrapper, "COUNT_FILE": log})
    with open(log) as f:
        counts = re.findall(r"I\s+refs:\s+([\d,]+)", f.read())
    if len(counts) != 1:
        sys.exit(f"no instruction count for {name} in {log}")
    # the wrapper changes the fingerprint: the next timed check starts clean anyway
    return int(counts[0].replace(",", ""))


def main() -> None:
    args = sys.argv[1:]
    optimized = "--optimized-macros" in args
    count = "--no-instructions" not in args
    sizes = [int(a) for a in args if not a.startswith("--")] or [100, 500, 1000]
    if count and shutil.which("valgrind") is None:
        sys.exit("valgrind is needed for instruction counts (or pass --no-instructions)")
    members = []
    for n in sizes:
        for kind, source, dependency in [
            ("macros", macro_crate(n),
             f'backstage-telemetry = {{ path = "{ROOT}/runtime", default-features = false }}'),
            ("hand", hand_crate(n), 'opentelemetry = { version = "0.33", default-features = false, features = ["trace", "metrics"] }'),
        ]:
            name = f"{kind}-{n}"
            members.append(name)
            write(os.path.join(WORK, name, "Cargo.toml"),
                  f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n{dependency}\n')
            write(os.path.join(WORK, name, "src", "lib.rs"), source)
    profile = "\n[profile.dev.build-override]\nopt-level = 3\n" if optimized else ""
    write(os.path.join(WORK, "Cargo.toml"),
          "[workspace]\nresolver = \"3\"\nmembers = [" + ", ".join(f'"{m}"' for m in members) + "]\n"
          + profile)
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(WORK, "Cargo.lock"))

    # the macros crate itself, from scratch (it is compiled, not just checked: it runs)
    cargo("check", "-q", "-p", "backstage-telemetry-naming")
    cargo("clean", "-q", "-p", "backstage-telemetry-macros")
    macros_build = cargo("check", "-q", "-p", "backstage-telemetry-macros")
    # every dependency, once
    cargo("check", "-q", "--workspace")

    print(f"macros crate build (syn 3, features full/parsing/printing/proc-macro"
          f"{', optimised' if optimized else ''}): {macros_build:.2f} s\n")
    rows = []
    for n in sizes:
        row = {}
        for kind in ["macros", "hand"]:
            name = f"{kind}-{n}"
            row[kind, "full"] = statistics.median(full_check(name) for _ in range(3))
            touched = []
            for _ in range(3):
                os.utime(os.path.join(WORK, name, "src", "lib.rs"))
                touched.append(cargo("check", "-q", "-p", name))
            row[kind, "touch"] = statistics.median(touched)
            if count:
                row[kind, "instructions"] = instructions(name)
        rows.append((n, row))

    print("Full check (`CARGO_INCREMENTAL=0`, after `cargo clean -p`):\n")
    if count:
        print("| N functions + N metrics | rustc instructions, macros | by hand | ratio | wall, macros | by hand | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| N functions + N metrics | wall, macros | by hand | ratio |")
        print("|---:|---:|---:|---:|")
    for n, row in rows:
        wall = f"{row['macros', 'full']:.2f} s | {row['hand', 'full']:.2f} s | {row['macros', 'full'] / row['hand', 'full']:.2f}×"
        if count:
            m, h = row["macros", "instructions"], row["hand", "instructions"]
            print(f"| {n} | {m / 1e6:,.0f} M | {h / 1e6:,.0f} M | {m / h:.2f}× | {wall} |")
        else:
            print(f"| {n} | {wall} |")
    print("\nTouch and recheck (incremental `cargo check`):\n")
    print("| N functions + N metrics | with the macros | by hand | ratio |")
    print("|---:|---:|---:|---:|")
    for n, row in rows:
        print(f"| {n} | {row['macros', 'touch']:.2f} s | {row['hand', 'touch']:.2f} s | {row['macros', 'touch'] / row['hand', 'touch']:.2f}× |")


if __name__ == "__main__":
    main()
