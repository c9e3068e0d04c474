#![deny(warnings)]

use backstage_telemetry::backstage_plugin;

#[backstage_plugin(id = "search")]
mod search {
    backstage_telemetry::metric! {
        pub static INDEXED: backstage_telemetry::metrics::Counter<u64> = "documents.indexed", unit = "{document}",;
    }

    // the same metric declared again, with the same kind, type and unit, is one instrument
    pub fn index() {
        backstage_telemetry::metric!(Counter<u64>, "documents.indexed", unit = "{document}")
            .add(1, &[]);
    }
}

fn main() {
    search::INDEXED.add(1, &[]);
    search::index();
}
