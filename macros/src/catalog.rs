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
//!         crate_name: env!("CARGO_PKG_NAME"), crate_version: env!("CARGO_PKG_VERSION"),
//!         module: module_path!(), file: file!(),
//!         metrics: METRICS,          // the module's manifest (`&[info]` outside a module)
//!         metric_lines: &[7, 9],
//!         span_names: &["process"],
//!         // line, kind and `#[span(metrics)]` of each (`SpanKind::pack_site`)
//!         span_sites: &[192],
//!         site: Some(&__BT_SCOPE),   // whose span sites `init` binds (`None` without any)
//!     };
//! };
//! ```
//!
//! Plain literal arrays: a struct literal per metric and span cost 11% of a full check, a
//! tuple with the kind's path per span site 5% (measured, N = 100).

use backstage_telemetry_naming::{Scope, SpanKind};
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
    pub line: u32,
    pub kind: SpanKind,
    /// Whether it asks for span metrics.
    pub metrics: bool,
}

/// The entry of `scope`: its metrics (`metrics`, an expression of type `&[MetricInfo]`, with
/// the line of each), span sites (`rt`: how the runtime is named; their series are in the
/// `__BT_SCOPE` in reach) and what registers its observable instruments (`register`, an expression of type `Option<fn()>`); nothing when
/// there are none.
pub fn entry(
    rt: &TokenStream,
    scope: &Scope,
    metrics: &TokenStream,
    metric_lines: &[u32],
    spans: &[SpanSite],
    register: &TokenStream,
) -> TokenStream {
    if metric_lines.is_empty() && spans.is_empty() {
        return TokenStream::new();
    }
    let kind = crate::scope::kind_variant(scope);
    let id = scope.id();
    let span_names = spans.iter().map(|site| &site.name);
    let span_sites = spans
        .iter()
        .map(|site| site.kind.pack_site(site.line, site.metrics));
    // the scope site whose span metrics `init` binds at 0: the module's, or the lone site's
    let site = if spans.is_empty() {
        quote!(::core::option::Option::None)
    } else {
        quote!(::core::option::Option::Some(&__BT_SCOPE))
    };
    quote! {
        const _: () = {
            #[#rt::linkme::distributed_slice(#rt::catalog::DECLARED)]
            #[linkme(crate = #rt::linkme)]
            static __BT_DECLARED: #rt::catalog::Declared = #rt::catalog::Declared {
                kind: #rt::ScopeKind::#kind,
                id: #id,
                crate_name: ::core::env!("CARGO_PKG_NAME"),
                crate_version: ::core::env!("CARGO_PKG_VERSION"),
                module: ::core::module_path!(),
                file: ::core::file!(),
                metrics: #metrics,
                register: #register,
                metric_lines: &[#(#metric_lines),*],
                span_names: &[#(#span_names),*],
                span_sites: &[#(#span_sites),*],
                site: #site,
            };
        };
    }
}
