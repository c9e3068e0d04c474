//! `metric!`: parse (`parse`), check (`valid`), expand (`expand`). A scoped module runs the
//! same three steps on the `metric!`s written inside it, so each is parsed once.

mod expand;
mod parse;
mod valid;

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::args::Errors;
use crate::scope::{Enclosing, Source};
pub use expand::{info, line};
use parse::{Form, MetricInput, MetricItem};
pub use valid::Metric;

/// `metric!(..)` / `metric! { .. }` on its own.
pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let expanded = match MetricInput::parse(input, &mut errors) {
        Ok(input) => {
            let expanded = expand_input(input, None, &mut errors);
            check_duplicates(&expanded.declared, &mut errors);
            expanded.tokens
        }
        Err(error) => {
            errors.push(error);
            TokenStream::new()
        }
    };
    let errors = errors.into_compile_errors();
    quote!(#errors #expanded)
}

/// What a `metric!` expands to, and what it declares in its scope.
pub struct Expanded {
    pub tokens: TokenStream,
    /// The metrics of the enclosing (or crate-wide) scope, in order; not those naming
    /// another scope with `plugin = ".."`.
    pub declared: Vec<Metric>,
    /// The observable statics among them.
    pub observables: Vec<Ident>,
    /// The expression form (a block evaluating to a reference), not items.
    pub expression: bool,
}

/// Parses `input` for the module walk: `None` if any of it does not parse (then `metric!`
/// itself, given the scope, reports that and declares the rest; so does a `metric!` in a
/// `macro_rules!` body, whose `$` variables only parse once substituted).
pub fn parse_in_module(input: TokenStream) -> Option<MetricInput> {
    let mut errors = Errors::default();
    let input = MetricInput::parse(input, &mut errors).ok()?;
    errors.is_empty().then_some(input)
}

/// Checks and expands every declaration of `input`; `enclosing` is the module's scope when
/// a module walk expands it.
pub fn expand_input(
    input: MetricInput,
    enclosing: Option<&Enclosing>,
    errors: &mut Errors,
) -> Expanded {
    let enclosing = enclosing.or(input.enclosing.as_ref());
    let mut expanded = Expanded {
        tokens: TokenStream::new(),
        declared: Vec::new(),
        observables: Vec::new(),
        expression: false,
    };
    match input.form {
        Form::Items(items) => {
            for MetricItem {
                header,
                declaration,
            } in items
            {
                let doc = parse::doc_text(&header.attrs);
                let Some(metric) = valid::validate(declaration, doc, enclosing, errors) else {
                    continue;
                };
                expanded.tokens.extend(expand::item(&header, &metric));
                if metric.resolved.source != Source::Explicit {
                    if metric.kind.is_observable() {
                        expanded.observables.push(header.ident);
                    }
                    expanded.declared.push(metric);
                }
            }
        }
        Form::Expr(declaration) => {
            expanded.expression = true;
            if let Some(metric) = valid::validate(*declaration, None, enclosing, errors) {
                expanded.tokens = expand::expression(&metric);
                if metric.resolved.source != Source::Explicit {
                    expanded.declared.push(metric);
                }
            }
        }
    }
    expanded
}

/// One name, one instrument: a second declaration of a name must have the same kind, value
/// type and unit.
pub fn check_duplicates(declared: &[Metric], errors: &mut Errors) {
    for (index, later) in declared.iter().enumerate() {
        let earlier = declared[..index]
            .iter()
            .find(|d| !d.full_name.is_empty() && d.full_name == later.full_name);
        if let Some(earlier) = earlier
            && (earlier.kind, earlier.value_type, earlier.unit())
                != (later.kind, later.value_type, later.unit())
        {
            errors.push(syn::Error::new(
                later.span,
                format!(
                    "metric `{}` is already declared in this scope as {}<{}> with unit `{}`: \
                     declare it once and reuse it, or give this one another name",
                    later.full_name,
                    earlier.kind.name(),
                    earlier.value_type,
                    earlier.unit()
                ),
            ));
        }
    }
}
