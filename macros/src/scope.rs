//! Which plugin or core service a `#[span]` or `metric!` belongs to.
//!
//! In order of precedence: an explicit `plugin = "id"` option; the nearest enclosing
//! `#[backstage_plugin]` / `#[backstage_core]` module, which passes itself down as a hidden
//! `__scope(plugin = "id")` argument (`__scope(unresolved)` when its own arguments were
//! wrong, so the macros inside stay quiet about it); the crate-wide
//! `[package.metadata.backstage]` of the crate's Cargo.toml (`pluginId = "id"` or
//! `coreServiceId = "id"`), the Rust counterpart of the `backstage.pluginId` of a Backstage
//! package.json.

use std::path::PathBuf;

use backstage_telemetry_naming::{Scope, ScopeKind};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, LitStr};

use crate::args::{Arg, Errors};

/// `id` checked as a scope of `kind`, errors pointing at `lit`.
pub fn checked(kind: ScopeKind, lit: &LitStr) -> syn::Result<Scope> {
    Scope::new(kind, lit.value()).map_err(|e| syn::Error::new(lit.span(), e.short_message()))
}

/// `plugin = "id"` on a macro: the scope it names. A wrong one is reported and the
/// placeholder stands in, so the macro does not look for a scope elsewhere.
pub fn explicit_plugin(arg: &Arg, errors: &mut Errors) -> Scope {
    errors
        .check(
            arg.lit_str("a string literal, e.g. `plugin = \"catalog\"`")
                .and_then(|id| checked(ScopeKind::Plugin, &id)),
        )
        .unwrap_or_else(placeholder_scope)
}

/// The scope of a use whose own could not be resolved (an error was reported).
fn placeholder_scope() -> Scope {
    Scope::__checked(ScopeKind::Plugin, "unresolved")
}

/// The path of the runtime's expansion support, in full.
fn runtime_path() -> TokenStream {
    quote!(::backstage_telemetry::__private)
}

/// `static __BT_SCOPE: ScopeSite = ..`: the tracer and meter of `scope`, named `runtime`.
/// `Plugin` or `Core`: the variant of the runtime's `ScopeKind` for `scope`.
pub fn kind_variant(scope: &Scope) -> TokenStream {
    match scope.kind() {
        ScopeKind::Plugin => quote!(Plugin),
        ScopeKind::Core => quote!(Core),
    }
}

fn declare_site(runtime: &TokenStream, scope: &Scope, spans: usize) -> TokenStream {
    let id = scope.id();
    let kind = kind_variant(scope);
    // the meter a static of its own: `metric!` initialisers name it whole (a call or a field
    // of `__BT_SCOPE` there costs more to compile, measured)
    let meter = quote! {
        #[allow(dead_code)]
        static __BT_METER: #runtime::MeterScope =
            #runtime::MeterScope::installed(#runtime::Scope::__checked(#runtime::ScopeKind::#kind, #id));
    };
    if spans == 0 {
        return quote! {
            #meter
            #[allow(dead_code)]
            static __BT_SCOPE: #runtime::ScopeSite =
                #runtime::ScopeSite::new(#runtime::ScopeKind::#kind, #id, &__BT_METER, &[]);
        };
    }
    // where each span site keeps its span-metrics series: one array, which the sites
    // index with a literal (a reference to an element each costs more to compile)
    quote! {
        #meter
        #[allow(dead_code)]
        static __BT_SITES: [#runtime::SiteMetrics; #spans] =
            [const { #runtime::SiteMetrics::new() }; #spans];
        #[allow(dead_code)]
        static __BT_SCOPE: #runtime::ScopeSite =
            #runtime::ScopeSite::new(#runtime::ScopeKind::#kind, #id, &__BT_METER, &__BT_SITES);
    }
}

/// What a scoped module adds once, for every expansion inside it: the alias `__bt` of the
/// runtime, the trait `record_outcome!(in_scope ..)` dispatches with, and the shared
/// `__BT_SCOPE`, with room for the span metrics of its `spans` span sites.
pub fn module_statics(scope: &Scope, spans: usize) -> TokenStream {
    let runtime = runtime_path();
    let site = declare_site(&quote!(__bt), scope, spans);
    quote! {
        #[allow(unused_imports)]
        use #runtime as __bt;
        #[allow(unused_imports)]
        use __bt::RecordOutcome as _;
        #site
    }
}

/// The same names, imported by a module nested in a scoped one.
pub fn nested_module_imports() -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use super::{__bt, __BT_METER, __BT_SCOPE};
        #[allow(unused_imports)]
        use __bt::RecordOutcome as _;
    }
}

/// What an enclosing scoped module hands down.
#[derive(Clone)]
pub enum Enclosing {
    Scope(Scope),
    /// The module's own arguments were wrong; that error is reported once, by the module.
    Unresolved,
}

impl Enclosing {
    /// The hidden argument a scoped module adds to the macros inside it.
    pub fn hidden_arg(&self) -> TokenStream {
        match self {
            Enclosing::Scope(scope) => {
                let key = Ident::new(scope.kind().segment(), Span::call_site());
                let id = scope.id();
                quote!(__scope(#key = #id))
            }
            Enclosing::Unresolved => quote!(__scope(unresolved)),
        }
    }

    /// Reads a hidden `__scope(..)` argument.
    pub fn from_arg(arg: &Arg) -> syn::Result<Self> {
        let content = arg.list("a scope")?;
        let inner: Arg = syn::parse2(content)?;
        Ok(match inner.name().as_str() {
            "unresolved" => Enclosing::Unresolved,
            "core" => Enclosing::Scope(checked(ScopeKind::Core, &inner.lit_str("an id")?)?),
            _ => Enclosing::Scope(checked(ScopeKind::Plugin, &inner.lit_str("an id")?)?),
        })
    }
}

/// A resolved scope, and where it came from.
pub struct Resolved {
    pub scope: Scope,
    pub source: Source,
}

/// Where a macro use's scope came from; it decides how the expansion reaches the runtime,
/// whether it declares its own site and catalog entry, and whether a module lists it.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// Named on the macro itself (`plugin = "id"`, a module's `id = "..."`), or the
    /// placeholder of a wrong `plugin = ..` (reported; the macro does not look past it).
    Explicit,
    /// Handed down by the enclosing scoped module, whose `__bt` and `__BT_SCOPE` are in
    /// reach and which lists the use in its catalog entry.
    Module,
    /// `[package.metadata.backstage]` of this Cargo.toml (the crate rebuilds when it
    /// changes).
    Manifest(PathBuf),
    /// None could be resolved and an error was reported: the expansion still type-checks,
    /// so the user's other errors show.
    Unresolved,
}

impl Resolved {
    /// The scope of a use whose scope could not be resolved (an error was reported).
    pub fn placeholder(source: Source) -> Self {
        Resolved {
            scope: placeholder_scope(),
            source,
        }
    }

    /// Whether the enclosing scoped module declares this use's site and lists it.
    pub fn in_module(&self) -> bool {
        self.source == Source::Module
    }

    /// How the expansion names the runtime: the module's alias `__bt`, or the full path.
    pub fn runtime(&self) -> TokenStream {
        if self.in_module() {
            quote!(__bt)
        } else {
            runtime_path()
        }
    }

    /// The items an expansion puts before its code so that `__BT_SCOPE` names its scope's
    /// site: none for a `metric!` in a scoped module (it declares one for all); elsewhere
    /// its own. A `#[span]` (`spans`: 1) not expanded in a scoped module's walk always has
    /// its own: the module's has room only for the span metrics of the sites it expanded.
    pub fn site(&self, spans: usize) -> TokenStream {
        if self.in_module() && spans == 0 {
            return TokenStream::new();
        }
        let track = self.track();
        let site = declare_site(&self.runtime(), &self.scope, spans);
        quote!(#track #site)
    }

    /// Makes the crate depend on the Cargo.toml its scope came from.
    pub fn track(&self) -> TokenStream {
        match &self.source {
            Source::Manifest(path) => {
                let path = path.display().to_string();
                quote!(
                    const _: &[u8] = ::core::include_bytes!(#path);
                )
            }
            _ => TokenStream::new(),
        }
    }
}

/// The scope of a macro use: explicit, else enclosing module, else crate-wide. `None` when
/// there is none (an error naming the fixes is gathered, pointing at `at`) or when the
/// enclosing module's was wrong (already reported).
pub fn resolve(
    explicit: Option<Scope>,
    enclosing: Option<&Enclosing>,
    at: Span,
    what: &str,
    errors: &mut Errors,
) -> Option<Resolved> {
    let resolved = |scope, source| Resolved { scope, source };
    match (explicit, enclosing) {
        (Some(scope), _) => return Some(resolved(scope, Source::Explicit)),
        (None, Some(Enclosing::Scope(scope))) => {
            return Some(resolved(scope.clone(), Source::Module));
        }
        (None, Some(Enclosing::Unresolved)) => return None,
        (None, None) => {}
    }
    match crate_scope(at) {
        Ok(Some(resolved)) => Some(resolved),
        Ok(None) => {
            errors.push(syn::Error::new(
                at,
                format!(
                    "{what} has no plugin scope in reach: put it inside a module marked \
                     `#[backstage_plugin(id = \"...\")]` (or `#[backstage_core(id = \"...\")]`), \
                     set a crate-wide scope with `[package.metadata.backstage] pluginId = \"...\"` \
                     in Cargo.toml, or name it here with `plugin = \"...\"` (a scoped module \
                     reaches the `#[span]` and `metric!` written inside it, also under a name \
                     imported there with `use backstage_telemetry::span as name;`)"
                ),
            ));
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
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
    let scope =
        Scope::new(kind, id).map_err(|e| error(format!("[package.metadata.backstage]: {e}")))?;
    Ok(Some(Resolved {
        scope,
        source: Source::Manifest(path),
    }))
}

/// `pluginId` or `coreServiceId` of `[package.metadata.backstage]`, however the TOML writes
/// it (a section, dotted keys, an inline table).
fn parse_metadata(manifest: &str) -> Result<Option<(ScopeKind, String)>, String> {
    use toml::de::{DeTable, DeValue};
    /// `table[key]`
    fn field<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeValue<'i>> {
        table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v.get_ref())
    }
    /// `table[key]` when `table` is a table
    fn section<'a, 'i>(table: Option<&'a DeValue<'i>>, key: &str) -> Option<&'a DeValue<'i>> {
        match table {
            Some(DeValue::Table(table)) => field(table, key),
            _ => None,
        }
    }
    let table = DeTable::parse(manifest)
        .map_err(|_| "is not valid TOML (run `cargo metadata` to see why)".to_owned())?;
    let table = table.get_ref();
    let package = field(table, "package");
    let Some(metadata) = section(section(package, "metadata"), "backstage") else {
        return Ok(None);
    };
    let DeValue::Table(metadata) = metadata else {
        return Err("[package.metadata.backstage] must be a table, e.g. \
                    `[package.metadata.backstage]` then `pluginId = \"catalog\"`"
            .to_owned());
    };
    let string = |key: &str| match field(metadata, key) {
        None => Ok(None),
        Some(DeValue::String(id)) => Ok(Some(id.to_string())),
        Some(_) => Err(format!(
            "[package.metadata.backstage] {key} must be a string, e.g. {key} = \"catalog\""
        )),
    };
    match (string("pluginId")?, string("coreServiceId")?) {
        (Some(_), Some(_)) => Err("[package.metadata.backstage] sets both pluginId and \
                                   coreServiceId: a crate belongs to one scope, keep one"
            .to_owned()),
        (Some(id), None) => Ok(Some((ScopeKind::Plugin, id))),
        (None, Some(id)) => Ok(Some((ScopeKind::Core, id))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_metadata_table_however_written() {
        let section = "[package]\nname = \"x\"\npluginId = \"wrong\"\n\n[package.metadata.backstage]\n# the plugin\npluginId = \"catalog\" # comment\n\n[dependencies]\n";
        let dotted = "[package]\nname = \"x\"\nmetadata.backstage.pluginId = \"catalog\"\n";
        let inline = "[package.metadata]\nbackstage = { pluginId = \"catalog\" }\n";
        for manifest in [section, dotted, inline] {
            assert_eq!(
                parse_metadata(manifest).unwrap(),
                Some((ScopeKind::Plugin, "catalog".to_owned())),
                "{manifest}"
            );
        }
        assert_eq!(
            parse_metadata("[package.metadata.backstage]\ncoreServiceId = \"scheduler\"\n")
                .unwrap(),
            Some((ScopeKind::Core, "scheduler".to_owned()))
        );
        assert_eq!(parse_metadata("[package]\nname = \"x\"\n").unwrap(), None);
    }

    #[test]
    fn rejects_what_is_not_one_string_id_without_echoing_it() {
        for manifest in [
            "[package.metadata.backstage]\npluginId = catalog-secret\n",
            "[package.metadata.backstage]\npluginId = 7\n",
            "[package.metadata]\nbackstage = \"catalog-secret\"\n",
            "[package.metadata.backstage]\npluginId = \"a\"\ncoreServiceId = \"b\"\n",
        ] {
            let error = parse_metadata(manifest).unwrap_err();
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
