//! The expansion of `metric!`. In plugin `catalog`,
//! `pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";` becomes
//!
//! ```text
//! pub static PROCESSED: __bt::metrics::Counter<u64> = __bt::metrics::Counter::__declared(
//!     &__BT_METER, "backstage.plugin.catalog.entities.processed", "", "{entity}", __bt::None,
//! ); // (an empty description or unit is none)
//! ```
//!
//! `__bt` (the runtime's `__private`) and `__BT_SCOPE` (the plugin's meter) are declared once
//! by the enclosing `#[backstage_plugin]` module; outside one, the initialiser is a block that
//! starts with its own `static __BT_SCOPE`, and the runtime is named in full.
//!
//! The instrument binds to the global meter provider on first use and again whenever a new
//! provider is installed; after that a measurement is the OpenTelemetry call alone.
//! Observable instruments are `LazyLock`s that register their callback on first access.
//! The expression form puts the same statics in a block and evaluates to a `&'static`
//! reference.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::parse::Header;
use super::valid::Metric;

pub fn item(header: &Header, metric: &Metric) -> TokenStream {
    // `static` and the name keep the user's spans, so lints such as `dead_code` still apply.
    let Header {
        attrs,
        vis,
        static_token,
        ident,
        semi,
    } = header;
    let rt = &metric.resolved.runtime();
    let ty = instrument_type(rt, metric);
    let site = metric.resolved.site(0);
    let build = build(rt, metric);
    // outside a scoped module, `init` registers an observable static itself
    let register = if metric.kind.is_observable() {
        quote!(::core::option::Option::Some(|| {
            #rt::LazyLock::force(&#ident);
        }))
    } else {
        quote!(::core::option::Option::None)
    };
    let entry = own_entry(rt, metric, &register);
    if metric.kind.is_observable() {
        quote! {
            #(#attrs)*
            #vis #static_token #ident: #rt::LazyLock<#ty> =
                #rt::LazyLock::new(|| { #site #build }) #semi
            #entry
        }
    } else if site.is_empty() {
        quote! {
            #(#attrs)*
            #vis #static_token #ident: #ty = #build #semi
            #entry
        }
    } else {
        quote! {
            #(#attrs)*
            #vis #static_token #ident: #ty = { #site #build } #semi
            #entry
        }
    }
}

pub fn expression(metric: &Metric) -> TokenStream {
    let rt = &metric.resolved.runtime();
    let ty = instrument_type(rt, metric);
    let site = metric.resolved.site(0);
    let build = build(rt, metric);
    // built where it is written: registered on first use
    let entry = own_entry(rt, metric, &quote!(::core::option::Option::None));
    if metric.kind.is_observable() {
        quote! {{
            #site
            #entry
            static __BT_INSTRUMENT: #rt::LazyLock<#ty> = #rt::LazyLock::new(|| #build);
            &*__BT_INSTRUMENT
        }}
    } else {
        quote! {{
            #site
            #entry
            static __BT_INSTRUMENT: #ty = #build;
            &__BT_INSTRUMENT
        }}
    }
}

/// The manifest entry of a declared metric (in a scoped module: `__bt` is in scope).
pub fn info(metric: &Metric) -> TokenStream {
    info_in(&quote!(__bt), metric)
}

/// The line its name is written on, for the catalog.
pub fn line(metric: &Metric) -> u32 {
    crate::catalog::line(metric.span)
}

/// The catalog entry of a metric outside a scoped module (inside one, the module lists it).
fn own_entry(rt: &TokenStream, metric: &Metric, register: &TokenStream) -> TokenStream {
    if metric.resolved.in_module() {
        return TokenStream::new();
    }
    let info = info_in(rt, metric);
    crate::catalog::entry(
        rt,
        &metric.resolved.scope,
        &quote!(&[#info]),
        &[line(metric)],
        &[],
        register,
    )
}

fn info_in(rt: &TokenStream, metric: &Metric) -> TokenStream {
    let name = &metric.full_name;
    let unit = metric.unit();
    let description = metric.description.as_deref().unwrap_or_default();
    let kind = Ident::new(metric.kind.name(), Span::call_site());
    let value_type = metric.value_type;
    let boundaries = metric.boundaries.as_deref().unwrap_or_default();
    quote! {
        #rt::MetricInfo {
            name: #name,
            kind: #rt::MetricKind::#kind,
            value_type: #value_type,
            unit: #unit,
            description: #description,
            boundaries: &[#(#boundaries),*],
        }
    }
}

fn instrument_type(rt: &TokenStream, metric: &Metric) -> TokenStream {
    let kind = Ident::new(metric.kind.name(), Span::call_site());
    let value_type = Ident::new(metric.value_type, Span::call_site());
    quote!(#rt::metrics::#kind<#value_type>)
}

/// The instrument, from its compile-time checked parts and the site's meter.
fn build(rt: &TokenStream, metric: &Metric) -> TokenStream {
    let ty = instrument_type(rt, metric);
    let name = &metric.full_name;
    let description = metric.description.as_deref().unwrap_or_default();
    let unit = metric.unit.as_deref().unwrap_or_default();
    let boundaries = match &metric.boundaries {
        Some(values) => quote!(#rt::Some(&[#(#values),*])),
        None => quote!(#rt::None),
    };
    if metric.kind.is_observable() {
        let value_type = Ident::new(metric.value_type, Span::call_site());
        // a missing callback was reported; an empty one keeps the expansion well-typed
        let callback = match &metric.callback {
            Some(callback) => quote!(#callback),
            None => quote!(|_| {}),
        };
        quote! {
            <#ty as #rt::Instrument>::from_parts(
                #rt::InstrumentSpec::__checked(&__BT_METER, #name, #description, #unit, #boundaries),
                #rt::__callback::<#value_type, _>(#callback),
            )
        }
    } else {
        let kind = Ident::new(metric.kind.name(), Span::call_site());
        quote!(#rt::metrics::#kind::__declared(&__BT_METER, #name, #description, #unit, #boundaries))
    }
}
