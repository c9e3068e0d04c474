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

use super::Declared;
use super::parse::{Declaration, Kind, MetricItem, ValueType};
use crate::scope::Resolved;

pub fn item(item: &MetricItem, resolved: &Resolved, metric: &Declared) -> TokenStream {
    // `static` and `;` keep the user's spans, so lints such as `dead_code` still apply.
    let MetricItem {
        attrs,
        vis,
        static_token,
        ident,
        semi,
        ..
    } = item;
    let ty = instrument_type(metric.kind, metric.value_type);
    let meter = meter(resolved);
    let build = build(&item.declaration, metric);
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

pub fn expression(
    declaration: &Declaration,
    resolved: &Resolved,
    metric: &Declared,
) -> TokenStream {
    let ty = instrument_type(metric.kind, metric.value_type);
    let meter = meter(resolved);
    let build = build(declaration, metric);
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
pub fn info(metric: &Declared) -> TokenStream {
    let Declared {
        full_name,
        unit,
        description,
        ..
    } = metric;
    let kind = Ident::new(metric.kind.name(), Span::call_site());
    let value_type = metric.value_type.name();
    quote! {
        ::backstage_telemetry::__private::MetricInfo {
            name: #full_name,
            kind: ::backstage_telemetry::__private::MetricKind::#kind,
            value_type: #value_type,
            unit: #unit,
            description: #description,
        }
    }
}

fn instrument_type(kind: Kind, value_type: ValueType) -> TokenStream {
    let kind = Ident::new(kind.name(), Span::call_site());
    let value_type = Ident::new(value_type.name(), Span::call_site());
    quote!(::backstage_telemetry::metrics::#kind<#value_type>)
}

/// The scope's meter, a static of this site.
fn meter(resolved: &Resolved) -> TokenStream {
    let scope = resolved.scope.to_tokens();
    let track = resolved.track();
    quote! {
        #track
        static __BT_METER: ::backstage_telemetry::__private::MeterScope =
            ::backstage_telemetry::__private::MeterScope::installed(#scope);
    }
}

/// The instrument, from its compile-time checked spec.
fn build(declaration: &Declaration, metric: &Declared) -> TokenStream {
    let ty = instrument_type(metric.kind, metric.value_type);
    let name = &metric.full_name;
    let description = optional(declaration.description.as_deref());
    let unit = optional(declaration.unit.as_ref().map(|u| u.value()).as_deref());
    let boundaries = match &declaration.boundaries {
        Some(values) => quote!(::core::option::Option::Some(&[#(#values),*])),
        None => quote!(::core::option::Option::None),
    };
    let spec = quote! {
        ::backstage_telemetry::__private::InstrumentSpec::__checked(
            &__BT_METER, #name, #description, #unit, #boundaries,
        )
    };
    match &declaration.callback {
        Some(callback) => {
            let value_type = Ident::new(metric.value_type.name(), Span::call_site());
            quote! {
                <#ty as ::backstage_telemetry::__private::Instrument>::from_parts(
                    #spec,
                    ::backstage_telemetry::__private::__callback::<#value_type, _>(#callback),
                )
            }
        }
        None => quote!(<#ty>::__declared(#spec)),
    }
}

fn optional(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    }
}
