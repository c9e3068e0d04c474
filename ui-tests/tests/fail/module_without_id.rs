// no id, and this crate has no [package.metadata.backstage] pluginId
#[backstage_telemetry::backstage_plugin]
mod catalog {}

fn main() {}
