#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::metric;

    metric! {
        /// Entities processed.
        pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
        pub static WORK: Counter<f64> = "work.seconds", unit = "s";
        pub static IN_FLIGHT: UpDownCounter<i64> = "tasks.in_flight";
        pub static WEIGHT: UpDownCounter<f64> = "queue.weight";
        pub static DURATION: Histogram<f64> = "tasks.duration", unit = "s", boundaries = [0.01, 0.1, 1, 10];
        pub static SIZE: Histogram<u64> = "payload.size", unit = "By";
        pub static LENGTH: Gauge<u64> = "queue.length";
        pub static SKEW: Gauge<i64> = "clock.skew", unit = "ms";
        pub static RATIO: Gauge<f64> = "cache.ratio", unit = "1";
        pub static CPU: ObservableCounter<u64> = "cpu.time", unit = "ms", callback = |o| o.observe(1, &[]);
        pub static IO: ObservableCounter<f64> = "io.time", callback = |o| o.observe(0.5, &[]);
        pub static STORED: ObservableUpDownCounter<i64> = "entities.stored", callback = |o| o.observe(-1, &[]);
        pub static BALANCE: ObservableUpDownCounter<f64> = "balance.value", callback = |o| o.observe(1.5, &[]);
        pub static AGE: ObservableGauge<u64> = "refresh.age", callback = |o| o.observe(3, &[]);
        pub static DELTA: ObservableGauge<i64> = "temperature.delta", callback = |o| o.observe(-3, &[]);
        pub static LOAD: ObservableGauge<f64> = "load.average", callback = |o| o.observe(0.1, &[]);
    }
}

fn main() {
    use backstage_telemetry::KeyValue;
    catalog::PROCESSED.add(1, &[KeyValue::new("kind", "Component")]);
    catalog::WORK.add(0.5, &[]);
    catalog::IN_FLIGHT.add(-1, &[]);
    catalog::WEIGHT.add(0.5, &[]);
    catalog::DURATION.record(0.2, &[]);
    catalog::SIZE.record(10, &[]);
    catalog::LENGTH.record(3, &[]);
    catalog::SKEW.record(-3, &[]);
    catalog::RATIO.record(0.5, &[]);
    catalog::register_observables();
    assert_eq!(catalog::METRICS.len(), 16);
    assert_eq!(
        catalog::PROCESSED.name(),
        "backstage.plugin.catalog.entities.processed"
    );
    assert_eq!(catalog::CPU.name(), "backstage.plugin.catalog.cpu.time");
}
