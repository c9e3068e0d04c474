//! The values `#[span(attributes(key = expr))]` takes: owned or borrowed, converted to an
//! OpenTelemetry [`Value`] when the span starts.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::{Array, StringValue, Value};

/// A value `#[span(attributes(key = expr))]` can record: strings (`&str`, `&String`,
/// `String`, `Cow<str>`, `Arc<str>`), whole numbers (`i8` to `i64`, `u8` to `u64`, `isize`,
/// `usize`, recorded as `i64`; a `u64` or `usize` beyond `i64::MAX` as its decimal text),
/// `f32` and `f64`, `bool`, each owned or borrowed, and OpenTelemetry's own [`Value`],
/// [`StringValue`] and [`Array`]. A borrowed string is copied when the span starts, so
/// the expression may borrow the function's arguments (`name.as_str()`); a string literal
/// is recorded without a copy.
///
/// Implement it for your own types (an enum recorded by name, say):
///
/// ```
/// use backstage_telemetry::tracing::IntoAttributeValue;
///
/// enum Tier { Free, Paid }
///
/// impl IntoAttributeValue for &Tier {
///     fn into_attribute_value(self) -> opentelemetry::Value {
///         match self {
///             Tier::Free => "free".into(),
///             Tier::Paid => "paid".into(),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the value of a span attribute",
    label = "a string, number or bool (owned or borrowed) is expected here",
    note = "implement `backstage_telemetry::tracing::IntoAttributeValue` for it, or convert it (`.to_string()`)"
)]
pub trait IntoAttributeValue {
    /// The value to record.
    fn into_attribute_value(self) -> Value;
}

macro_rules! into_value {
    ($($ty:ty => |$v:ident| $body:expr),* $(,)?) => {$(
        impl IntoAttributeValue for $ty {
            #[inline]
            fn into_attribute_value(self) -> Value {
                let $v = self;
                $body
            }
        }
        impl IntoAttributeValue for &$ty {
            #[inline]
            fn into_attribute_value(self) -> Value {
                let $v = self.clone();
                $body
            }
        }
    )*};
}

into_value! {
    String => |v| Value::String(v.into()),
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(v.into()),
    i16 => |v| Value::I64(v.into()),
    i8 => |v| Value::I64(v.into()),
    u32 => |v| Value::I64(v.into()),
    u16 => |v| Value::I64(v.into()),
    u8 => |v| Value::I64(v.into()),
    isize => |v| Value::I64(v as i64),
    u64 => |v| i64::try_from(v).map_or_else(|_| Value::String(v.to_string().into()), Value::I64),
    usize => |v| i64::try_from(v).map_or_else(|_| Value::String(v.to_string().into()), Value::I64),
    f64 => |v| Value::F64(v),
    f32 => |v| Value::F64(v.into()),
    Arc<str> => |v| Value::String(v.into()),
    Value => |v| v,
    StringValue => |v| Value::String(v),
    Array => |v| Value::Array(v),
}

impl IntoAttributeValue for &str {
    #[inline]
    fn into_attribute_value(self) -> Value {
        Value::String(self.to_owned().into())
    }
}

impl IntoAttributeValue for &&str {
    #[inline]
    fn into_attribute_value(self) -> Value {
        Value::String((*self).to_owned().into())
    }
}

impl IntoAttributeValue for Cow<'_, str> {
    #[inline]
    fn into_attribute_value(self) -> Value {
        Value::String(self.into_owned().into())
    }
}

impl IntoAttributeValue for &Cow<'_, str> {
    #[inline]
    fn into_attribute_value(self) -> Value {
        Value::String(self.clone().into_owned().into())
    }
}

/// What the expansion calls on an attribute expression (a literal is passed as it is).
#[doc(hidden)]
#[inline]
pub fn attribute_value<T: IntoAttributeValue>(value: T) -> Value {
    value.into_attribute_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_borrows_for_generic_args)] // the borrowed forms are the point
    fn owned_and_borrowed_values() {
        let name = String::from("alice");
        assert_eq!(attribute_value(name.as_str()), Value::from("alice"));
        assert_eq!(attribute_value(&name), Value::from("alice"));
        assert_eq!(
            attribute_value(Cow::Borrowed(name.as_str())),
            Value::from("alice")
        );
        assert_eq!(attribute_value(7_u32), Value::I64(7));
        assert_eq!(attribute_value(&7_u8), Value::I64(7));
        assert_eq!(attribute_value(u64::MAX), Value::from(u64::MAX.to_string()));
        assert_eq!(
            attribute_value(usize::MAX),
            Value::from(usize::MAX.to_string())
        );
        assert_eq!(attribute_value(1.5_f32), Value::F64(1.5));
        assert_eq!(attribute_value(&true), Value::Bool(true));
    }
}
