use std::borrow::Cow;

#[derive(Debug)]
pub struct Wrapped<E>(pub E);

#[backstage_telemetry::error_type]
impl<E> backstage_telemetry::ErrorType for Wrapped<E> {
    fn error_type(&self) -> Cow<'static, str> {
        "wrapped".into()
    }
}

fn main() {}
