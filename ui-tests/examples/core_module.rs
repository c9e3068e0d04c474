#![deny(warnings)]

#[backstage_telemetry::backstage_core(id = "database")]
mod database {
    use backstage_telemetry::{metric, span};

    metric! {
        /// Open connections.
        pub static CONNECTIONS: UpDownCounter<i64> = "connections.active", unit = "{connection}";
    }

    #[span(kind = client)]
    pub fn connect() -> Result<(), std::io::Error> {
        CONNECTIONS.add(1, &[]);
        Ok(())
    }
}

fn main() {
    database::connect().unwrap();
    assert_eq!(
        database::CONNECTIONS.name(),
        "backstage.core.database.connections.active"
    );
    assert_eq!(database::METRICS[0].description, "Open connections.");
}
