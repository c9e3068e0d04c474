//! The arguments of `#[span(...)]`: a typed model, checked as it is parsed.

use backstage_telemetry_naming::{ScopeKind, validate_attribute_key, validate_span_name};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token, parenthesized};

use crate::options::Seen;
use crate::scope::{ScopeRef, parse_hidden};

/// `#[span(name = "...", kind = server, attributes(key = expr, ...), credentials = expr,
/// request = expr, link = expr, plugin = "id")]`, every option optional.
#[derive(Default)]
pub struct SpanArgs {
    pub name: Option<LitStr>,
    pub kind: Option<SpanKind>,
    pub attributes: Vec<Attribute>,
    pub credentials: Option<Expr>,
    pub request: Option<Expr>,
    /// A `SpanContext` or `Option<SpanContext>` the span links to.
    pub link: Option<Expr>,
    pub plugin: Option<ScopeRef>,
    /// Passed down by an enclosing `#[backstage_plugin]` / `#[backstage_core]` module.
    pub enclosing: Option<ScopeRef>,
}

/// The five span kinds.
#[derive(Clone, Copy)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn variant(self) -> Ident {
        let name = match self {
            SpanKind::Internal => "Internal",
            SpanKind::Server => "Server",
            SpanKind::Client => "Client",
            SpanKind::Producer => "Producer",
            SpanKind::Consumer => "Consumer",
        };
        Ident::new(name, Span::call_site())
    }
}

/// One `key = expr` of `attributes(...)`.
pub struct Attribute {
    pub key: String,
    pub value: Expr,
}

const OPTIONS: &str = "#[span] accepts `name`, `kind`, `attributes(...)`, `credentials`, `request`, `link` and `plugin`";

impl Parse for SpanArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = SpanArgs::default();
        let mut seen = Seen::default();
        while !input.is_empty() {
            let option = Ident::parse_any(input)?;
            let key = seen.first_time(&option)?;
            match key.as_str() {
                "name" => {
                    let name: LitStr = value(
                        input,
                        &option,
                        "a string literal, e.g. `name = \"process-entity\"`",
                    )?;
                    validate_span_name(&name.value())
                        .map_err(|e| syn::Error::new(name.span(), e.short_message()))?;
                    args.name = Some(name);
                }
                "kind" => {
                    let kind: Ident = value(
                        input,
                        &option,
                        "one of `internal`, `server`, `client`, `producer`, `consumer`",
                    )?;
                    args.kind = Some(match kind.to_string().as_str() {
                        "internal" => SpanKind::Internal,
                        "server" => SpanKind::Server,
                        "client" => SpanKind::Client,
                        "producer" => SpanKind::Producer,
                        "consumer" => SpanKind::Consumer,
                        _ => {
                            return Err(syn::Error::new(
                                kind.span(),
                                "unknown span kind: use `internal` (the default), `server`, `client`, `producer` or `consumer`",
                            ));
                        }
                    });
                }
                "attributes" => {
                    if !input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            option.span(),
                            "`attributes` takes a list, e.g. `attributes(catalog.entity.kind = entity.kind())`",
                        ));
                    }
                    let content;
                    parenthesized!(content in input);
                    args.attributes = parse_attributes(&content)?;
                }
                "credentials" => args.credentials = Some(expression(input, &option)?),
                "request" => args.request = Some(expression(input, &option)?),
                "link" => args.link = Some(expression(input, &option)?),
                "plugin" => {
                    let id: LitStr = value(
                        input,
                        &option,
                        "a string literal, e.g. `plugin = \"catalog\"`",
                    )?;
                    args.plugin = Some(ScopeRef::checked(ScopeKind::Plugin, &id)?);
                }
                "__scope" => {
                    let content;
                    parenthesized!(content in input);
                    args.enclosing = Some(parse_hidden(&content)?);
                }
                _ => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!("unknown option `{key}`: {OPTIONS}"),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// `= value` where value must parse as `T`, else an error naming what the option takes.
fn value<T: Parse>(input: ParseStream, option: &Ident, takes: &str) -> syn::Result<T> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            option.span(),
            format!("`{option}` needs a value: {takes}"),
        ));
    }
    input.parse::<Token![=]>()?;
    let fork = input.fork();
    match fork.parse::<T>() {
        Ok(_) => input.parse(),
        Err(_) => {
            let found: Expr = input.parse()?;
            Err(syn::Error::new(
                found.span(),
                format!("`{option}` takes {takes}"),
            ))
        }
    }
}

fn expression(input: ParseStream, option: &Ident) -> syn::Result<Expr> {
    value(input, option, "an expression")
}

/// `key = expr, ...` where a key is dotted (`catalog.entity.kind`) or a string literal.
fn parse_attributes(input: ParseStream) -> syn::Result<Vec<Attribute>> {
    let mut attributes: Vec<Attribute> = Vec::new();
    while !input.is_empty() {
        let (key, span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else {
            let first = Ident::parse_any(input)?;
            let mut key = first.to_string();
            let mut span = first.span();
            while input.peek(Token![.]) {
                input.parse::<Token![.]>()?;
                let segment = Ident::parse_any(input)?;
                key.push('.');
                key.push_str(&segment.to_string());
                span = span.join(segment.span()).unwrap_or(span);
            }
            (key, span)
        };
        validate_attribute_key(&key).map_err(|e| syn::Error::new(span, e.short_message()))?;
        if attributes.iter().any(|a| a.key == key) {
            return Err(syn::Error::new(
                span,
                format!("attribute `{key}` is given twice: give each key once"),
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        attributes.push(Attribute { key, value });
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(attributes)
}
