// no enclosing #[backstage_plugin], no crate-wide pluginId, no `plugin = ".."`
backstage_telemetry::metric! {
    pub static PROCESSED: Counter<u64> = "entities.processed";
}

fn main() {}
