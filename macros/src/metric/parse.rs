//! The input of `metric!`, as written: its shape only. What the names and options mean is
//! checked in `valid`.
//!
//! ```text
//! metric! {                                             // item form
//!     /// Entities processed by the catalog.
//!     pub static ENTITIES_PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
//! }
//! metric!(Histogram<f64>, "tasks.duration", unit = "s", boundaries = [0.1, 1.0, 10.0])  // expression form
//! ```
//!
//! In the item form each declaration is parsed on its own (up to its `;`), so one that is
//! malformed is reported and the others are still declared.

use proc_macro2::{Punct, Spacing, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Expr, Ident, Token, Visibility};

use crate::args::{Arg, Errors};
use crate::scope::Enclosing;

/// What `metric!` was given.
pub struct MetricInput {
    /// Passed down by an enclosing `#[backstage_plugin]` / `#[backstage_core]` module.
    pub enclosing: Option<Enclosing>,
    pub form: Form,
}

pub enum Form {
    /// `static` declarations.
    Items(Vec<MetricItem>),
    /// An instrument created and cached at the call site.
    Expr(Box<Declaration>),
}

/// `#[doc] pub static NAME: Kind<T> = "name", options;`
pub struct MetricItem {
    pub header: Header,
    pub declaration: Declaration,
}

/// `#[doc] pub static NAME:`
pub struct Header {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub static_token: Token![static],
    pub ident: Ident,
    /// The user's `;` (lints such as `dead_code` need the item's span to be the user's).
    pub semi: Token![;],
}

/// `Kind<T>`, the name and the options.
pub struct Declaration {
    pub ty: syn::Path,
    pub name: Expr,
    pub options: Vec<Arg>,
}

impl MetricInput {
    /// Parses `tokens`; declarations that do not parse are errors in `errors`.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> syn::Result<Self> {
        let mut tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let enclosing = match tokens.as_slice() {
            [
                TokenTree::Ident(hidden),
                TokenTree::Group(_),
                TokenTree::Punct(semi),
                ..,
            ] if hidden == "__scope" && semi.as_char() == ';' => {
                let arg: Arg = syn::parse2(tokens[..2].iter().cloned().collect())?;
                tokens.drain(..3);
                Some(Enclosing::from_arg(&arg)?)
            }
            _ => None,
        };
        let item_form = match tokens.first() {
            Some(TokenTree::Punct(p)) => p.as_char() == '#',
            Some(TokenTree::Ident(i)) => i == "pub" || i == "static",
            _ => false,
        };
        let form = if item_form {
            let mut items = Vec::new();
            let mut declaration = Vec::new();
            for token in tokens
                .into_iter()
                .chain([TokenTree::Punct(Punct::new(';', Spacing::Alone))])
            {
                let TokenTree::Punct(semi) = &token else {
                    declaration.push(token);
                    continue;
                };
                if semi.as_char() != ';' {
                    declaration.push(token);
                    continue;
                }
                if declaration.is_empty() {
                    continue;
                }
                let tokens: TokenStream = declaration.drain(..).collect();
                if let Some(mut item) = errors.check(syn::parse2::<MetricItem>(tokens)) {
                    item.header.semi = Token![;](semi.span());
                    items.push(item);
                }
            }
            Form::Items(items)
        } else {
            let parser = |input: ParseStream| Declaration::parse_rest(input, false);
            Form::Expr(Box::new(parser.parse2(tokens.into_iter().collect())?))
        };
        Ok(MetricInput { enclosing, form })
    }
}

impl Parse for MetricItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let static_token = input.parse()?;
        let ident: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let declaration = Declaration::parse_rest(input, true)?;
        Ok(MetricItem {
            header: Header {
                attrs,
                vis,
                static_token,
                ident,
                semi: Token![;](proc_macro2::Span::call_site()),
            },
            declaration,
        })
    }
}

impl Declaration {
    /// `Kind<T> = "name", options` (item form) or `Kind<T>, "name", options` (expression form).
    fn parse_rest(input: ParseStream, item: bool) -> syn::Result<Self> {
        let ty: syn::Path = input.parse()?;
        if item {
            input.parse::<Token![=]>()?;
        } else {
            input.parse::<Token![,]>()?;
        }
        let name: Expr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the metric name as a string literal, e.g. \"entities.processed\"",
            )
        })?;
        let options = if input.is_empty() {
            Vec::new()
        } else {
            input.parse::<Token![,]>()?;
            Arg::parse_all(input)?
        };
        Ok(Declaration { ty, name, options })
    }
}

/// The text of `///` comments, lines joined with spaces.
pub fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(doc) => crate::args::lit_str(&doc.value),
            _ => None,
        })
        .map(|line| line.value().trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}
