#!/usr/bin/env python3
"""Compile-time cost of the macros (budget: docs/design.md, "Performance budgets").

Writes, for each N, a crate with N `#[span]` functions and N `metric!` counters, and the same
code written by hand against the OpenTelemetry API. Both are members of a throwaway workspace
under target/compile-time, whose dependencies are built once first. Then each crate is
re-checked after touching its source, three times; the median wall time of `cargo check` is
reported, with the ratio macros / hand-written. Also reports the build time of the macros
crate itself.

    python3 benches/compile-time/run.py [--optimized-macros] [N ...]      (default: 100 500 1000)

With --optimized-macros the throwaway workspace sets what we recommend to users with many
annotated items, `[profile.dev.build-override] opt-level = 3`: proc macros (and build
scripts) are compiled optimised, so expanding runs faster.
"""

import os
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


def cargo(*args: str) -> float:
    start = time.monotonic()
    subprocess.run(["cargo", *args], cwd=WORK, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    args = sys.argv[1:]
    optimized = "--optimized-macros" in args
    sizes = [int(a) for a in args if a != "--optimized-macros"] or [100, 500, 1000]
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
    print("| N functions + N metrics | with the macros | by hand | ratio |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        times = {}
        for kind in ["macros", "hand"]:
            name = f"{kind}-{n}"
            samples = []
            for _ in range(3):
                os.utime(os.path.join(WORK, name, "src", "lib.rs"))
                samples.append(cargo("check", "-q", "-p", name))
            times[kind] = statistics.median(samples)
        print(f"| {n} | {times['macros']:.2f} s | {times['hand']:.2f} s | {times['macros'] / times['hand']:.2f}× |")


if __name__ == "__main__":
    main()
