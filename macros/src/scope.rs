//! Which plugin or core service a `#[span]` or `metric!` belongs to.
//!
//! In order of precedence: an explicit `plugin = "id"` option; the nearest enclosing
//! `#[backstage_plugin]` / `#[backstage_core]` module, which passes itself down as a hidden
//! `__scope(plugin = "id")` argument; the crate-wide `[package.metadata.backstage]` of the
//! crate's Cargo.toml (`pluginId = "id"` or `coreServiceId = "id"`), the Rust counterpart of
//! the `backstage.pluginId` of a Backstage package.json.

use std::path::PathBuf;

use backstage_telemetry_naming::{ScopeKind, validate_scope_id};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::{Ident, LitStr, Token};

/// A checked scope.
#[derive(Clone, Debug)]
pub struct ScopeRef {
    pub kind: ScopeKind,
    pub id: String,
}

impl ScopeRef {
    /// Checks `id` as a scope of `kind`, pointing errors at `lit`.
    pub fn checked(kind: ScopeKind, lit: &LitStr) -> syn::Result<Self> {
        let id = lit.value();
        validate_scope_id(kind, &id).map_err(|e| syn::Error::new(lit.span(), e.short_message()))?;
        Ok(ScopeRef { kind, id })
    }

    /// `::backstage_telemetry::__private::Scope::__checked(..)`: a const expression.
    pub fn to_tokens(&self) -> TokenStream {
        let id = &self.id;
        let kind = match self.kind {
            ScopeKind::Plugin => quote!(Plugin),
            ScopeKind::Core => quote!(Core),
        };
        quote! {
            ::backstage_telemetry::__private::Scope::__checked(
                ::backstage_telemetry::__private::ScopeKind::#kind, #id,
            )
        }
    }

    /// The hidden argument a scoped module adds to the macros inside it.
    pub fn hidden_arg(&self) -> TokenStream {
        let key = Ident::new(self.kind.segment(), Span::call_site());
        let id = &self.id;
        quote!(__scope(#key = #id))
    }
}

/// Parses the content of a hidden `__scope(plugin = "id")` argument.
pub fn parse_hidden(input: ParseStream) -> syn::Result<ScopeRef> {
    let key: Ident = input.parse()?;
    input.parse::<Token![=]>()?;
    let lit: LitStr = input.parse()?;
    let kind = if key == "core" {
        ScopeKind::Core
    } else {
        ScopeKind::Plugin
    };
    ScopeRef::checked(kind, &lit)
}

/// A resolved scope, and the Cargo.toml it came from (so the crate rebuilds when it changes).
pub struct Resolved {
    pub scope: ScopeRef,
    pub manifest: Option<PathBuf>,
}

impl Resolved {
    /// Makes the crate depend on the Cargo.toml its scope came from.
    pub fn track(&self) -> TokenStream {
        match &self.manifest {
            Some(path) => {
                let path = path.display().to_string();
                quote!(
                    const _: &[u8] = ::core::include_bytes!(#path);
                )
            }
            None => TokenStream::new(),
        }
    }
}

/// The scope of a macro use: explicit, else enclosing module, else crate-wide, else an error
/// at `at` naming the fixes.
pub fn resolve(
    explicit: Option<ScopeRef>,
    enclosing: Option<ScopeRef>,
    at: Span,
    what: &str,
) -> syn::Result<Resolved> {
    if let Some(scope) = explicit.or(enclosing) {
        return Ok(Resolved {
            scope,
            manifest: None,
        });
    }
    match crate_scope(at)? {
        Some(resolved) => Ok(resolved),
        None => Err(syn::Error::new(
            at,
            format!(
                "{what} has no plugin scope in reach: put it inside a module marked \
                 `#[backstage_plugin(id = \"...\")]` (or `#[backstage_core(id = \"...\")]`), \
                 set a crate-wide scope with `[package.metadata.backstage] pluginId = \"...\"` \
                 in Cargo.toml, or name it here with `plugin = \"...\"`"
            ),
        )),
    }
}

/// The crate-wide scope from `[package.metadata.backstage]` in the crate's Cargo.toml.
pub fn crate_scope(at: Span) -> syn::Result<Option<Resolved>> {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return Ok(None);
    };
    let path = PathBuf::from(dir).join("Cargo.toml");
    let Ok(manifest) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let error = |message: String| syn::Error::new(at, format!("{}: {message}", path.display()));
    let Some((kind, id)) = parse_metadata(&manifest).map_err(error)? else {
        return Ok(None);
    };
    validate_scope_id(kind, &id)
        .map_err(|e| error(format!("[package.metadata.backstage]: {e}")))?;
    Ok(Some(Resolved {
        scope: ScopeRef { kind, id },
        manifest: Some(path),
    }))
}

/// Finds `pluginId = "..."` or `coreServiceId = "..."` in `[package.metadata.backstage]`.
fn parse_metadata(manifest: &str) -> Result<Option<(ScopeKind, String)>, String> {
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let header: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            in_section = header == "[package.metadata.backstage]";
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let kind = match key.trim() {
            "pluginId" => ScopeKind::Plugin,
            "coreServiceId" => ScopeKind::Core,
            _ => continue,
        };
        let value = value.trim();
        let quoted = value
            .strip_prefix('"')
            .and_then(|rest| rest.split_once('"'))
            .filter(|(_, after)| after.trim().is_empty() || after.trim().starts_with('#'));
        return match quoted {
            Some((id, _)) => Ok(Some((kind, id.to_owned()))),
            None => Err(format!(
                "[package.metadata.backstage] {} must be a string in double quotes, e.g. pluginId = \"catalog\"",
                key.trim()
            )),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_metadata_section_only() {
        let manifest = "[package]\nname = \"x\"\npluginId = \"wrong\"\n\n[package.metadata.backstage]\n# the plugin\npluginId = \"catalog\" # comment\n\n[dependencies]\n";
        assert_eq!(
            parse_metadata(manifest).unwrap(),
            Some((ScopeKind::Plugin, "catalog".to_owned()))
        );
        assert_eq!(
            parse_metadata("[package.metadata.backstage]\ncoreServiceId = \"scheduler\"\n")
                .unwrap(),
            Some((ScopeKind::Core, "scheduler".to_owned()))
        );
        assert_eq!(parse_metadata("[package]\nname = \"x\"\n").unwrap(), None);
        assert!(parse_metadata("[package.metadata.backstage]\npluginId = catalog\n").is_err());
    }
}
