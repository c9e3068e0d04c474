//! `#[error_type]` on `impl ErrorType for T`: keeps the impl and registers it, so that
//! spans started through `TracingService` (generic over the error) find it by `TypeId`:
//!
//! ```text
//! impl ::backstage_telemetry::__private::RegisteredErrorType for T {}
//! const _: () = {
//!     #[__bt::linkme::distributed_slice(__bt::ERROR_TYPES)]
//!     static __BT_ERROR_TYPE: __bt::ErrorTypeEntry = __bt::ErrorTypeEntry {
//!         type_id: TypeId::of::<T>,
//!         error_type: |error| error.downcast_ref::<T>().map(ErrorType::error_type),
//!         boxed: |error| (&&__bt::Boxed::<T>::PICK).error_type_in(error),
//!     };
//! };
//! ```
//!
//! A generic impl is refused: one entry names one type, and the services could not find the
//! others.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;

use crate::args::Errors;

/// The expansion of `#[error_type(args)]` on `item`: on an error, the errors and the item
/// as written (with the marker impl, so that only the error that matters is shown).
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new(
            args.span(),
            "#[error_type] takes no arguments: write `#[backstage_telemetry::error_type]`",
        ));
    }
    let Some(block) = errors.check(syn::parse2::<syn::ItemImpl>(item.clone()).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[error_type] goes on `impl ErrorType for YourError { .. }`",
        )
    })) else {
        let errors = errors.into_compile_errors();
        return quote!(#errors #item);
    };
    let rt = quote!(::backstage_telemetry::__private);
    check_impl(&block, &mut errors);
    let ty = &block.self_ty;
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let marker = quote!(impl #impl_generics #rt::RegisteredErrorType for #ty #where_clause {});
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        let item = block.to_token_stream();
        return quote!(#errors #item #marker);
    }
    let entry = registry_entry(&rt, ty);
    quote! {
        #block
        #marker
        #entry
    }
}

/// Reports an impl that is not of `ErrorType`, or is generic (it cannot be registered).
fn check_impl(block: &syn::ItemImpl, errors: &mut Errors) {
    let names_error_type = block
        .trait_
        .as_ref()
        .and_then(|(path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "ErrorType");
    if !names_error_type {
        errors.push(syn::Error::new(
            block.impl_token.span,
            "#[error_type] goes on `impl ErrorType for YourError { .. }`: this impl is not of \
             `backstage_telemetry::ErrorType`",
        ));
    }
    if !block.generics.params.is_empty() {
        errors.push(syn::Error::new(
            block.generics.span(),
            "a generic `ErrorType` impl cannot be registered: `TracingService` spans find an \
             error's `ErrorType` by its concrete type, one entry per type. Implement \
             `ErrorType` for each concrete error type (a macro_rules! can write them)",
        ));
    }
}

/// The type's entry in the runtime's registry of `ErrorType`s, found by its `TypeId`.
fn registry_entry(rt: &TokenStream, ty: &syn::Type) -> TokenStream {
    quote! {
        const _: () = {
            #[#rt::linkme::distributed_slice(#rt::ERROR_TYPES)]
            #[linkme(crate = #rt::linkme)]
            static __BT_ERROR_TYPE: #rt::ErrorTypeEntry = #rt::ErrorTypeEntry {
                type_id: ::core::any::TypeId::of::<#ty>,
                error_type: |error| {
                    error
                        .downcast_ref::<#ty>()
                        .map(<#ty as #rt::ErrorType>::error_type)
                },
                boxed: |error| {
                    use #rt::BoxedErrorType as _;
                    (&&#rt::Boxed::<#ty>::PICK).error_type_in(error)
                },
            };
        };
    }
}
