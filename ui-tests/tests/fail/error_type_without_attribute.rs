use std::borrow::Cow;

#[derive(Debug)]
pub struct FetchError;

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fetch failed")
    }
}

impl backstage_telemetry::ErrorType for FetchError {
    fn error_type(&self) -> Cow<'static, str> {
        "fetch".into()
    }
}

fn main() {}
