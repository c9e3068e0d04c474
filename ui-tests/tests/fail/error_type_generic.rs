use std::borrow::Cow;

#[derive(Debug)]
pub struct Wrapped<E>(pub E);

impl<E> std::fmt::Display for Wrapped<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wrapped")
    }
}

#[backstage_telemetry::error_type]
impl<E> backstage_telemetry::ErrorType for Wrapped<E> {
    fn error_type(&self) -> Cow<'static, str> {
        "wrapped".into()
    }
}

fn main() {}
