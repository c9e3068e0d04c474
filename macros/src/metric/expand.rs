//! The expansion of `metric!`. In plugin `catalog`,
//! `pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";` becomes
//!
//! ```text
//! pub static PROCESSED: Counter<u64> = {
//!     static __BT_METER: MeterScope = MeterScope::installed(Scope::__checked(Plugin, "catalog"));
//!     Counter::<u64>::__declared(InstrumentSpec::__checked(
//!         &__BT_METER, "backstage.plugin.catalog.entities.processed", None, Some("{entity}"), None,
//!     ))
//! };
//! ```
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
use crate::scope::to_tokens;

pub fn item(header: &Header, metric: &Metric) -> TokenStream {
    // `static` and the name keep the user's spans, so lints such as `dead_code` still apply.
    let Header {
        attrs,
        vis,
        static_token,
        ident,
        semi,
    } = header;
    let ty = instrument_type(metric);
    let meter = meter(metric);
    let build = build(metric);
    if metric.kind.is_observable() {
        quote! {
            #(#attrs)*
            #vis #static_token #ident: ::backstage_telemetry::__private::LazyLock<#ty> =
                ::backstage_telemetry::__private::LazyLock::new(|| { #meter #build }) #semi
        }
    } else {
        quote! {
            #(#attrs)*
            #vis #static_token #ident: #ty = { #meter #build } #semi
        }
    }
}

pub fn expression(metric: &Metric) -> TokenStream {
    let ty = instrument_type(metric);
    let meter = meter(metric);
    let build = build(metric);
    if metric.kind.is_observable() {
        quote! {{
            static __BT_INSTRUMENT: ::backstage_telemetry::__private::LazyLock<#ty> =
                ::backstage_telemetry::__private::LazyLock::new(|| { #meter #build });
            &*__BT_INSTRUMENT
        }}
    } else {
        quote! {{
            static __BT_INSTRUMENT: #ty = { #meter #build };
            &__BT_INSTRUMENT
        }}
    }
}

/// The manifest entry of a declared metric.
pub fn info(metric: &Metric) -> TokenStream {
    let name = &metric.full_name;
    let unit = metric.unit();
    let description = metric.description.as_deref().unwrap_or_default();
    let kind = Ident::new(metric.kind.name(), Span::call_site());
    let value_type = metric.value_type;
    quote! {
        ::backstage_telemetry::__private::MetricInfo {
            name: #name,
            kind: ::backstage_telemetry::__private::MetricKind::#kind,
            value_type: #value_type,
            unit: #unit,
            description: #description,
        }
    }
}

fn instrument_type(metric: &Metric) -> TokenStream {
    let kind = Ident::new(metric.kind.name(), Span::call_site());
    let value_type = Ident::new(metric.value_type, Span::call_site());
    quote!(::backstage_telemetry::metrics::#kind<#value_type>)
}

/// The scope's meter, a static of this site.
fn meter(metric: &Metric) -> TokenStream {
    let scope = to_tokens(&metric.resolved.scope);
    let track = metric.resolved.track();
    quote! {
        #track
        static __BT_METER: ::backstage_telemetry::__private::MeterScope =
            ::backstage_telemetry::__private::MeterScope::installed(#scope);
    }
}

/// The instrument, from its compile-time checked spec.
fn build(metric: &Metric) -> TokenStream {
    let ty = instrument_type(metric);
    let name = &metric.full_name;
    let description = optional(metric.description.as_deref());
    let unit = optional(metric.unit.as_deref());
    let boundaries = match &metric.boundaries {
        Some(values) => quote!(::core::option::Option::Some(&[#(#values),*])),
        None => quote!(::core::option::Option::None),
    };
    let spec = quote! {
        ::backstage_telemetry::__private::InstrumentSpec::__checked(
            &__BT_METER, #name, #description, #unit, #boundaries,
        )
    };
    if metric.kind.is_observable() {
        let value_type = Ident::new(metric.value_type, Span::call_site());
        // a missing callback was reported; an empty one keeps the expansion well-typed
        let callback = match &metric.callback {
            Some(callback) => quote!(#callback),
            None => quote!(|_| {}),
        };
        quote! {
            <#ty as ::backstage_telemetry::__private::Instrument>::from_parts(
                #spec,
                ::backstage_telemetry::__private::__callback::<#value_type, _>(#callback),
            )
        }
    } else {
        quote!(<#ty>::__declared(#spec))
    }
}

fn optional(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    }
}
