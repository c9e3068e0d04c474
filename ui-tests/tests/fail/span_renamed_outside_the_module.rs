// A module sees the names imported inside it; one imported outside gets no scope from it,
// and the error says how to fix that.
use backstage_telemetry::span as traced;

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[super::traced]
    pub fn process() {}
}

fn main() {
    catalog::process();
}
