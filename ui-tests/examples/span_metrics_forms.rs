#![deny(warnings)]
#![forbid(unsafe_code)]
//! `#[span(metrics)]` alone and with every other option, sync and async, on a plugin and a
//! core service, and in a site outside a module (`plugin = ..`); in a crate that forbids
//! `unsafe` (the catalog entries the expansions add compile there too).

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;

    #[span(metrics)]
    pub fn plain() {}

    #[span(metrics, name = "refresh-entity", kind = consumer)]
    pub fn refresh(entity_ref: &str) -> Result<usize, std::fmt::Error> {
        Ok(entity_ref.len())
    }

    #[span(kind = server, metrics, attributes(catalog.entity.kind = kind))]
    pub async fn batch(kind: &'static str) -> Option<usize> {
        Some(kind.len())
    }
}

#[backstage_telemetry::backstage_core(id = "scheduler")]
mod scheduler {
    #[backstage_telemetry::span(metrics, name = "task-run")]
    pub fn run() -> u8 {
        1
    }
}

#[backstage_telemetry::span(metrics, plugin = "todos")]
fn outside() -> u8 {
    2
}

fn main() {
    catalog::plain();
    assert_eq!(catalog::refresh("component:a"), Ok(11));
    assert_eq!(futures::executor::block_on(catalog::batch("API")), Some(3));
    assert_eq!(scheduler::run(), 1);
    assert_eq!(outside(), 2);
    let catalog = backstage_telemetry::catalog();
    let names: Vec<&str> = catalog.spans().iter().map(|s| s.name).collect();
    // plugins first, by id, then by line; then core services
    assert_eq!(
        names,
        ["plain", "refresh-entity", "batch", "outside", "task-run"]
    );
    assert!(catalog.conflicts().is_empty());
}
