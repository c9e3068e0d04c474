#![deny(warnings)]

use std::borrow::Cow;

#[derive(Debug)]
pub enum LookupError {
    Missing,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing")
    }
}

#[backstage_telemetry::error_type]
impl backstage_telemetry::ErrorType for LookupError {
    fn error_type(&self) -> Cow<'static, str> {
        match self {
            LookupError::Missing => "missing".into(),
        }
    }
}

#[derive(Debug)]
pub struct OnlyDebug;

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use super::{LookupError, OnlyDebug};
    use backstage_telemetry::span;

    pub type Result<T> = std::result::Result<T, LookupError>;

    #[span]
    pub fn io() -> std::io::Result<()> {
        Ok(())
    }

    #[span]
    pub fn any() -> anyhow::Result<u8> {
        Ok(1)
    }

    #[span]
    pub fn fmt() -> std::fmt::Result {
        Err(std::fmt::Error)
    }

    #[span]
    pub fn aliased() -> Result<()> {
        Err(LookupError::Missing)
    }

    #[span]
    pub fn debug_only() -> std::result::Result<(), OnlyDebug> {
        Err(OnlyDebug)
    }

    #[span]
    pub fn boxed() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err("boxed".into())
    }

    #[span]
    pub fn question_mark() -> anyhow::Result<u32> {
        let value: u32 = "12".parse()?;
        Ok(value)
    }
}

fn main() {
    catalog::io().unwrap();
    assert_eq!(catalog::any().unwrap(), 1);
    assert!(catalog::fmt().is_err());
    assert!(catalog::aliased().is_err());
    assert!(catalog::debug_only().is_err());
    assert!(catalog::boxed().is_err());
    assert_eq!(catalog::question_mark().unwrap(), 12);
}
