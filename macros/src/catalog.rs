//! The link-time catalog entry of an expansion (the runtime's `catalog` module): one per
//! scoped module, listing every metric and `#[span]` site it expanded, or one per site
//! outside such a module.
//!
//! ```text
//! const _: () = {
//!     #[__bt::linkme::distributed_slice(__bt::catalog::DECLARED)]
//!     #[linkme(crate = __bt::linkme)]
//!     static __BT_DECLARED: __bt::catalog::Declared = __bt::catalog::Declared {
//!         kind: __bt::ScopeKind::Plugin, id: "catalog",
//!         crate_name: env!("CARGO_PKG_NAME"), module: module_path!(), file: file!(),
//!         metrics: &[__bt::catalog::DeclaredMetric { info: .., line: 7 }],
//!         spans: &[__bt::catalog::DeclaredSpan { name: "process", kind: .., metrics: false, line: 12 }],
//!     };
//! };
//! ```

use backstage_telemetry_naming::{Scope, ScopeKind};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// The source line of `span` (0 outside a macro invocation, as in unit tests).
pub fn line(span: Span) -> u32 {
    if proc_macro::is_available() {
        u32::try_from(span.unwrap().line()).unwrap_or(0)
    } else {
        0
    }
}

/// The entry of `scope` with these metric and span descriptors (`rt`: how the runtime is
/// named); nothing when there are none.
pub fn entry(
    rt: &TokenStream,
    scope: &Scope,
    metrics: &[TokenStream],
    spans: &[TokenStream],
) -> TokenStream {
    if metrics.is_empty() && spans.is_empty() {
        return TokenStream::new();
    }
    let kind = Ident::new(
        match scope.kind() {
            ScopeKind::Plugin => "Plugin",
            ScopeKind::Core => "Core",
        },
        Span::call_site(),
    );
    let id = scope.id();
    quote! {
        const _: () = {
            #[#rt::linkme::distributed_slice(#rt::catalog::DECLARED)]
            #[linkme(crate = #rt::linkme)]
            static __BT_DECLARED: #rt::catalog::Declared = #rt::catalog::Declared {
                kind: #rt::ScopeKind::#kind,
                id: #id,
                crate_name: ::core::env!("CARGO_PKG_NAME"),
                module: ::core::module_path!(),
                file: ::core::file!(),
                metrics: &[#(#metrics),*],
                spans: &[#(#spans),*],
            };
        };
    }
}

/// The descriptor of a `#[span]` site.
pub fn span(rt: &TokenStream, name: &str, kind: &str, metrics: bool, line: u32) -> TokenStream {
    let kind = Ident::new(kind, Span::call_site());
    quote! {
        #rt::catalog::DeclaredSpan { name: #name, kind: #rt::SpanKind::#kind, metrics: #metrics, line: #line }
    }
}
