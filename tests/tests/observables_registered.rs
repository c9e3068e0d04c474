//! Observable instruments declared with `metric!` are exported without a
//! `register_observables()` call: `init` (here the test kit, which installs the same way)
//! registers every one the binary declares, at the top of a scoped module or as a static
//! outside one.

use backstage_telemetry::testing::{self, PointValue};

#[backstage_telemetry::backstage_plugin(id = "observed")]
mod observed {
    use backstage_telemetry::metric;

    metric! {
        /// Items waiting.
        pub static QUEUED: ObservableGauge<u64> = "items.queued", unit = "{item}",
            callback = |observer| observer.observe(7, &[]);
    }
}

backstage_telemetry::metric! {
    /// Connections open, declared outside a scoped module.
    static OPEN: ObservableUpDownCounter<i64> = "connections.open", unit = "{connection}",
        plugin = "observed-outside",
        callback = |observer| observer.observe(3, &[]);
}

#[test]
fn observables_are_exported_without_registering_them() {
    let kit = testing::install();
    let metrics = kit.metrics();
    let value = |name: &str| {
        metrics
            .metric(name)
            .point(&[])
            .map(|point| point.value.clone())
    };
    assert_eq!(
        value("backstage.plugin.observed.items.queued"),
        Some(PointValue::U64(7))
    );
    assert_eq!(
        value("backstage.plugin.observed-outside.connections.open"),
        Some(PointValue::I64(3))
    );
}
