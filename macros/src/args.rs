//! The one option grammar of the macros, and how errors are gathered.
//!
//! Every macro takes options written the same way, comma-separated with an optional trailing
//! comma:
//!
//! ```text
//! key = expression        name = "process", kind = server, unit = "s", boundaries = [1, 2]
//! key(tokens)             attributes(catalog.entity.kind = kind), __scope(plugin = "catalog")
//! ```
//!
//! Parsing only checks this shape ([`Arg`]); what each key means is checked afterwards by
//! the macro, which reports every problem it finds at once through [`Errors`].

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr, Token};

/// Every error of one macro use, reported together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The value, or `None` with its error kept.
    pub fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `compile_error!`s for everything gathered (nothing if there is nothing).
    pub fn into_compile_errors(self) -> TokenStream {
        self.0
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

/// One option: `key = expression` or `key(tokens)`.
pub struct Arg {
    pub key: Ident,
    pub value: Value,
}

pub enum Value {
    /// `key` alone.
    Missing,
    /// `= expression`.
    Expr(Expr),
    /// `(tokens)`.
    List(Group),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Value::Expr(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let group: Group = input.parse()?;
            debug_assert_eq!(group.delimiter(), Delimiter::Parenthesis);
            Value::List(group)
        } else {
            Value::Missing
        };
        Ok(Arg { key, value })
    }
}

impl Arg {
    /// The options of a macro, in order: `key = value, key(..), ...`.
    pub fn parse_all(input: ParseStream) -> syn::Result<Vec<Arg>> {
        Ok(Punctuated::<Arg, Token![,]>::parse_terminated(input)?
            .into_iter()
            .collect())
    }

    pub fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    /// The tokens of the value, for pointing errors at.
    fn span(&self) -> Span {
        match &self.value {
            Value::Missing => self.key.span(),
            Value::Expr(expr) => expr.span(),
            Value::List(group) => group.span(),
        }
    }

    fn wrong(&self, takes: &str) -> syn::Error {
        let key = self.name();
        match self.value {
            Value::Missing => {
                syn::Error::new(self.key.span(), format!("`{key}` needs a value: {takes}"))
            }
            _ => syn::Error::new(self.span(), format!("`{key}` takes {takes}")),
        }
    }

    /// `key = expression`.
    pub fn expr(&self, takes: &str) -> syn::Result<&Expr> {
        match &self.value {
            Value::Expr(expr) => Ok(expr),
            _ => Err(self.wrong(takes)),
        }
    }

    /// `key = expression`, the expression taken.
    pub fn into_expr(self, takes: &str) -> syn::Result<Expr> {
        match self.value {
            Value::Expr(expr) => Ok(expr),
            _ => Err(self.wrong(takes)),
        }
    }

    /// `key = "text"`.
    pub fn lit_str(&self, takes: &str) -> syn::Result<LitStr> {
        self.expr(takes)
            .ok()
            .and_then(lit_str)
            .ok_or_else(|| self.wrong(takes))
    }

    /// `key = word`.
    pub fn word(&self, takes: &str) -> syn::Result<Ident> {
        match &self.value {
            Value::Expr(Expr::Path(path)) if path.attrs.is_empty() && path.qself.is_none() => path
                .path
                .get_ident()
                .cloned()
                .ok_or_else(|| self.wrong(takes)),
            _ => Err(self.wrong(takes)),
        }
    }

    /// `key` alone, a switch that is on.
    pub fn flag(&self, takes: &str) -> syn::Result<()> {
        match self.value {
            Value::Missing => Ok(()),
            _ => Err(syn::Error::new(
                self.span(),
                format!("`{}` takes no value: {takes}", self.name()),
            )),
        }
    }

    /// `key(tokens)`.
    pub fn list(&self, takes: &str) -> syn::Result<TokenStream> {
        match &self.value {
            Value::List(group) => Ok(group.stream()),
            _ => Err(self.wrong(takes)),
        }
    }
}

/// A string literal, if `expr` is one.
pub fn lit_str(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(LitStr::new(&lit.value(), lit.span())),
        Expr::Group(group) => lit_str(&group.expr),
        _ => None,
    }
}

/// Keeps the options whose key is `accepted` and given for the first time; reports the others
/// (`accepts` lists them for the message).
pub fn known(args: Vec<Arg>, accepted: &[&str], accepts: &str, errors: &mut Errors) -> Vec<Arg> {
    let mut kept: Vec<Arg> = Vec::with_capacity(args.len());
    for arg in args {
        let key = arg.name();
        if !accepted.contains(&key.as_str()) {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("unknown option `{key}`: {accepts}"),
            ));
        } else if kept.iter().any(|earlier| earlier.name() == key) {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("duplicate option `{key}`: give it once"),
            ));
        } else {
            kept.push(arg);
        }
    }
    kept
}

/// The last word of an attribute's path: `span` in `span(..)` and in
/// `backstage_telemetry::span`. Macros are recognised by it before name resolution exists.
pub fn attribute_name(attribute: TokenStream) -> Option<String> {
    let mut last = None;
    for token in attribute {
        match token {
            proc_macro2::TokenTree::Ident(ident) => last = Some(ident.to_string()),
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => {}
            _ => break,
        }
    }
    last
}
