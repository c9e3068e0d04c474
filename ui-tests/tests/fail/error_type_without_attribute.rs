use std::borrow::Cow;

#[derive(Debug)]
pub struct FetchError;

impl backstage_telemetry::ErrorType for FetchError {
    fn error_type(&self) -> Cow<'static, str> {
        "fetch".into()
    }
}

fn main() {}
