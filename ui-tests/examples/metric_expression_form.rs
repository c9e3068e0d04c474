#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "todos")]
mod todos {
    pub fn create(title: &str) -> usize {
        let created = backstage_telemetry::metric!(
            Counter<u64>,
            "todos.created",
            unit = "{todo}",
            description = "Todos created"
        );
        created.add(1, &[]);
        backstage_telemetry::metric!(
            Histogram<f64>,
            "todos.title_length",
            boundaries = [8, 32, 128]
        )
        .record(
            f64::from(u32::try_from(title.len()).unwrap_or(u32::MAX)),
            &[],
        );
        let _ = backstage_telemetry::metric!(
            ObservableGauge<u64>,
            "todos.open",
            callback = |o| o.observe(1, &[])
        );
        created.name().len()
    }
}

fn main() {
    assert_eq!(
        todos::create("write docs"),
        "backstage.plugin.todos.todos.created".len()
    );
    assert_eq!(todos::METRICS.len(), 3);
}
