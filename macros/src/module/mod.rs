//! `#[backstage_plugin(id = "...")]` / `#[backstage_core(id = "...")]` on an inline module.
//!
//! Attribute macros inside the module expand after this one, so the module applies its
//! scope by rewriting their tokens (`walk`): each `#[span]` function and each `metric!` is
//! parsed, checked and expanded in place with the scope, in nested modules and function
//! bodies too, but not inside a nested scoped module (the nearest scope wins); a `#[span]`
//! it cannot expand in place becomes `#[span(.., __scope(plugin = "id"))]`. It checks that one name means one
//! instrument, and adds to the module:
//!
//! ```text
//! use ::backstage_telemetry::__private as __bt;     // the runtime, for every expansion inside
//! static __BT_SCOPE: __bt::ScopeSite = ..;         // the plugin's tracer and meter, shared
//! pub const METRICS: &[MetricInfo] = &[/* name, kind, value type, unit, description */];
//! pub fn register_observables() { /* force the observable statics declared at the top */ }
//! ```
//!
//! Errors never cost the module: it is emitted after them with the scope applied wherever
//! it could be (and when its own arguments are wrong, with the macros inside told to stay
//! quiet about the scope), so the rest of its diagnostics still show.

mod walk;

use backstage_telemetry_naming::ScopeKind;
use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Token};

use crate::args::{Arg, Errors, known};
use crate::metric::{check_duplicates, info, line};
use crate::scope::{Enclosing, Resolved, Source, checked, crate_scope, module_statics};

pub fn expand(kind: ScopeKind, args: TokenStream, item: TokenStream) -> TokenStream {
    let attribute = match kind {
        ScopeKind::Plugin => "#[backstage_plugin]",
        ScopeKind::Core => "#[backstage_core]",
    };
    let mut errors = Errors::default();
    let resolved = scope(kind, attribute, args, &mut errors);
    let Some((head, body)) = module_parts(attribute, item.clone(), &mut errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#errors #item);
    };
    let enclosing = match &resolved {
        Some(resolved) => Enclosing::Scope(resolved.scope.clone()),
        None => Enclosing::Unresolved,
    };
    let mut walk = walk::Walk::new(enclosing, body.stream());
    let content = walk
        .rewrite(body.stream(), walk::Place::Top, &mut errors)
        .unwrap_or_else(|| body.stream());
    check_duplicates(&walk.declared, &mut errors);
    let declarations = declarations(&walk, resolved.as_ref());
    // declared even when the module's id is wrong, so the code inside still type-checks
    let statics = module_statics(
        &resolved.map_or_else(
            || Resolved::placeholder(Source::Unresolved).scope,
            |r| r.scope,
        ),
        walk.spans.len(),
    );
    let errors = errors.into_compile_errors();
    let body = Group::new(
        Delimiter::Brace,
        quote! {
            #statics

            #content

            #declarations
        },
    );
    quote!(#errors #head #body)
}

/// The module's head (attributes, visibility, `mod name`) and its body; `None`, with the
/// error gathered, for anything but a module with its items in place.
fn module_parts(
    attribute: &str,
    item: TokenStream,
    errors: &mut Errors,
) -> Option<(TokenStream, Group)> {
    let module = errors.check(Module::parse(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("{attribute} goes on an inline module: `mod name {{ .. }}`"),
        )
    }))?;
    let Module { head, ident, body } = module;
    if body.is_none() {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "{attribute} needs the module's items in place (`mod {ident} {{ .. }}`); for a \
                 module in its own file, set the crate-wide scope in Cargo.toml: \
                 `[package.metadata.backstage] pluginId = \"...\"`"
            ),
        ));
    }
    Some((head, body?))
}

/// What the module declares after its content: its catalog entry (with the Cargo.toml of
/// a crate-wide scope tracked), `METRICS` and `register_observables`.
fn declarations(walk: &walk::Walk, resolved: Option<&Resolved>) -> TokenStream {
    let infos = walk.declared.iter().map(info);
    let lines: Vec<u32> = walk.declared.iter().map(line).collect();
    let observables = &walk.observables;
    // `init` registers the observable instruments at the top of the module
    let register = if observables.is_empty() {
        quote!(::core::option::Option::None)
    } else {
        quote!(::core::option::Option::Some(register_observables))
    };
    let catalog_entry = resolved.map(|r| {
        crate::catalog::entry(
            &quote!(__bt),
            &r.scope,
            &quote!(METRICS),
            &lines,
            &walk.spans,
            &register,
        )
    });
    let track = resolved.map(Resolved::track);
    quote! {
        #track

        #catalog_entry

        /// The metrics declared in this scope: name, kind, value type, unit, description.
        #[allow(dead_code)]
        pub const METRICS: &[__bt::MetricInfo] = &[#(#infos),*];

        /// Registers the callbacks of the observable instruments declared at the top of
        /// this module (others register on first use).
        #[allow(dead_code)]
        pub fn register_observables() {
            #(__bt::LazyLock::force(&#observables);)*
        }
    }
}

/// The scope the arguments give: `id = "..."`, or nothing for the crate-wide scope of
/// Cargo.toml. `None` (with the errors gathered) if there is none.
fn scope(
    kind: ScopeKind,
    attribute: &str,
    args: TokenStream,
    errors: &mut Errors,
) -> Option<Resolved> {
    let args = errors.check(Arg::parse_all.parse2(args))?;
    let accepts = format!("{attribute} takes `id = \"...\"`");
    if !args.is_empty() {
        // an error was gathered for every option that is not a valid `id`
        let id = known(args, &["id"], &accepts, errors).into_iter().next()?;
        let id = arg_id(&id, kind, errors)?;
        return Some(Resolved {
            scope: id,
            source: Source::Explicit,
        });
    }
    match errors.check(crate_scope(Span::call_site()))? {
        Some(resolved) if resolved.scope.kind() == kind => Some(resolved),
        _ => {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "{attribute} needs `id = \"...\"`, or a crate-wide scope in Cargo.toml: \
                     `[package.metadata.backstage] {} = \"...\"`",
                    match kind {
                        ScopeKind::Plugin => "pluginId",
                        ScopeKind::Core => "coreServiceId",
                    }
                ),
            ));
            None
        }
    }
}

fn arg_id(
    arg: &Arg,
    kind: ScopeKind,
    errors: &mut Errors,
) -> Option<backstage_telemetry_naming::Scope> {
    errors.check(
        arg.lit_str("a string literal, e.g. `id = \"catalog\"`")
            .and_then(|id| checked(kind, &id)),
    )
}

/// A module: its header parsed, its items kept as tokens for the walk.
struct Module {
    /// The tokens before the body, as written: attributes, visibility, `mod name`.
    head: TokenStream,
    ident: Ident,
    /// `None` for `mod name;`.
    body: Option<Group>,
}

impl Module {
    /// Splits the body off before parsing, so syn never buffers the module's items.
    fn parse(item: TokenStream) -> syn::Result<Self> {
        let mut tokens: Vec<TokenTree> = item.into_iter().collect();
        let body = match tokens.pop() {
            Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => Some(body),
            Some(TokenTree::Punct(semi)) if semi.as_char() == ';' => None,
            Some(other) => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected the module's items in braces",
                ));
            }
            None => return Err(syn::Error::new(Span::call_site(), "expected a module")),
        };
        let head: TokenStream = tokens.into_iter().collect();
        let parser = |input: ParseStream| {
            input.call(syn::Attribute::parse_outer)?;
            input.parse::<syn::Visibility>()?;
            input.parse::<Option<Token![unsafe]>>()?;
            input.parse::<Token![mod]>()?;
            input.parse::<Ident>()
        };
        let ident = parser.parse2(head.clone())?;
        Ok(Module { head, ident, body })
    }
}
