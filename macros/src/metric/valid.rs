//! The checks of a `metric!` declaration: kind and value type, name, options, scope. Every
//! problem is reported; where one is found a placeholder takes the wrong value's place, so
//! the declaration still expands to an instrument of the written kind and the code using it
//! still type-checks.

use backstage_telemetry_naming::{
    MetricKind as Kind, Problem, validate_boundaries, validate_metric_name, validate_unit,
};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Lit};

use super::parse::Declaration;
use crate::args::{Arg, Errors, known, lit_str};
use crate::scope::{Enclosing, Resolved, Source, explicit_plugin, resolve};

/// A checked declaration: what is expanded and what the module lists.
pub struct Metric {
    pub kind: Kind,
    pub value_type: &'static str,
    /// `backstage.plugin.{id}.{name}`.
    pub full_name: String,
    pub unit: Option<String>,
    pub description: Option<String>,
    pub boundaries: Option<Vec<f64>>,
    /// Observable kinds only (a placeholder if missing).
    pub callback: Option<Expr>,
    pub resolved: Resolved,
    /// Where the name is written.
    pub span: Span,
}

impl Metric {
    pub fn unit(&self) -> &str {
        self.unit.as_deref().unwrap_or_default()
    }
}

const ACCEPTED: &[&str] = &["unit", "description", "boundaries", "callback", "plugin"];
const ACCEPTS: &str = "metric! accepts `unit`, `description`, `boundaries` (histograms), \
                       `callback` (observable instruments) and `plugin`";

/// Checks `declaration` (`doc` is the item's doc comment). `None` only when even the kind
/// is unknown.
pub fn validate(
    declaration: Declaration,
    doc: Option<String>,
    enclosing: Option<&Enclosing>,
    errors: &mut Errors,
) -> Option<Metric> {
    let (kind, value_type) = instrument_type(&declaration.ty, errors)?;
    let authored = authored_name(&declaration.name, errors);
    let mut metric = Metric {
        kind,
        value_type,
        full_name: String::new(),
        unit: None,
        description: doc,
        boundaries: None,
        callback: None,
        resolved: Resolved::placeholder(Source::Unresolved),
        span: declaration.name.span(),
    };
    let has_callback = declaration.options.iter().any(|o| o.name() == "callback");
    let plugin = options(&mut metric, declaration.options, errors);
    if kind.is_observable() && !has_callback {
        errors.push(syn::Error::new(
            declaration.ty.span(),
            format!(
                "{} needs `callback = |observer| observer.observe(value, &[])`",
                kind.name()
            ),
        ));
    }
    if let Some(resolved) = resolve(plugin, enclosing, metric.span, "metric!", errors) {
        metric.resolved = resolved;
    }
    if let Some(authored) = authored {
        let scope = &metric.resolved.scope;
        match scope.metric_name(&authored) {
            Ok(full_name) => metric.full_name = full_name,
            // the name alone was reported already; this is the prefixed name being too long
            Err(e) if validate_metric_name(&authored).is_ok() => {
                errors.push(syn::Error::new(metric.span, e.short_message()));
            }
            Err(_) => {}
        }
    }
    Some(metric)
}

/// The name as authored (`"entities.processed"`), reported when it is not a string literal
/// or breaks the naming rules; `None` when it is not a string literal.
fn authored_name(name: &syn::Expr, errors: &mut Errors) -> Option<String> {
    let Some(literal) = lit_str(name) else {
        errors.push(syn::Error::new(
            name.span(),
            "expected the metric name as a string literal, e.g. \"entities.processed\"",
        ));
        return None;
    };
    let authored = literal.value();
    if let Err(e) = validate_metric_name(&authored) {
        errors.push(syn::Error::new(literal.span(), e.short_message()));
    }
    Some(authored)
}

/// Applies the options (`unit`, `description`, `boundaries`, `callback`) to `metric`,
/// reporting one that does not fit its kind; the scope named with `plugin = ..`, if any.
fn options(
    metric: &mut Metric,
    options: Vec<Arg>,
    errors: &mut Errors,
) -> Option<backstage_telemetry_naming::Scope> {
    let kind = metric.kind;
    let mut plugin = None;
    for arg in known(options, ACCEPTED, ACCEPTS, errors) {
        match arg.name().as_str() {
            "unit" => metric.unit = errors.check(unit(&arg)),
            "description" => {
                metric.description = errors
                    .check(arg.lit_str("a string literal"))
                    .map(|text| text.value());
            }
            "boundaries" if kind != Kind::Histogram => errors.push(syn::Error::new(
                arg.key.span(),
                format!(
                    "`boundaries` is for histograms; a {} has no buckets",
                    kind.name()
                ),
            )),
            "boundaries" => metric.boundaries = errors.check(boundaries(&arg)),
            "callback" if !kind.is_observable() => errors.push(syn::Error::new(
                arg.key.span(),
                format!(
                    "`callback` is for observable instruments; record on a {} with `.add`/`.record`",
                    kind.name()
                ),
            )),
            "callback" => metric.callback = errors.check(arg.into_expr("a closure")),
            _ => plugin = Some(explicit_plugin(&arg, errors)),
        }
    }
    plugin
}

/// `Kind<T>`, also written with a path (`metrics::Counter<u64>`). A wrong value type is
/// reported and replaced by the kind's first.
fn instrument_type(path: &syn::Path, errors: &mut Errors) -> Option<(Kind, &'static str)> {
    let span = path.span();
    let Some(segment) = path.segments.last() else {
        errors.push(syn::Error::new(
            span,
            "expected an instrument type such as `Counter<u64>`",
        ));
        return None;
    };
    let Some(kind) = Kind::ALL.into_iter().find(|k| segment.ident == k.name()) else {
        let kinds = Kind::ALL.map(Kind::name).join(", ");
        errors.push(syn::Error::new(
            segment.ident.span(),
            format!(
                "unknown instrument kind `{}`: use one of {kinds}",
                segment.ident
            ),
        ));
        return None;
    };
    let allowed = kind.value_types();
    let hint = format!("{}<{}>", kind.name(), allowed.join("|"));
    let written = match &segment.arguments {
        syn::PathArguments::AngleBracketed(arguments) => Some(arguments),
        _ => None,
    };
    let Some(arguments) = written else {
        errors.push(syn::Error::new(
            span,
            format!("give the value type: `{hint}`"),
        ));
        return Some((kind, allowed[0]));
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
    match allowed.iter().find(|t| **t == type_name) {
        Some(value_type) => Some((kind, value_type)),
        None => {
            errors.push(syn::Error::new(
                type_span,
                format!(
                    "a {} records {}, as OpenTelemetry defines it: write `{hint}`",
                    kind.name(),
                    allowed.join(" or ")
                ),
            ));
            Some((kind, allowed[0]))
        }
    }
}

fn unit(arg: &Arg) -> syn::Result<String> {
    let unit = arg.lit_str("a string literal, e.g. `unit = \"s\"`")?;
    validate_unit(&unit.value()).map_err(|e| syn::Error::new(unit.span(), e.short_message()))?;
    Ok(unit.value())
}

/// `[0.1, 1, 10.0]`: numeric literals, finite and strictly increasing.
fn boundaries(arg: &Arg) -> syn::Result<Vec<f64>> {
    let takes = "a list of numbers, e.g. `boundaries = [0.1, 1.0, 10.0]`";
    let Expr::Array(array) = arg.expr(takes)? else {
        return Err(syn::Error::new(
            arg.expr(takes)?.span(),
            format!("`boundaries` takes {takes}"),
        ));
    };
    let mut values = Vec::new();
    for element in &array.elems {
        values.push(number(element)?);
    }
    let whole = array.bracket_token.span.join();
    validate_boundaries(&values).map_err(|e| {
        let span = match e.problem() {
            Problem::NonFinite { index } | Problem::NotIncreasing { index } => {
                array.elems.iter().nth(*index).map_or(whole, Spanned::span)
            }
            _ => whole,
        };
        syn::Error::new(span, e.short_message())
    })?;
    Ok(values)
}

/// A number literal, possibly negated.
fn number(expr: &Expr) -> syn::Result<f64> {
    let expected = || {
        syn::Error::new(
            expr.span(),
            "bucket boundaries are number literals, e.g. `boundaries = [0.1, 1.0, 10.0]`",
        )
    };
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr: inner,
            ..
        }) if matches!(&**inner, Expr::Lit(_)) => number(inner).map(|n| -n),
        _ => Err(expected()),
    }
}
