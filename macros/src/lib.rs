//! Procedural macros of `backstage-telemetry`: `#[backstage_plugin]`, `#[backstage_core]`,
//! `#[span]` and `metric!`. Use them through the `backstage-telemetry` crate, whose
//! documentation has the examples.
//!
//! Each macro is parsed into a small typed model, checked with the naming rules shared with
//! the runtime (`backstage-telemetry-naming`), then expanded; this file only holds the entry
//! points.

use proc_macro::TokenStream;

mod metric;
mod module;
mod scope;
mod span;

use backstage_telemetry_naming::ScopeKind;

/// Sets the plugin scope of everything inside an inline module. See `backstage_telemetry`.
#[proc_macro_attribute]
pub fn backstage_plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(ScopeKind::Plugin, args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Sets the core service scope of everything inside an inline module. See `backstage_telemetry`.
#[proc_macro_attribute]
pub fn backstage_core(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(ScopeKind::Core, args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs a function in an auto-ending span. See `backstage_telemetry`.
#[proc_macro_attribute]
pub fn span(args: TokenStream, item: TokenStream) -> TokenStream {
    span::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares or creates an instrument with a checked, prefixed name. See `backstage_telemetry`.
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    metric::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
