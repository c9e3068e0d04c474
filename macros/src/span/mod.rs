//! `#[span]`: parse the options (`attr`) and the function, check them, then wrap the body
//! (`expand`). On any error the function is emitted unchanged after the errors, so the
//! body's own diagnostics still show and editors keep seeing it.

mod attr;
mod expand;

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;

use crate::args::{Arg, Errors};
use crate::scope::{Resolved, resolve};
use attr::SpanArgs;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = errors
        .check(Arg::parse_all.parse2(args))
        .map(|args| SpanArgs::new(args, &mut errors));
    let function = errors.check(syn::parse2::<Function>(item.clone()).map_err(|_| {
        syn::Error::new(
            first_ident_span(&item),
            "#[span] goes on a function with a body: a free function, a method, or a trait \
             method with a default body",
        )
    }));
    let expanded = match (args, function) {
        (Some(args), Some(function)) => validate(&args, &function, &mut errors)
            .map(|resolved| expand::expand(&args, &function, &resolved)),
        _ => None,
    };
    match expanded {
        Some(expanded) if errors.is_empty() => expanded,
        _ => {
            let errors = errors.into_compile_errors();
            quote!(#errors #item)
        }
    }
}

/// What can only be checked with the function in hand; the scope it belongs to.
fn validate(args: &SpanArgs, function: &Function, errors: &mut Errors) -> Option<Resolved> {
    if let Some(constness) = &function.sig.constness {
        errors.push(syn::Error::new(
            constness.span(),
            "#[span] cannot go on a `const fn`: spans are started at run time; remove `const` \
             or the attribute",
        ));
    }
    if args.plugin_given && args.plugin.is_none() {
        return None;
    }
    resolve(
        args.plugin.clone(),
        args.enclosing.as_ref(),
        function.sig.ident.span(),
        "#[span]",
        errors,
    )
}

/// A function: its signature parsed, its body kept as tokens (parsing every statement of
/// every function would dominate compile time; only the `async`-tail forms need it).
pub struct Function {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub sig: syn::Signature,
    pub body: Group,
}

impl Parse for Function {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace || !input.is_empty() {
            return Err(input.error("expected a function body"));
        }
        Ok(Function {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

fn first_ident_span(item: &TokenStream) -> proc_macro2::Span {
    item.clone()
        .into_iter()
        .find(|t| matches!(t, proc_macro2::TokenTree::Ident(_)))
        .map_or_else(proc_macro2::Span::call_site, |t| t.span())
}
