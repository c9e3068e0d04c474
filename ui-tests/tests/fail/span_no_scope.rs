// no enclosing #[backstage_plugin], no crate-wide pluginId, no `plugin = ".."`
#[backstage_telemetry::span]
fn process() {}

fn main() {}
