//! What `error.type` an error gets: its [`ErrorType`](super::ErrorType) if it has one, else
//! a short, stable name of its type.
//!
//! A `#[span]` expansion sees the concrete error type and calls its `ErrorType` directly. A
//! [`TracingService`](super::TracingService) method is generic over the body's result and
//! cannot ask whether a type implements a trait it does not require, so every `ErrorType`
//! impl is registered by `#[backstage_telemetry::error_type]` (a hidden supertrait makes
//! the attribute necessary): the linker gathers one [`Registered`] entry per type, and the
//! services look the error's `TypeId` up among them, on the error path only.
//!
//! Type names are shortened where the standard library's are long and unstable:
//! `alloc::string::String` is `String`, `std::io::error::Error` is `io::Error`; a boxed
//! `dyn Error` is named by the type inside it where that can be recovered (a registered
//! `ErrorType`, or one of the standard library's errors), else [`BOXED_ERROR_TYPE`]. Other
//! types keep their full path (`my_crate::FetchError`), as the semantic conventions
//! suggest.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::error::Error;
use std::marker::PhantomData;
use std::sync::{LazyLock, RwLock};

/// `error.type` of a boxed `dyn Error` whose concrete type cannot be recovered.
pub const BOXED_ERROR_TYPE: &str = "Box<dyn Error>";

/// Marks a type whose `ErrorType` impl is registered: implemented by
/// `#[backstage_telemetry::error_type]` only, beside the entry it adds.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the `ErrorType` impl of `{Self}` is not registered",
    label = "`ErrorType` implemented without `#[backstage_telemetry::error_type]`",
    note = "write `#[backstage_telemetry::error_type]` on the line above `impl ErrorType for {Self}`: it lets `TracingService` spans find the impl too, so both ways of tracing give the same `error.type`"
)]
pub trait Registered {}

/// One registered `ErrorType` impl, gathered by the linker.
#[doc(hidden)]
pub struct ErrorTypeEntry {
    /// The type's id (`TypeId::of::<E>`).
    pub type_id: fn() -> TypeId,
    /// Its `error_type()`, for a value of that type (`None`: another type).
    pub error_type: fn(&dyn Any) -> Option<Cow<'static, str>>,
    /// Its `error_type()` for a boxed `dyn Error` holding one (`None`: another type, or the
    /// type is not a `std::error::Error`).
    pub boxed: fn(&(dyn Error + 'static)) -> Option<Cow<'static, str>>,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static ERROR_TYPES: [ErrorTypeEntry];

/// Picks, for the type `E` of a registered impl, how a boxed `dyn Error` holding one is
/// recognised: by downcasting when `E` is a `std::error::Error`, else never (autoref:
/// `(&&Boxed::<E>::PICK).error_type_in(error)`).
#[doc(hidden)]
pub struct Boxed<E>(PhantomData<fn(&E)>);

impl<E> Boxed<E> {
    pub const PICK: Self = Boxed(PhantomData);
}

#[doc(hidden)]
pub trait BoxedErrorType {
    fn error_type_in(&self, error: &(dyn Error + 'static)) -> Option<Cow<'static, str>>;
}

impl<E: Error + super::ErrorType + 'static> BoxedErrorType for &Boxed<E> {
    fn error_type_in(&self, error: &(dyn Error + 'static)) -> Option<Cow<'static, str>> {
        error.downcast_ref::<E>().map(super::ErrorType::error_type)
    }
}

impl<E> BoxedErrorType for Boxed<E> {
    fn error_type_in(&self, _: &(dyn Error + 'static)) -> Option<Cow<'static, str>> {
        None
    }
}

/// The `ErrorType` of `error`, if its type is registered.
#[cold]
pub(crate) fn registered<E: 'static>(error: &E) -> Option<Cow<'static, str>> {
    let id = TypeId::of::<E>();
    ERROR_TYPES
        .iter()
        .find(|entry| (entry.type_id)() == id)
        .and_then(|entry| (entry.error_type)(error))
}

/// `error.type` of an error whose type the caller does not know to be an `ErrorType` (a
/// service's): its registered `ErrorType` (boxed `dyn Error`s included), else its short
/// type name.
#[cold]
pub(crate) fn of_value<E: 'static>(error: &E) -> Cow<'static, str> {
    registered(error).unwrap_or_else(|| Cow::Borrowed(short_type_name(std::any::type_name::<E>())))
}

macro_rules! boxed_error_type {
    ($($ty:ty),*) => {$(
        #[diagnostic::do_not_recommend]
        impl Registered for $ty {}

        /// Named by the error in the box where that can be recovered (a registered
        /// `ErrorType`, or one of the standard library's errors), else
        /// [`BOXED_ERROR_TYPE`].
        impl super::ErrorType for $ty {
            fn error_type(&self) -> Cow<'static, str> {
                of_boxed(self.as_ref())
            }
        }

        // registered as `#[error_type]` registers any other impl (a box is no
        // `std::error::Error` itself, so no box holds one)
        const _: () = {
            #[linkme::distributed_slice(ERROR_TYPES)]
            static ENTRY: ErrorTypeEntry = ErrorTypeEntry {
                type_id: TypeId::of::<$ty>,
                error_type: |error| error.downcast_ref::<$ty>().map(super::ErrorType::error_type),
                boxed: |_| None,
            };
        };
    )*};
}

boxed_error_type!(
    Box<dyn Error>,
    Box<dyn Error + Send>,
    Box<dyn Error + Send + Sync>
);

/// `error.type` of the error in a box: its registered `ErrorType`, else the name of a
/// standard error it is, else [`BOXED_ERROR_TYPE`].
fn of_boxed(error: &(dyn Error + 'static)) -> Cow<'static, str> {
    if let Some(error_type) = ERROR_TYPES.iter().find_map(|entry| (entry.boxed)(error)) {
        return error_type;
    }
    macro_rules! standard {
        ($($ty:ty),* $(,)?) => {
            $(if error.is::<$ty>() {
                return Cow::Borrowed(short_type_name(std::any::type_name::<$ty>()));
            })*
        };
    }
    standard!(
        std::io::Error,
        std::fmt::Error,
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::num::TryFromIntError,
        std::str::ParseBoolError,
        std::str::Utf8Error,
        std::string::FromUtf8Error,
        std::net::AddrParseError,
        std::env::VarError,
        std::time::SystemTimeError,
        std::sync::mpsc::RecvError,
        std::array::TryFromSliceError,
        std::char::ParseCharError,
    );
    Cow::Borrowed(BOXED_ERROR_TYPE)
}

/// `type_name` with the standard library's paths shortened: each path that starts at
/// `std`, `core` or `alloc` keeps its last segment (`alloc::string::String` → `String`),
/// or its first module and last segment when that is a bare `Error`
/// (`std::io::error::Error` → `io::Error`). Made once per type name and kept.
pub(crate) fn short_type_name(type_name: &'static str) -> &'static str {
    if !["std::", "core::", "alloc::"]
        .iter()
        .any(|krate| type_name.contains(krate))
    {
        return type_name;
    }
    static SHORT: LazyLock<RwLock<HashMap<&'static str, &'static str>>> =
        LazyLock::new(RwLock::default);
    if let Some(short) = SHORT
        .read()
        .ok()
        .and_then(|names| names.get(type_name).copied())
    {
        return short;
    }
    let mut names = SHORT
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // one leak per type name: the binary has finitely many
    names
        .entry(type_name)
        .or_insert_with(|| Box::leak(shorten(type_name).into_boxed_str()))
}

/// [`short_type_name`] without the cache.
fn shorten(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut rest = type_name;
    while !rest.is_empty() {
        // a path: identifiers joined by `::`
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        if end == 0 {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        out.push_str(&short_path(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

fn short_path(path: &str) -> Cow<'_, str> {
    let segments: Vec<&str> = path.split("::").collect();
    match segments.as_slice() {
        [krate, module, .., last] if matches!(*krate, "std" | "core" | "alloc") => {
            if *last == "Error" {
                Cow::Owned(format!("{module}::Error"))
            } else {
                Cow::Borrowed(last)
            }
        }
        _ => Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_paths_are_short_and_others_kept() {
        let cases = [
            ("alloc::string::String", "String"),
            ("std::io::error::Error", "io::Error"),
            ("core::fmt::Error", "fmt::Error"),
            ("core::num::error::ParseIntError", "ParseIntError"),
            ("&str", "&str"),
            (
                "my_crate::errors::FetchError",
                "my_crate::errors::FetchError",
            ),
            (
                "my_crate::Wrapper<alloc::string::String>",
                "my_crate::Wrapper<String>",
            ),
            (
                "alloc::boxed::Box<dyn core::error::Error + core::marker::Send>",
                "Box<dyn error::Error + Send>",
            ),
        ];
        for (name, short) in cases {
            assert_eq!(shorten(name), short, "{name}");
        }
    }

    #[test]
    fn a_boxed_error_is_named_by_what_it_holds() {
        let io: Box<dyn Error + Send + Sync> = Box::new(std::io::Error::other("x"));
        assert_eq!(of_value(&io), "io::Error");
        let parse: Box<dyn Error> = "x".parse::<u8>().unwrap_err().into();
        assert_eq!(of_value(&parse), "ParseIntError");
        let unknown: Box<dyn Error + Send + Sync> = "plain message".into();
        assert_eq!(of_value(&unknown), BOXED_ERROR_TYPE);
        assert_eq!(of_value(&String::from("x")), "String");
    }
}
