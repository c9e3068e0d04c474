//! What a traced body returned, and how it is recorded on its span: `Err` values (found by
//! type, whatever alias names them) and panics.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

use super::ERROR_TYPE_ATTRIBUTE;

/// What a traced body returned, as far as the span is concerned: a `Result` records its
/// `Err`; `()` is always a success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a traced body",
    label = "return a `Result` (its `Err` is recorded on the span) or `()`",
    note = "for a value that cannot fail, return `Ok::<_, std::convert::Infallible>(value)`; the `#[span]` macro accepts any return type"
)]
pub trait SpanOutcome {
    /// Records this outcome on `span` before it ends.
    fn record(&self, span: &SpanRef<'_>);
}

impl SpanOutcome for () {
    fn record(&self, _span: &SpanRef<'_>) {}
}

impl<T, E: fmt::Display> SpanOutcome for Result<T, E> {
    fn record(&self, span: &SpanRef<'_>) {
        if let Err(error) = self {
            let type_name = std::any::type_name::<E>();
            record_error(span, type_name, Cow::Borrowed(type_name), error.to_string());
        }
    }
}

/// Gives the `error.type` that `#[span]` records for an error, instead of its type name:
/// a short, low-cardinality kind such as an enum variant.
///
/// ```
/// use std::borrow::Cow;
///
/// #[derive(Debug)]
/// enum ProcessError { NotFound, Invalid(String) }
///
/// impl backstage_telemetry::ErrorType for ProcessError {
///     fn error_type(&self) -> Cow<'static, str> {
///         match self {
///             ProcessError::NotFound => "not_found".into(),
///             ProcessError::Invalid(_) => "invalid".into(),
///         }
///     }
/// }
/// ```
pub trait ErrorType {
    /// The value of `error.type` for this error.
    fn error_type(&self) -> Cow<'static, str>;
}

/// The closure a `#[span]` expansion hands to `in_span_*` to record the body's outcome: the
/// most specific `Record*` trait for its type (autoref specialisation). The expansion names
/// only this; the traits and the depth of `&` live here, beside their impls.
#[doc(hidden)]
#[macro_export]
macro_rules! __record_outcome {
    () => {
        |outcome, span| {
            #[allow(unused_imports)]
            use $crate::__private::{
                RecordDebugError as _, RecordDisplayError as _, RecordNothing as _,
                RecordTypedError as _,
            };
            (&&&&$crate::__private::Outcome(outcome)).record_outcome(span)
        }
    };
}

/// What a `#[span]` body returned; the macro records it through the most specific of the
/// `Record*` traits below (autoref specialisation), so any return type works and `Err`
/// is found by type, whatever alias names it.
#[doc(hidden)]
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

/// `Err` of an error with its own [`ErrorType`].
#[doc(hidden)]
pub trait RecordTypedError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: ErrorType + fmt::Display> RecordTypedError for &&&Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            record_error(
                span,
                std::any::type_name::<E>(),
                error.error_type(),
                error.to_string(),
            );
        }
    }
}

/// `Err` of a displayable error: `error.type` is its type name.
#[doc(hidden)]
pub trait RecordDisplayError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: fmt::Display> RecordDisplayError for &&Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            let type_name = std::any::type_name::<E>();
            record_error(span, type_name, Cow::Borrowed(type_name), error.to_string());
        }
    }
}

/// `Err` of an error that is only `Debug`.
#[doc(hidden)]
pub trait RecordDebugError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: fmt::Debug> RecordDebugError for &Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            let type_name = std::any::type_name::<E>();
            record_error(
                span,
                type_name,
                Cow::Borrowed(type_name),
                format!("{error:?}"),
            );
        }
    }
}

/// Anything else: a success.
#[doc(hidden)]
pub trait RecordNothing {
    fn record_outcome(&self, _span: &SpanRef<'_>) {}
}

impl<T: ?Sized> RecordNothing for Outcome<'_, T> {}

/// Records an error: exception event (`exception.type`, `exception.message`),
/// `error.type`, status ERROR with the message.
pub(crate) fn record_error(
    span: &SpanRef<'_>,
    exception_type: &str,
    error_type: Cow<'static, str>,
    message: String,
) {
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", exception_type.to_owned()),
            KeyValue::new("exception.message", message.clone()),
        ],
    );
    span.set_attribute(KeyValue::new(ERROR_TYPE_ATTRIBUTE, error_type));
    span.set_status(Status::error(message));
}

pub(super) fn record_panic(span: &SpanRef<'_>, payload: &(dyn Any + Send)) {
    let message = if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    record_error(span, "panic", Cow::Borrowed("panic"), message);
}
