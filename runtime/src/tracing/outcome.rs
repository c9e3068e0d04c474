//! What a traced body returned, and how it is recorded on its span and in its span metrics:
//! an `Err` (found by type, whatever alias names it) and a panic.
//!
//! There is one recorder, [`record`], and one way to describe an error ([`Described`]): by
//! its [`ErrorType`] if it has one, else by its type name; the message by `Display`, else
//! by `Debug`. What differs is only who picks the description:
//!
//! - a `#[span]` expansion picks it from the concrete return type (the autoref dispatch of
//!   [`RecordOutcome`]: `ErrorType` + `Display`, then `Display`, then `Debug`, then success);
//! - [`TracingService`](super::TracingService) methods, generic over the body's result,
//!   pick it from their bound [`SpanOutcome`]: a generic method cannot ask whether a type
//!   implements a trait it does not require (stable Rust has no specialisation), so an
//!   error there is described by `Display` and its type name, the same as a `#[span]`
//!   function returning an error without an `ErrorType`.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

use super::ERROR_TYPE_ATTRIBUTE;

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

/// How a body's outcome is recorded: on its span if the span records, and as the
/// `error.type` of an `Err` for span metrics (`None`: a success).
pub(crate) type Record<R> = fn(&R, Option<&SpanRef<'_>>) -> Option<Cow<'static, str>>;

/// An error as it is recorded: `error.type`, `exception.type` and the message.
struct Described {
    error_type: Cow<'static, str>,
    exception_type: &'static str,
    message: String,
}

impl Described {
    /// By its `ErrorType` and `Display`.
    fn typed<E: ErrorType + fmt::Display>(error: &E) -> Self {
        Described {
            error_type: error.error_type(),
            exception_type: std::any::type_name::<E>(),
            message: error.to_string(),
        }
    }

    /// By its type name and `Display`.
    fn displayed<E: fmt::Display>(error: &E) -> Self {
        let type_name = std::any::type_name::<E>();
        Described {
            error_type: Cow::Borrowed(type_name),
            exception_type: type_name,
            message: error.to_string(),
        }
    }

    /// By its type name and `Debug`.
    fn debugged<E: fmt::Debug>(error: &E) -> Self {
        let type_name = std::any::type_name::<E>();
        Described {
            error_type: Cow::Borrowed(type_name),
            exception_type: type_name,
            message: format!("{error:?}"),
        }
    }
}

/// The one recorder: an `Err` described by `describe` is recorded on `span` (exception
/// event, `error.type`, status ERROR with the message) and its `error.type` returned for span
/// metrics; an `Ok` records nothing. The message is only made when a span records.
#[inline]
fn record<T, E>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
    describe: fn(&E) -> Described,
    error_type: fn(&E) -> Cow<'static, str>,
) -> Option<Cow<'static, str>> {
    let error = outcome.as_ref().err()?;
    match span {
        Some(span) => {
            let described = describe(error);
            record_error(
                span,
                described.exception_type,
                described.error_type.clone(),
                described.message,
            );
            Some(described.error_type)
        }
        None => Some(error_type(error)),
    }
}

fn by_error_type<T, E: ErrorType + fmt::Display>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Cow<'static, str>> {
    record(outcome, span, Described::typed, E::error_type)
}

fn by_display<T, E: fmt::Display>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Cow<'static, str>> {
    record(outcome, span, Described::displayed, type_name_of)
}

fn by_debug<T, E: fmt::Debug>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Cow<'static, str>> {
    record(outcome, span, Described::debugged, type_name_of)
}

fn success<R: ?Sized>(_: &R, _: Option<&SpanRef<'_>>) -> Option<Cow<'static, str>> {
    None
}

fn type_name_of<E>(_: &E) -> Cow<'static, str> {
    Cow::Borrowed(std::any::type_name::<E>())
}

/// What the body of a [`TracingService`](super::TracingService) span returns, as far as the
/// span is concerned: a `Result` records its `Err` (described by its type name and
/// `Display`), `()` is a success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a traced body",
    label = "return a `Result` (its `Err` is recorded on the span) or `()`",
    note = "for a value that cannot fail, return `Ok::<_, std::convert::Infallible>(value)`; the `#[span]` macro accepts any return type"
)]
pub trait SpanOutcome: Sized {
    /// How this outcome is recorded.
    #[doc(hidden)]
    const RECORD: Record<Self>;
}

impl SpanOutcome for () {
    const RECORD: Record<Self> = success;
}

impl<T, E: fmt::Display> SpanOutcome for Result<T, E> {
    const RECORD: Record<Self> = by_display;
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

/// The recording function of the most specific impl: `Err` of an error with its own
/// [`ErrorType`] (`&&&Outcome`), of a displayable error (`&&`), of a `Debug` one (`&`),
/// anything else a success. One trait, implemented at four depths of `&`: a method call
/// on `&&&&Outcome` takes the first that applies, so `Err` is found by type, whatever alias
/// names it.
#[doc(hidden)]
pub trait RecordOutcome<R: ?Sized> {
    fn recorder(&self) -> fn(&R, Option<&SpanRef<'_>>) -> Option<Cow<'static, str>>;
}

impl<T, E: ErrorType + fmt::Display> RecordOutcome<Result<T, E>> for &&&Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        by_error_type
    }
}

impl<T, E: fmt::Display> RecordOutcome<Result<T, E>> for &&Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        by_display
    }
}

impl<T, E: fmt::Debug> RecordOutcome<Result<T, E>> for &Outcome<Result<T, E>> {
    #[inline]
    fn recorder(&self) -> Record<Result<T, E>> {
        by_debug
    }
}

impl<R: ?Sized> RecordOutcome<R> for Outcome<R> {
    #[inline]
    fn recorder(&self) -> Record<R> {
        success
    }
}

/// Records an error: exception event (`exception.type`, `exception.message`),
/// `error.type`, status ERROR with the message.
fn record_error(
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

/// Records a panic as an error of type `panic`, its payload as the message.
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
