//! `metric!`: parse (`parse`), resolve the scope and check names and duplicates (here),
//! expand (`expand`).

mod expand;
pub mod parse;

use backstage_telemetry_naming::exported_metric_name;
use proc_macro2::{Span, TokenStream};

use crate::scope::{Resolved, ScopeRef, resolve};
pub use expand::info;
use parse::{Declaration, Form, Kind, MetricInput, ValueType};

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: MetricInput = syn::parse2(input)?;
    match input.form {
        Form::Items(items) => {
            let mut declared = Vec::new();
            let mut output = TokenStream::new();
            for item in &items {
                let resolved = scope_of(&item.declaration, input.enclosing.clone())?;
                let metric = Declared::new(&item.declaration, &resolved.scope)?;
                output.extend(expand::item(item, &resolved, &metric));
                declared.push(metric);
            }
            check_duplicates(&declared)?;
            Ok(output)
        }
        Form::Expr(declaration) => {
            let resolved = scope_of(&declaration, input.enclosing)?;
            let metric = Declared::new(&declaration, &resolved.scope)?;
            Ok(expand::expression(&declaration, &resolved, &metric))
        }
    }
}

fn scope_of(declaration: &Declaration, enclosing: Option<ScopeRef>) -> syn::Result<Resolved> {
    resolve(
        declaration.plugin.clone(),
        enclosing,
        declaration.name.span(),
        "metric!",
    )
}

/// A metric as its scope declares it: what the manifest lists and duplicates are checked on.
pub struct Declared {
    pub full_name: String,
    pub kind: Kind,
    pub value_type: ValueType,
    pub unit: String,
    pub description: String,
    pub span: Span,
}

impl Declared {
    pub fn new(declaration: &Declaration, scope: &ScopeRef) -> syn::Result<Self> {
        let full_name = exported_metric_name(scope.kind, &scope.id, &declaration.name.value())
            .map_err(|e| syn::Error::new(declaration.name.span(), e.short_message()))?;
        Ok(Declared {
            full_name,
            kind: declaration.kind,
            value_type: declaration.value_type,
            unit: declaration
                .unit
                .as_ref()
                .map(|u| u.value())
                .unwrap_or_default(),
            description: declaration.description.clone().unwrap_or_default(),
            span: declaration.name.span(),
        })
    }
}

/// One name, one instrument: a second declaration of a name must have the same kind, value
/// type and unit.
pub fn check_duplicates(declared: &[Declared]) -> syn::Result<()> {
    for (index, later) in declared.iter().enumerate() {
        let earlier = declared[..index]
            .iter()
            .find(|d| d.full_name == later.full_name);
        if let Some(earlier) = earlier
            && (earlier.kind, earlier.value_type, &earlier.unit)
                != (later.kind, later.value_type, &later.unit)
        {
            return Err(syn::Error::new(
                later.span,
                format!(
                    "metric `{}` is already declared in this scope as {}<{}> with unit `{}`: \
                     declare it once and reuse it, or give this one another name",
                    later.full_name,
                    earlier.kind.name(),
                    earlier.value_type.name(),
                    earlier.unit
                ),
            ));
        }
    }
    Ok(())
}
