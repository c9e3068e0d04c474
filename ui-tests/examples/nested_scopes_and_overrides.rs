#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::{metric, span};

    #[span]
    pub fn in_catalog() {}

    #[span(plugin = "search")]
    pub fn in_search() {
        metric!(Counter<u64>, "queries.run", plugin = "search").add(1, &[]);
    }

    pub mod processing {
        #[backstage_telemetry::span]
        pub fn still_catalog() {}
    }

    #[backstage_telemetry::backstage_plugin(id = "catalog-graph")]
    pub mod graph {
        backstage_telemetry::metric! {
            pub static EDGES: Gauge<u64> = "relations.edges";
        }

        #[backstage_telemetry::span]
        pub fn in_graph() {
            EDGES.record(2, &[]);
        }
    }

    #[backstage_telemetry::backstage_core(id = "scheduler")]
    pub mod scheduler {
        #[backstage_telemetry::span]
        pub fn in_scheduler() {}
    }
}

fn main() {
    catalog::in_catalog();
    catalog::in_search();
    catalog::processing::still_catalog();
    catalog::graph::in_graph();
    catalog::scheduler::in_scheduler();
    // the override belongs to `search`, not to the catalog's manifest
    assert!(catalog::METRICS.is_empty());
    assert_eq!(
        catalog::graph::METRICS[0].name,
        "backstage.plugin.catalog-graph.relations.edges"
    );
}
