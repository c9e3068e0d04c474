//! What a traced body returned, and how it is recorded on its span and in its span metrics:
//! an `Err` (found by type, whatever alias names it) and a panic.
//!
//! One `#[cold]` function records every error, [`record_error`]: an exception event, the
//! `error.type` attribute and status ERROR on the span if it records, and the `error.type`
//! returned for span metrics. What is handed to it is decided once per type: the
//! `error.type` by the error's [`ErrorType`], else by a short name of its type
//! ([`error_type`](super::error_type)); the message by `Display`, else `Debug`, else the
//! type's name. Who decides differs:
//!
//! - a `#[span]` expansion, from the concrete return type (the autoref dispatch of
//!   [`RecordOutcome`]);
//! - [`TracingService`](super::TracingService) methods, generic over the body's result, from
//!   their bound [`SpanOutcome`] (`Display + 'static`): the error's `ErrorType` is found
//!   among the registered ones by its `TypeId` (`#[backstage_telemetry::error_type]`, which
//!   every `ErrorType` impl needs), so both give the same `error.type`.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

use super::ERROR_TYPE_ATTRIBUTE;
use super::error_type::{self, Registered, short_type_name};

/// Gives the `error.type` that `#[span]` and `TracingService` spans record for an error,
/// instead of its type name: a short, low-cardinality kind such as an enum variant. The
/// error is `Display` (its message; a `TracingService` span needs it too). Every
/// impl carries `#[backstage_telemetry::error_type]`, which registers it so that spans
/// started through [`TracingService`](super::TracingService), which are generic over the
/// error, find it too; the impl does not compile without it.
///
/// ```
/// use std::borrow::Cow;
///
/// #[derive(Debug)]
/// enum ProcessError { NotFound, Invalid(String) }
///
/// impl std::fmt::Display for ProcessError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self {
///             ProcessError::NotFound => f.write_str("not found"),
///             ProcessError::Invalid(why) => write!(f, "invalid: {why}"),
///         }
///     }
/// }
///
/// #[backstage_telemetry::error_type]
/// impl backstage_telemetry::ErrorType for ProcessError {
///     fn error_type(&self) -> Cow<'static, str> {
///         match self {
///             ProcessError::NotFound => "not_found".into(),
///             ProcessError::Invalid(_) => "invalid".into(),
///         }
///     }
/// }
/// ```
pub trait ErrorType: Registered + fmt::Display {
    /// The value of `error.type` for this error.
    fn error_type(&self) -> Cow<'static, str>;

    /// Whether the caller caused this error, not the service: a request that is invalid,
    /// asks for what does not exist, or conflicts with the state (what an HTTP API answers
    /// with a 4xx). Span metrics record such a call as `outcome="rejected"`, so that
    /// `outcome="error"` means the service failed and an availability alert does not fire
    /// on clients; the span records the error as any other. `false` unless overridden.
    ///
    /// ```
    /// use std::borrow::Cow;
    ///
    /// #[derive(Debug)]
    /// enum TodoError { NotFound, Storage }
    ///
    /// impl std::fmt::Display for TodoError {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str(match self { TodoError::NotFound => "no such todo", TodoError::Storage => "storage failed" })
    ///     }
    /// }
    ///
    /// #[backstage_telemetry::error_type]
    /// impl backstage_telemetry::ErrorType for TodoError {
    ///     fn error_type(&self) -> Cow<'static, str> {
    ///         match self { TodoError::NotFound => "not_found".into(), TodoError::Storage => "storage".into() }
    ///     }
    ///
    ///     fn is_client_error(&self) -> bool {
    ///         matches!(self, TodoError::NotFound)
    ///     }
    /// }
    /// ```
    fn is_client_error(&self) -> bool {
        false
    }
}

/// An `Err` as span metrics record it: its `error.type`, and whether the caller caused it
/// ([`ErrorType::is_client_error`]: `outcome="rejected"` rather than `error`).
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub error_type: Cow<'static, str>,
    pub rejected: bool,
}

/// How a body's outcome is recorded: on its span if the span records, and as the
/// `error.type` of an `Err` for span metrics (`None`: a success).
pub(crate) type Record<R> = fn(&R, Option<&SpanRef<'_>>) -> Option<Failure>;

/// The one recorder of an error: on `span`, if it records, an exception event
/// (`exception.type`, `exception.message`), `error.type` and status ERROR with the message;
/// the `error.type` is returned for span metrics, with whether the caller caused it. The
/// message is only made for a span that records.
#[cold]
#[inline(never)]
fn record_error(
    span: Option<&SpanRef<'_>>,
    error_type: Cow<'static, str>,
    rejected: bool,
    exception_type: &str,
    message: &dyn fmt::Display,
) -> Option<Failure> {
    if let Some(span) = span {
        let message = message.to_string();
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", exception_type.to_owned()),
                KeyValue::new("exception.message", message.clone()),
            ],
        );
        span.set_attribute(KeyValue::new(ERROR_TYPE_ATTRIBUTE, error_type.clone()));
        span.set_status(Status::error(message));
    }
    Some(Failure {
        error_type,
        rejected,
    })
}

/// A `Debug` value shown by `Display`.
struct Debugged<'a, E>(&'a E);

impl<E: fmt::Debug> fmt::Display for Debugged<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// The name of `E` as `exception.type` carries it, and as `error.type` does without an
/// `ErrorType`.
fn name_of<E>() -> &'static str {
    short_type_name(std::any::type_name::<E>())
}

/// An `ErrorType` error.
fn by_error_type<T, E: ErrorType>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Failure> {
    let error = outcome.as_ref().err()?;
    let rejected = error.is_client_error();
    record_error(span, error.error_type(), rejected, name_of::<E>(), error)
}

/// A `Display` error.
fn by_display<T, E: fmt::Display>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Failure> {
    let error = outcome.as_ref().err()?;
    let name = name_of::<E>();
    record_error(span, Cow::Borrowed(name), false, name, error)
}

/// A `Debug` error.
fn by_debug<T, E: fmt::Debug>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Failure> {
    let error = outcome.as_ref().err()?;
    let name = name_of::<E>();
    record_error(span, Cow::Borrowed(name), false, name, &Debugged(error))
}

/// An error that cannot be shown: its type's name is the message.
fn by_type<T, E>(outcome: &Result<T, E>, span: Option<&SpanRef<'_>>) -> Option<Failure> {
    outcome.as_ref().err()?;
    let name = name_of::<E>();
    record_error(span, Cow::Borrowed(name), false, name, &name)
}

/// A service's `Display` error: by its registered `ErrorType`, else as `#[span]` names it.
fn by_registered<T, E: fmt::Display + 'static>(
    outcome: &Result<T, E>,
    span: Option<&SpanRef<'_>>,
) -> Option<Failure> {
    let error = outcome.as_ref().err()?;
    // a service's span has no span metrics, where alone `rejected` counts
    record_error(
        span,
        error_type::of_value(error),
        false,
        name_of::<E>(),
        error,
    )
}

fn success<R: ?Sized>(_: &R, _: Option<&SpanRef<'_>>) -> Option<Failure> {
    None
}

/// What the body of a [`TracingService`](super::TracingService) span returns, as far as the
/// span is concerned: a `Result` records its `Err` (`error.type` by the error's
/// [`ErrorType`], else its type's name), `()` is a success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a traced body",
    label = "return a `Result` whose error implements `Display` (its `Err` is recorded on the span) or `()`",
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

impl<T, E: fmt::Display + 'static> SpanOutcome for Result<T, E> {
    const RECORD: Record<Self> = by_registered;
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
        (&&&&&$crate::__private::Outcome::<$ty>::PICK).recorder()
    };
    ($ty:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::RecordOutcome as _;
        (&&&&&$crate::__private::Outcome::<$ty>::PICK).recorder()
    }};
    () => {
        |outcome, span| {
            #[allow(unused_imports)]
            use $crate::__private::RecordOutcome as _;
            (&&&&&$crate::__private::Outcome::of(outcome)).recorder()(outcome, span)
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

/// The recording function of the most specific impl for an `Err`, from the most specific:
/// an error with its own [`ErrorType`] (`&&&&Outcome`; an `ErrorType` is `Display`), a
/// `Display` error, a `Debug` one, any other (`&`); anything that is not a `Result` is a
/// success. One trait, implemented at five depths of `&`: a method call on `&&&&&Outcome`
/// takes the first that applies, so `Err` is found by type, whatever alias names it. Each
/// depth costs type-checking time at every `#[span]` (BENCHMARKS.md, compile time). No
/// level asks for `'static`: method lookup ignores lifetimes, and a borrowed error would
/// then fail to compile. A boxed `dyn Error` is an `ErrorType` (named by what it holds).
#[doc(hidden)]
pub trait RecordOutcome<R: ?Sized> {
    fn recorder(&self) -> fn(&R, Option<&SpanRef<'_>>) -> Option<Failure>;
}

macro_rules! record_outcome_at {
    ($($depth:ty => $recorder:ident where $bound:path;)*) => {$(
        impl<T, E: $bound> RecordOutcome<Result<T, E>> for $depth {
            #[inline]
            fn recorder(&self) -> Record<Result<T, E>> {
                $recorder
            }
        }
    )*};
}

record_outcome_at! {
    &&&&Outcome<Result<T, E>> => by_error_type where ErrorType;
    &&&Outcome<Result<T, E>> => by_display where fmt::Display;
    &&Outcome<Result<T, E>> => by_debug where fmt::Debug;
    &Outcome<Result<T, E>> => by_type where Sized;
}

impl<R: ?Sized> RecordOutcome<R> for Outcome<R> {
    #[inline]
    fn recorder(&self) -> Record<R> {
        success
    }
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
    record_error(Some(span), Cow::Borrowed("panic"), false, "panic", &message);
}
