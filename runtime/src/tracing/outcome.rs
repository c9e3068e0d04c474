//! What a traced body returned, and how it is recorded on its span: `Err` values (found by
//! type, whatever alias names them) and panics.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

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

/// How a `#[span]` expansion records the body's outcome: the recording function picked
/// for its type by [`RecordOutcome`] (autoref specialisation). The expansion names only
/// this macro; the trait and the depth of `&` live here, beside the impls.
///
/// `record_outcome!(Type)` is the function for a return type that can be written, picked
/// in the function's own body (`record_outcome!(in_scope Type)` where `RecordOutcome` is
/// already imported: a scoped module imports it once for all its functions);
/// `record_outcome!()` a closure that picks it from the value (for `impl Trait` outputs).
#[doc(hidden)]
#[macro_export]
macro_rules! __record_outcome {
    (in_scope $ty:ty) => {
        (&&&&$crate::__private::Outcome::<$ty>::PICK).recorder()
    };
    ($ty:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::RecordOutcome as _;
        (&&&&$crate::__private::Outcome::<$ty>::PICK).recorder()
    }};
    () => {
        |outcome, span| {
            #[allow(unused_imports)]
            use $crate::__private::RecordOutcome as _;
            (&&&&$crate::__private::Outcome::of(outcome)).recorder()(outcome, span)
        }
    };
}

/// The type a `#[span]` body returns, to pick its recording function by.
#[doc(hidden)]
pub struct Outcome<R: ?Sized>(PhantomData<fn(&R)>);

impl<R: ?Sized> Outcome<R> {
    pub const PICK: Self = Outcome(PhantomData);

    #[inline]
    pub fn of(_: &R) -> Self {
        Outcome(PhantomData)
    }
}

/// How a body's outcome is recorded: on its span if the span records, and as the
/// `error.type` of an `Err` for span metrics (`None`: a success).
#[doc(hidden)]
pub type Record<R> = fn(&R, Option<&SpanRef<'_>>) -> Option<Cow<'static, str>>;

/// The recording function of the most specific impl: `Err` of an error with its own
/// [`ErrorType`] (`&&&Outcome`), of a displayable error (`&&`), of a `Debug` one (`&`),
/// anything else a success. One trait, implemented at four depths of `&`: a method call
/// on `&&&&Outcome` takes the first that applies, so `Err` is found by type, whatever alias
/// names it.
#[doc(hidden)]
pub trait RecordOutcome<R: ?Sized> {
    fn recorder(&self) -> Record<R>;
}

impl<T, E: ErrorType + fmt::Display> RecordOutcome<Result<T, E>> for &&&Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        |outcome, span| {
            let error = outcome.as_ref().err()?;
            let error_type = error.error_type();
            if let Some(span) = span {
                let type_name = std::any::type_name::<E>();
                record_error(span, type_name, error_type.clone(), error.to_string());
            }
            Some(error_type)
        }
    }
}

impl<T, E: fmt::Display> RecordOutcome<Result<T, E>> for &&Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        |outcome, span| {
            let error = outcome.as_ref().err()?;
            let type_name = std::any::type_name::<E>();
            if let Some(span) = span {
                record_error(span, type_name, Cow::Borrowed(type_name), error.to_string());
            }
            Some(Cow::Borrowed(type_name))
        }
    }
}

impl<T, E: fmt::Debug> RecordOutcome<Result<T, E>> for &Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        |outcome, span| {
            let error = outcome.as_ref().err()?;
            let type_name = std::any::type_name::<E>();
            if let Some(span) = span {
                record_error(
                    span,
                    type_name,
                    Cow::Borrowed(type_name),
                    format!("{error:?}"),
                );
            }
            Some(Cow::Borrowed(type_name))
        }
    }
}

impl<R: ?Sized> RecordOutcome<R> for Outcome<R> {
    #[inline]
    fn recorder(&self) -> Record<R> {
        |_, _| None
    }
}

/// A [`SpanOutcome`] as a [`Record`] (the services' spans, which have no span metrics).
pub(super) fn on_span<R: SpanOutcome>(
    outcome: &R,
    span: Option<&SpanRef<'_>>,
) -> Option<Cow<'static, str>> {
    if let Some(span) = span {
        outcome.record(span);
    }
    None
}

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
