//! `#[backstage_plugin(id = "...")]` / `#[backstage_core(id = "...")]` on an inline module.
//!
//! Attribute macros inside the module expand after this one, so the module hands its scope
//! down by rewriting their tokens: `#[span(..)]` becomes `#[span(.., __scope(plugin = "id"))]`
//! and `metric!{..}` becomes `metric!{__scope(plugin = "id"); ..}`, in nested modules and
//! function bodies too, but not inside a nested scoped module (the nearest scope wins).
//! While walking, it collects the metrics declared, checks that one name means one
//! instrument, and adds to the module:
//!
//! ```text
//! pub const METRICS: &[MetricInfo] = &[/* name, kind, value type, unit, description */];
//! pub fn register_observables() { /* force the observable statics declared at the top */ }
//! ```

mod walk;

use backstage_telemetry_naming::ScopeKind;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token};

use crate::metric::check_duplicates;
use crate::options::Seen;
use crate::scope::{Resolved, ScopeRef, crate_scope};

pub fn expand(kind: ScopeKind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let attribute = match kind {
        ScopeKind::Plugin => "#[backstage_plugin]",
        ScopeKind::Core => "#[backstage_core]",
    };
    let resolved = (|input: ParseStream| parse_args(kind, attribute, input)).parse2(args)?;
    let module: Module = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("{attribute} goes on an inline module: `mod name {{ .. }}`"),
        )
    })?;
    let Module {
        attrs,
        vis,
        unsafety,
        mod_token,
        ident,
        body,
    } = module;
    let Some(body) = body else {
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "{attribute} needs the module's items in place (`mod {ident} {{ .. }}`); for a \
                 module in its own file, set the crate-wide scope in Cargo.toml: \
                 `[package.metadata.backstage] pluginId = \"...\"`"
            ),
        ));
    };
    let mut walk = walk::Walk::new(resolved.scope.clone());
    let content = walk.rewrite(body.stream(), true);
    check_duplicates(&walk.declared)?;
    let infos = walk.declared.iter().map(crate::metric::info);
    let observables = &walk.observables;
    let track = resolved.track();
    Ok(quote! {
        #(#attrs)*
        #vis #unsafety #mod_token #ident {
            #content

            #track

            /// The metrics declared in this scope: name, kind, value type, unit, description.
            #[allow(dead_code)]
            pub const METRICS: &[::backstage_telemetry::__private::MetricInfo] = &[#(#infos),*];

            /// Registers the callbacks of the observable instruments declared at the top of
            /// this module (others register on first use).
            #[allow(dead_code)]
            pub fn register_observables() {
                #(::backstage_telemetry::__private::LazyLock::force(&#observables);)*
            }
        }
    })
}

/// A module: its header parsed, its items kept as tokens for the walk.
struct Module {
    attrs: Vec<syn::Attribute>,
    vis: syn::Visibility,
    unsafety: Option<Token![unsafe]>,
    mod_token: Token![mod],
    ident: Ident,
    /// `None` for `mod name;`.
    body: Option<proc_macro2::Group>,
}

impl syn::parse::Parse for Module {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        let unsafety = input.parse()?;
        let mod_token = input.parse()?;
        let ident = input.parse()?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            let body: proc_macro2::Group = input.parse()?;
            if body.delimiter() != proc_macro2::Delimiter::Brace {
                return Err(syn::Error::new(
                    body.span(),
                    "expected the module's items in braces",
                ));
            }
            Some(body)
        };
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the module"));
        }
        Ok(Module {
            attrs,
            vis,
            unsafety,
            mod_token,
            ident,
            body,
        })
    }
}

/// `id = "..."`, or nothing for the crate-wide scope of Cargo.toml.
fn parse_args(kind: ScopeKind, attribute: &str, input: ParseStream) -> syn::Result<Resolved> {
    let mut id: Option<LitStr> = None;
    let mut seen = Seen::default();
    while !input.is_empty() {
        let option = Ident::parse_any(input)?;
        if option != "id" {
            return Err(syn::Error::new(
                option.span(),
                format!("unknown option `{option}`: {attribute} takes `id = \"...\"`"),
            ));
        }
        seen.first_time(&option)?;
        input.parse::<Token![=]>()?;
        let value: syn::Expr = input.parse()?;
        match value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => id = Some(lit),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "`id` takes a string literal, e.g. `id = \"catalog\"`",
                ));
            }
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    if let Some(id) = id {
        return Ok(Resolved {
            scope: ScopeRef::checked(kind, &id)?,
            manifest: None,
        });
    }
    let missing = || {
        syn::Error::new(
            Span::call_site(),
            format!(
                "{attribute} needs `id = \"...\"`, or a crate-wide scope in Cargo.toml: \
                 `[package.metadata.backstage] {} = \"...\"`",
                match kind {
                    ScopeKind::Plugin => "pluginId",
                    ScopeKind::Core => "coreServiceId",
                }
            ),
        )
    };
    match crate_scope(Span::call_site())? {
        Some(resolved) if resolved.scope.kind == kind => Ok(resolved),
        _ => Err(missing()),
    }
}
