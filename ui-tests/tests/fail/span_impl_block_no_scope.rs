pub struct Store;

#[backstage_telemetry::span]
impl Store {
    pub fn get(&self) {}
    pub fn put(&self) {}
}

fn main() {}
