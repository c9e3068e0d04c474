//! The expansion of `#[span]`. For `fn process(entity: &Entity) -> Result<(), E> { body }`
//! in plugin `catalog`:
//!
//! ```text
//! fn process(entity: &Entity) -> Result<(), E> {
//!     __bt::in_span_sync(
//!         // 3: the site's index among the module's span sites (where its span metrics are
//!         // kept, if it is timed); `true` with `#[span(metrics)]`; what the span starts
//!         // with: `Plain`, `Attributes(kind, |scope| [scope, ..])` or
//!         // `Options(kind, || SpanOptions::new()..)`, evaluated only if a span starts
//!         __BT_SCOPE.start(3, false, "process", __bt::Plain),
//!         move || -> Result<(), E> { body },
//!         __bt::record_outcome!(Result<(), E>), // an `Err` found by type is recorded
//!     )
//! }
//! ```
//!
//! `__bt` (the runtime's `__private`) and `__BT_SCOPE` (the plugin's tracer, with room for
//! the span metrics of each `#[span]` of the module) are declared once by the enclosing
//! `#[backstage_plugin]` module; outside one (or when another attribute macro ran first),
//! the expansion starts with its own `static __BT_SCOPE` (site 0) and, outside one, names
//! the runtime in full (`Resolved::site`).
//!
//! An `async fn` awaits `in_span_async(cx, async move { body }, record)`; a function returning
//! `impl Future` from an `async` tail block (or `Box::pin(async move { .. })`, as
//! `#[async_trait]` writes it) gets that block wrapped the same way. Either way the span
//! starts when the future is first polled.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Block, Expr, GenericArgument, PathArguments, Stmt, Type, TypeParamBound};

use super::Function;
use super::attr::{self, SpanArgs};
use crate::scope::Resolved;

/// The function wrapped, and the catalog descriptor of its site when the module expanding it
/// lists it. `in_walk`: the site's index among the span sites of the scoped module whose
/// walk expands it, which lists it in the catalog and has room for its span metrics when
/// the site shares the module's scope; otherwise the body does both itself.
pub fn expand(
    args: &SpanArgs,
    function: &Function,
    resolved: &Resolved,
    in_walk: Option<usize>,
) -> (TokenStream, Option<crate::catalog::SpanSite>) {
    let rt = &resolved.runtime();
    let name = match &args.name {
        Some(name) => name.value(),
        None => function.sig.ident.to_string(),
    };
    let (site, index, listed) = declare(args, function, resolved, in_walk, &name);
    let call = Call {
        rt,
        start: start(rt, &name, args, index),
        in_module: resolved.in_module(),
        output: function.sig.output.as_ref(),
        returns: function.sig.output.as_ref().filter(|ty| !mentions_impl(ty)),
    };
    // inner attributes (`#![allow(..)]`) stay on the function's body: a closure's or an
    // async block's body cannot have them
    let (inner, block) = split_inner_attributes(&function.body);
    let body = if function.sig.asyncness {
        call.async_fn(&block)
    } else {
        call.sync_fn(&block)
    };
    // The body's braces keep the user's span, so the item still counts as user code for
    // lints such as `dead_code`.
    let mut body = Group::new(Delimiter::Brace, quote!(#inner #site #body));
    body.set_span(function.body.span());
    let head = &function.head;
    (quote!(#head #body), listed)
}

/// What declares the site: nothing when it shares its module's scope site (its span
/// metrics at its index there, the module listing it: its descriptor is returned), else a
/// scope site of its own, with room for itself only, and its own catalog entry (its own
/// `plugin = ..`, or not expanded in a module's walk).
fn declare(
    args: &SpanArgs,
    function: &Function,
    resolved: &Resolved,
    in_walk: Option<usize>,
    name: &str,
) -> (TokenStream, usize, Option<crate::catalog::SpanSite>) {
    let descriptor = crate::catalog::SpanSite {
        name: name.to_owned(),
        line: crate::catalog::line(function.sig.ident.span()),
        kind: args.kind.unwrap_or_default(),
        metrics: args.metrics,
    };
    match in_walk {
        Some(index) if resolved.in_module() => (TokenStream::new(), index, Some(descriptor)),
        _ => {
            let site = resolved.site(1);
            let entry = crate::catalog::entry(
                &resolved.runtime(),
                &resolved.scope,
                &quote!(&[]),
                &[],
                std::slice::from_ref(&descriptor),
                &quote!(::core::option::Option::None),
            );
            (quote!(#site #entry), 0, None)
        }
    }
}

/// How a body is run in its span: the runtime's path, the span's start, whether the site
/// is in a scoped module (how its outcome recorder is named), the declared return type and
/// the one the body's closure or block is annotated with (`returns`: the same, unless it
/// mentions `impl`, which cannot be written there).
struct Call<'a> {
    rt: &'a TokenStream,
    start: TokenStream,
    in_module: bool,
    output: Option<&'a TokenStream>,
    returns: Option<&'a TokenStream>,
}

impl Call<'_> {
    /// An `async fn`'s body: its future run in the span, started at first poll.
    fn async_fn(&self, block: &Group) -> TokenStream {
        let Call { rt, start, .. } = self;
        let record = record(rt, self.in_module, self.output.is_some(), self.returns);
        let future = annotated_async(self.returns, block);
        quote! {
            let __bt_cx = #start;
            #rt::in_span_async(__bt_cx, #future, #record).await
        }
    }

    /// A sync function's body: a closure run in the span, or, when the body ends in an
    /// `async` block (a function returning `impl Future`), that block's future run in it.
    fn sync_fn(&self, block: &Group) -> TokenStream {
        let tail_block = mentions_async(tail(block.stream()))
            .then(|| syn::parse2::<Block>(block.to_token_stream()).ok())
            .flatten();
        if let Some(mut tail_block) = tail_block
            && let Some(tail) = async_tail(&mut tail_block)
        {
            self.async_tail(tail);
            let stmts = &tail_block.stmts;
            return quote!(#(#stmts)*);
        }
        let Call { rt, start, .. } = self;
        let record = record(rt, self.in_module, self.output.is_some(), self.returns);
        let closure = match self.returns {
            Some(ty) => quote!(move || -> #ty #block),
            None => quote!(move || #block),
        };
        quote!(#rt::in_span_sync(#start, #closure, #record))
    }

    /// Replaces the body's tail `async` block with one that runs it in the span, started at
    /// first poll, like an `async fn`.
    fn async_tail(&self, tail: &mut Expr) {
        let Call { rt, start, .. } = self;
        let mut future =
            std::mem::replace(tail, Expr::Verbatim(TokenStream::new())).into_token_stream();
        let output = self.output.and_then(future_output);
        let record = record(rt, self.in_module, true, output.as_ref());
        if let Some(output) = &output {
            // the block's output, known before its outcome is recorded
            future = quote!(#rt::with_output::<#output, _>(#future));
        }
        *tail = syn::parse_quote! {
            async move {
                let __bt_cx = #start;
                #rt::in_span_async(__bt_cx, #future, #record).await
            }
        };
    }
}

/// The inner attributes a body starts with, and the body without them.
fn split_inner_attributes(body: &Group) -> (TokenStream, Group) {
    // most bodies have none: one token read to know
    if !matches!(body.stream().into_iter().next(), Some(TokenTree::Punct(p)) if p.as_char() == '#')
    {
        return (TokenStream::new(), body.clone());
    }
    let tokens: Vec<TokenTree> = body.stream().into_iter().collect();
    let at = super::inner_attributes_end(&tokens);
    if at == 0 {
        return (TokenStream::new(), body.clone());
    }
    let mut rest = Group::new(Delimiter::Brace, tokens[at..].iter().cloned().collect());
    rest.set_span(body.span());
    (tokens[..at].iter().cloned().collect(), rest)
}

/// How the outcome is recorded: not at all without a return type; by the function the
/// runtime picks for `output` where that type can be written (no closure of our own to
/// compile); else by a closure that picks it from the value.
fn record(
    rt: &TokenStream,
    in_module: bool,
    returns: bool,
    output: Option<&TokenStream>,
) -> TokenStream {
    match (returns, output) {
        (false, _) => quote!(|_, _| #rt::None),
        // in a scoped module, which imports the dispatch trait once for all its functions
        (true, Some(output)) if in_module => quote!(#rt::record_outcome!(in_scope #output)),
        (true, Some(output)) => quote!(#rt::record_outcome!(#output)),
        (true, None) => quote!(#rt::record_outcome!()),
    }
}

/// `__BT_SCOPE.start(site, metrics, name, init)`: with the principal's expressions borrowed
/// in a block of their own so nothing borrowed lives across an `.await`.
fn start(rt: &TokenStream, name: &str, args: &SpanArgs, site: usize) -> TokenStream {
    let metrics = args.metrics;
    let start = |init: TokenStream| quote!(__BT_SCOPE.start(#site, #metrics, #name, #init));
    let with_options = args.credentials.is_some() || args.request.is_some() || args.link.is_some();
    if args.kind.is_none() && args.attributes.is_empty() && !with_options {
        return start(quote!(#rt::Plain));
    }
    let kind = attr::variant(args.kind.unwrap_or_default());
    let kind = quote!(#rt::SpanKind::#kind);
    let attributes = args.attributes.iter().map(|attribute| {
        let key = &attribute.key;
        let value = &attribute.value;
        match value {
            // a literal as it is: a string literal is recorded without a copy
            Expr::Lit(_) => quote!(#rt::KeyValue::new(#key, #value)),
            // owned or borrowed, converted when the span starts; a value of another type
            // is reported at the expression
            _ => {
                let convert = quote_spanned!(value.span()=> #rt::attribute_value(#value));
                quote!(#rt::KeyValue::new(#key, #convert))
            }
        }
    });
    if !with_options {
        // every attribute, made only when a span is started (one exactly sized vector)
        return start(quote!(#rt::Attributes(#kind, |__bt_scope| [__bt_scope, #(#attributes),*])));
    }
    let attributes = attributes.map(|attribute| quote!(.with_attribute(#attribute)));
    let (credentials_let, credentials) = match &args.credentials {
        Some(expr) => (
            quote!(let __bt_credentials = &(#expr);),
            quote!(.with_credentials(#rt::credentials(__bt_credentials))),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    let (request_let, request) = match &args.request {
        Some(expr) => (
            quote!(let __bt_request = &(#expr);),
            quote!(.with_request(__bt_request)),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    // evaluated only when a span is started, like the attributes
    let link = args.link.as_ref().map(|expr| quote!(.with_link(#expr)));
    let start = start(quote! {
        #rt::Options(#kind, || #rt::SpanOptions::new() #(#attributes)* #credentials #request #link)
    });
    quote! {{
        #credentials_let
        #request_let
        #start
    }}
}

/// `async move { body }`, its output typed as the function's return type where that can be
/// written, so `?` in the body knows what to convert into.
fn annotated_async(returns: Option<&TokenStream>, block: &Group) -> TokenStream {
    match returns {
        Some(ty) => quote!(async move { ::core::convert::identity::<#ty>(#block) }),
        None => quote!(async move #block),
    }
}

/// Whether a return type has an `impl Trait` anywhere in it (it cannot be written in a body).
fn mentions_impl(ty: &TokenStream) -> bool {
    crate::words::follows_word(&ty.to_string(), "impl", |_| true)
}

/// `X` in a return type such as `impl Future<Output = X> + Send` or
/// `Pin<Box<dyn Future<Output = X> + Send>>`, if it can be written (the one place the
/// return type is parsed).
fn future_output(output: &TokenStream) -> Option<TokenStream> {
    let ty: Type = syn::parse2(output.clone()).ok()?;
    let output = output_of(&ty)?.to_token_stream();
    (!mentions_impl(&output)).then_some(output)
}

fn output_of(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(t) => bounds_output(&t.bounds),
        Type::TraitObject(t) => bounds_output(&t.bounds),
        Type::Paren(t) => output_of(&t.elem),
        Type::Group(t) => output_of(&t.elem),
        // `Pin<Box<..>>`
        Type::Path(path) => generic_types(&path.path).find_map(output_of),
        _ => None,
    }
}

fn bounds_output<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
    bounds.into_iter().find_map(|bound| match bound {
        TypeParamBound::Trait(bound) => {
            let last = bound.path.segments.last()?;
            let PathArguments::AngleBracketed(arguments) = &last.arguments else {
                return None;
            };
            arguments.args.iter().find_map(|argument| match argument {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                _ => None,
            })
        }
        _ => None,
    })
}

/// The types among the generic arguments of a path's segments.
fn generic_types(path: &syn::Path) -> impl Iterator<Item = &Type> {
    path.segments
        .iter()
        .filter_map(|segment| match &segment.arguments {
            PathArguments::AngleBracketed(arguments) => Some(arguments.args.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            GenericArgument::AssocType(assoc) => Some(&assoc.ty),
            _ => None,
        })
}

/// The tokens of a body after its last statement ending in `;`: its tail expression, with
/// any statements before it that end in a block.
fn tail(body: TokenStream) -> Vec<TokenTree> {
    let mut tokens: Vec<TokenTree> = body.into_iter().collect();
    if let Some(end) = tokens
        .iter()
        .rposition(|token| matches!(token, TokenTree::Punct(p) if p.as_char() == ';'))
    {
        tokens.drain(..=end);
    }
    tokens
}

/// Whether the body's own tokens (not nested blocks') use `async`.
fn mentions_async(tokens: impl IntoIterator<Item = TokenTree>) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "async",
        // `Box::pin(async move { .. })`: the call's parentheses
        proc_macro2::TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis => {
            mentions_async(group.stream())
        }
        _ => false,
    })
}

/// The tail expression to wrap in a function that is not `async` but returns a future: an
/// `async` block, or `Box::pin(async ..)`'s argument.
fn async_tail(block: &mut Block) -> Option<&mut Expr> {
    let Some(Stmt::Expr(tail, None)) = block.stmts.last_mut() else {
        return None;
    };
    match tail {
        Expr::Async(_) => Some(tail),
        Expr::Call(call) if is_box_pin(&call.func) && call.args.len() == 1 => {
            match call.args.first_mut() {
                Some(argument @ Expr::Async(_)) => Some(argument),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.ends_with(&["Box".to_owned(), "pin".to_owned()])
}
