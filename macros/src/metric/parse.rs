//! The input of `metric!`: a typed model, checked as it is parsed.
//!
//! ```text
//! metric! {                                             // item form
//!     /// Entities processed by the catalog.
//!     pub static ENTITIES_PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
//! }
//! metric!(Histogram<f64>, "tasks.duration", unit = "s", boundaries = [0.1, 1.0, 10.0])  // expression form
//! ```

use backstage_telemetry_naming::{
    ScopeKind, validate_boundaries, validate_metric_name, validate_unit,
};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Lit, LitStr, Token, Visibility, bracketed, parenthesized};

use crate::options::Seen;
use crate::scope::{ScopeRef, parse_hidden};

/// What `metric!` was given.
pub struct MetricInput {
    /// Passed down by an enclosing `#[backstage_plugin]` / `#[backstage_core]` module.
    pub enclosing: Option<ScopeRef>,
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
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub static_token: Token![static],
    pub ident: Ident,
    pub declaration: Declaration,
    pub semi: Token![;],
}

/// One instrument: kind, value type, name and options.
pub struct Declaration {
    pub kind: Kind,
    pub value_type: ValueType,
    pub name: LitStr,
    pub unit: Option<LitStr>,
    pub description: Option<String>,
    pub boundaries: Option<Vec<f64>>,
    pub callback: Option<Expr>,
    pub plugin: Option<ScopeRef>,
}

pub use backstage_telemetry_naming::MetricKind as Kind;

/// A value type of an instrument: `u64`, `i64` or `f64`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ValueType(&'static str);

impl ValueType {
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl Parse for MetricInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let enclosing = if input.peek(Ident) && input.fork().parse::<Ident>()? == "__scope" {
            input.parse::<Ident>()?;
            let content;
            parenthesized!(content in input);
            let scope = parse_hidden(&content)?;
            input.parse::<Token![;]>()?;
            Some(scope)
        } else {
            None
        };
        let item_form =
            input.peek(Token![#]) || input.peek(Token![pub]) || input.peek(Token![static]);
        let form = if item_form {
            let mut items = Vec::new();
            while !input.is_empty() {
                items.push(input.parse()?);
            }
            Form::Items(items)
        } else {
            let declaration = Declaration::parse_rest(input, None)?;
            Form::Expr(Box::new(declaration))
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
        let mut declaration = Declaration::parse_rest(input, Some(()))?;
        let semi = input.parse()?;
        if declaration.description.is_none() {
            declaration.description = doc_text(&attrs);
        }
        Ok(MetricItem {
            attrs,
            vis,
            static_token,
            ident,
            declaration,
            semi,
        })
    }
}

impl Declaration {
    /// `Kind<T> = "name", options` (item form) or `Kind<T>, "name", options` (expression form).
    fn parse_rest(input: ParseStream, item: Option<()>) -> syn::Result<Self> {
        let (kind, value_type, type_span) = parse_type(input)?;
        if item.is_some() {
            input.parse::<Token![=]>()?;
        } else {
            input.parse::<Token![,]>()?;
        }
        let name: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the metric name as a string literal, e.g. \"entities.processed\"",
            )
        })?;
        validate_metric_name(&name.value())
            .map_err(|e| syn::Error::new(name.span(), e.short_message()))?;
        let mut declaration = Declaration {
            kind,
            value_type,
            name,
            unit: None,
            description: None,
            boundaries: None,
            callback: None,
            plugin: None,
        };
        declaration.parse_options(input)?;
        if kind.is_observable() && declaration.callback.is_none() {
            return Err(syn::Error::new(
                type_span,
                format!(
                    "{} needs `callback = |observer| observer.observe(value, &[])`",
                    kind.name()
                ),
            ));
        }
        Ok(declaration)
    }

    fn parse_options(&mut self, input: ParseStream) -> syn::Result<()> {
        let mut seen = Seen::default();
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() || input.peek(Token![;]) {
                break;
            }
            let option = Ident::parse_any(input)?;
            let key = seen.first_time(&option)?;
            input.parse::<Token![=]>()?;
            match key.as_str() {
                "unit" => {
                    let unit = string(input, &option, "a string literal, e.g. `unit = \"s\"`")?;
                    validate_unit(&unit.value())
                        .map_err(|e| syn::Error::new(unit.span(), e.short_message()))?;
                    self.unit = Some(unit);
                }
                "description" => {
                    let text = string(input, &option, "a string literal")?;
                    self.description = Some(text.value());
                }
                "boundaries" => {
                    if self.kind != Kind::Histogram {
                        return Err(syn::Error::new(
                            option.span(),
                            format!(
                                "`boundaries` is for histograms; a {} has no buckets",
                                self.kind.name()
                            ),
                        ));
                    }
                    self.boundaries = Some(parse_boundaries(input)?);
                }
                "callback" => {
                    if !self.kind.is_observable() {
                        return Err(syn::Error::new(
                            option.span(),
                            format!(
                                "`callback` is for observable instruments; record on a {} with `.add`/`.record`",
                                self.kind.name()
                            ),
                        ));
                    }
                    self.callback = Some(input.parse()?);
                }
                "plugin" => {
                    let id = string(
                        input,
                        &option,
                        "a string literal, e.g. `plugin = \"catalog\"`",
                    )?;
                    self.plugin = Some(ScopeRef::checked(ScopeKind::Plugin, &id)?);
                }
                _ => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!(
                            "unknown option `{key}`: metric! accepts `unit`, `description`, \
                             `boundaries` (histograms), `callback` (observable instruments) and `plugin`"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `Kind<T>`, also written with a path (`metrics::Counter<u64>`).
fn parse_type(input: ParseStream) -> syn::Result<(Kind, ValueType, Span)> {
    let path: syn::Path = input.parse()?;
    let span = path.span();
    let Some(segment) = path.segments.last() else {
        return Err(syn::Error::new(
            span,
            "expected an instrument type such as `Counter<u64>`",
        ));
    };
    let kinds = Kind::ALL.map(Kind::name).join(", ");
    let kind = Kind::ALL
        .into_iter()
        .find(|k| segment.ident == k.name())
        .ok_or_else(|| {
            syn::Error::new(
                segment.ident.span(),
                format!(
                    "unknown instrument kind `{}`: use one of {kinds}",
                    segment.ident
                ),
            )
        })?;
    let allowed = kind.value_types();
    let hint = format!("{}<{}>", kind.name(), allowed.join("|"));
    let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return Err(syn::Error::new(
            span,
            format!("give the value type: `{hint}`"),
        ));
    };
    let (type_name, type_span) = match arguments.args.first() {
        Some(syn::GenericArgument::Type(syn::Type::Path(ty))) if arguments.args.len() == 1 => {
            match ty.path.get_ident() {
                Some(ident) => (ident.to_string(), ident.span()),
                None => (String::new(), arguments.span()),
            }
        }
        _ => (String::new(), arguments.span()),
    };
    let value_type = allowed
        .iter()
        .find(|t| **t == type_name)
        .map(|t| ValueType(t))
        .ok_or_else(|| {
            syn::Error::new(
                type_span,
                format!(
                    "a {} records {}, as OpenTelemetry defines it: write `{hint}`",
                    kind.name(),
                    allowed.join(" or ")
                ),
            )
        })?;
    Ok((kind, value_type, span))
}

fn string(input: ParseStream, option: &Ident, takes: &str) -> syn::Result<LitStr> {
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{option}` takes {takes}"),
        )),
    }
}

/// `[0.1, 1, 10.0]`: numeric literals, finite and strictly increasing.
fn parse_boundaries(input: ParseStream) -> syn::Result<Vec<f64>> {
    let content;
    let brackets = bracketed!(content in input);
    let literals = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
    let mut values = Vec::new();
    for literal in &literals {
        let value = match literal {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Float(f), ..
            }) => f.base10_parse::<f64>()?,
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<f64>()?,
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                expr,
                ..
            }) => match &**expr {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Float(f), ..
                }) => -f.base10_parse::<f64>()?,
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }) => -i.base10_parse::<f64>()?,
                other => return Err(number_expected(other.span())),
            },
            other => return Err(number_expected(other.span())),
        };
        values.push(value);
    }
    validate_boundaries(&values).map_err(|e| {
        let span = match e.problem() {
            backstage_telemetry_naming::Problem::NonFinite { index }
            | backstage_telemetry_naming::Problem::NotIncreasing { index } => literals
                .iter()
                .nth(*index)
                .map_or(brackets.span.join(), |l| l.span()),
            _ => brackets.span.join(),
        };
        syn::Error::new(span, e.short_message())
    })?;
    Ok(values)
}

fn number_expected(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "bucket boundaries are number literals, e.g. `boundaries = [0.1, 1.0, 10.0]`",
    )
}

/// The text of `///` comments, lines joined with spaces.
fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }),
                ..
            }) => Some(s.value().trim().to_owned()),
            _ => None,
        })
        .filter(|line| !line.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}
