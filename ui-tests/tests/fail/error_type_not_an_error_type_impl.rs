use std::fmt;

pub struct FetchError;

#[backstage_telemetry::error_type]
impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fetch failed")
    }
}

fn main() {}
