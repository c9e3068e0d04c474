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
//!         metrics: METRICS,          // the module's manifest (`&[info]` outside a module)
//!         metric_lines: &[7, 9],
//!         spans: &["process"],
//!         span_codes: &[12 << 4 | 0 << 1 | 0], // line, kind, `metrics`
//!     };
//! };
//! ```
//!
//! Plain literal arrays: a struct literal per metric and span cost 11% of a full check.

use backstage_telemetry_naming::Scope;
use proc_macro2::{Span, TokenStream};
use quote::quote;

/// The source line of `span` (0 outside a macro invocation, as in unit tests).
pub fn line(span: Span) -> u32 {
    if proc_macro::is_available() {
        u32::try_from(span.unwrap().line()).unwrap_or(0)
    } else {
        0
    }
}

/// A `#[span]` site as the catalog stores it.
pub struct SpanSite {
    pub name: String,
    /// `line << 4 | kind << 1 | metrics` (kind: internal, server, client, producer,
    /// consumer): one integer literal per site keeps the entry cheap to compile.
    pub code: u32,
}

impl SpanSite {
    /// `kind`: the index of the span kind in the order above, the runtime's `SPAN_KINDS`.
    pub fn new(name: String, kind: u32, metrics: bool, line: u32) -> Self {
        SpanSite {
            name,
            code: (line.min(u32::MAX >> 4) << 4) | (kind << 1) | u32::from(metrics),
        }
    }
}

/// The entry of `scope`: its metrics (`metrics`, an expression of type `&[MetricInfo]`, with
/// the line of each) and span sites (`rt`: how the runtime is named); nothing when there
/// are none.
pub fn entry(
    rt: &TokenStream,
    scope: &Scope,
    metrics: &TokenStream,
    metric_lines: &[u32],
    spans: &[SpanSite],
) -> TokenStream {
    if metric_lines.is_empty() && spans.is_empty() {
        return TokenStream::new();
    }
    let kind = crate::scope::kind_variant(scope);
    let id = scope.id();
    let names = spans.iter().map(|s| &s.name);
    let codes = spans.iter().map(|s| s.code);
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
                metrics: #metrics,
                metric_lines: &[#(#metric_lines),*],
                spans: &[#(#names),*],
                span_codes: &[#(#codes),*],
            };
        };
    }
}
