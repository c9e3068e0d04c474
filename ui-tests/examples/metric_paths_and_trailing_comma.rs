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
    let kit = backstage_telemetry::testing::install();
    search::INDEXED.add(1, &[]);
    search::index();
    // one exported metric, one point, both additions in it
    let metrics = kit.metrics();
    let indexed = metrics.metric("backstage.plugin.search.documents.indexed");
    assert_eq!(indexed.unit, "{document}");
    assert_eq!(indexed.points.len(), 1);
    assert_eq!(
        indexed.points[0].value,
        backstage_telemetry::testing::PointValue::U64(2)
    );
    // the module lists the name twice, as declared; both entries agree
    assert_eq!(search::METRICS.len(), 2);
    assert_eq!(search::METRICS[0].name, search::METRICS[1].name);
}
