#![deny(warnings)]
//! `#[span(metrics)]` alone and with every other option, sync and async, on a plugin and a
//! core service, and in a crate-wide-style site outside a module (`plugin = ..`).

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
    pub async fn batch(kind: &'static str) -> Option<u32> {
        Some(kind.len() as u32)
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
}
