// A wrong option is reported, and the function is still there: its own type error shows
// in the same build, and callers still resolve it.
#[backstage_telemetry::span(bogus = 1, plugin = "catalog")]
fn process() -> u32 {
    "not a number"
}

fn main() {
    let _: u32 = process();
}
