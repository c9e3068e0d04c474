#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    pub struct Store;

    #[backstage_telemetry::span(name = "store", kind = server)]
    impl Store {
        pub fn get(&self) {}
    }
}

fn main() {}
