//! The arguments of `#[span(...)]`: a typed model, built from the options once they parsed,
//! every problem reported at once.

use backstage_telemetry_naming::{Scope, SpanKind, validate_attribute_key, validate_span_name};
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

use crate::args::{Arg, Errors, known};
use crate::scope::{Enclosing, explicit_plugin};

/// `#[span(name = "...", kind = server, attributes(key = expr, ...), credentials = expr,
/// request = expr, link = expr, metrics, plugin = "id")]`, every option optional.
#[derive(Default)]
pub struct SpanArgs {
    pub name: Option<LitStr>,
    pub kind: Option<SpanKind>,
    pub attributes: Vec<Attribute>,
    pub credentials: Option<Expr>,
    pub request: Option<Expr>,
    /// A `SpanContext` or `Option<SpanContext>` the span links to.
    pub link: Option<Expr>,
    /// `metrics`: the site asks for span metrics.
    pub metrics: bool,
    /// `plugin = "id"` (a wrong one is reported and the placeholder stands in).
    pub plugin: Option<Scope>,
    /// Passed down by an enclosing `#[backstage_plugin]` / `#[backstage_core]` module.
    pub enclosing: Option<Enclosing>,
}

/// The variant of the runtime's `SpanKind` for `kind`, such as `Server`.
pub fn variant(kind: SpanKind) -> Ident {
    Ident::new(&format!("{kind:?}"), Span::call_site())
}

/// One `key = expr` of `attributes(...)`.
pub struct Attribute {
    pub key: String,
    pub value: Expr,
}

const ACCEPTED: &[&str] = &[
    "name",
    "kind",
    "attributes",
    "credentials",
    "request",
    "link",
    "metrics",
    "plugin",
    "__scope",
    super::block::BLOCK,
];
const ACCEPTS: &str = "#[span] accepts `name`, `kind`, `attributes(...)`, `credentials`, `request`, `link`, `metrics` and `plugin`";
const KINDS: &str = "one of `internal`, `server`, `client`, `producer`, `consumer`";

impl SpanArgs {
    /// The model of the options that are right; each wrong one is an error in `errors`.
    pub fn new(args: Vec<Arg>, errors: &mut Errors) -> Self {
        let mut model = SpanArgs::default();
        for arg in known(args, ACCEPTED, ACCEPTS, errors) {
            match arg.name().as_str() {
                "name" => {
                    model.name = errors.check(
                        arg.lit_str("a string literal, e.g. `name = \"process-entity\"`")
                            .and_then(|name| {
                                validate_span_name(&name.value())
                                    .map_err(|e| syn::Error::new(name.span(), e.short_message()))?;
                                Ok(name)
                            }),
                    );
                }
                "kind" => model.kind = errors.check(kind(&arg)),
                "attributes" => {
                    let list =
                        arg.list("a list, e.g. `attributes(catalog.entity.kind = entity.kind())`");
                    if let Some(list) = errors.check(list) {
                        model.attributes = attributes(list, errors);
                    }
                }
                "credentials" => model.credentials = errors.check(arg.into_expr("an expression")),
                "request" => model.request = errors.check(arg.into_expr("an expression")),
                "link" => model.link = errors.check(arg.into_expr("an expression")),
                "metrics" => {
                    model.metrics =
                        errors
                            .check(arg.flag(
                                "write `metrics` alone to record span metrics for this function",
                            ))
                            .is_some();
                }
                "plugin" => model.plugin = Some(explicit_plugin(&arg, errors)),
                // put on a method by its `#[span]` block: traced as any other
                super::block::BLOCK => {}
                _ => model.enclosing = errors.check(Enclosing::from_arg(&arg)),
            }
        }
        model
    }
}

fn kind(arg: &Arg) -> syn::Result<SpanKind> {
    let word = arg.word(KINDS)?;
    SpanKind::from_name(&word.to_string()).ok_or_else(|| {
            syn::Error::new(
                word.span(),
                "unknown span kind: use `internal` (the default), `server`, `client`, `producer` or `consumer`",
            )
        })
}

/// `catalog.entity.kind` or `"catalog.entity.kind"`, and where it is written.
struct Key {
    text: String,
    span: Span,
}

impl Parse for Key {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return Ok(Key {
                text: lit.value(),
                span: lit.span(),
            });
        }
        let first = Ident::parse_any(input)?;
        let mut text = first.to_string();
        let mut span = first.span();
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let segment = Ident::parse_any(input)?;
            text.push('.');
            text.push_str(&segment.to_string());
            span = span.join(segment.span()).unwrap_or(span);
        }
        Ok(Key { text, span })
    }
}

/// `key = expr, ...`: each key valid and given once.
fn attributes(list: TokenStream, errors: &mut Errors) -> Vec<Attribute> {
    let pair = |input: ParseStream| -> syn::Result<(Key, Expr)> {
        let key: Key = input.parse()?;
        input.parse::<Token![=]>()?;
        Ok((key, input.parse()?))
    };
    let parser =
        |input: ParseStream| Punctuated::<_, Token![,]>::parse_terminated_with(input, pair);
    let Some(pairs) = errors.check(parser.parse2(list)) else {
        return Vec::new();
    };
    let mut attributes: Vec<Attribute> = Vec::new();
    for (key, value) in pairs {
        if let Err(e) = validate_attribute_key(&key.text) {
            errors.push(syn::Error::new(key.span, e.short_message()));
        } else if attributes.iter().any(|a| a.key == key.text) {
            errors.push(syn::Error::new(
                key.span,
                format!(
                    "attribute `{}` is given twice: give each key once",
                    key.text
                ),
            ));
        } else {
            attributes.push(Attribute {
                key: key.text,
                value,
            });
        }
    }
    attributes
}
