//! Procedural macros of `backstage-telemetry`: `#[backstage_plugin]`, `#[backstage_core]`,
//! `#[span]` and `metric!`. Use them through the `backstage-telemetry` crate.
//!
//! Names given to the macros are checked at compile time with the same rules the runtime
//! applies to names given at run time (`backstage-telemetry-naming`).

// The expansions validate names with the shared rules.
use backstage_telemetry_naming as _;
