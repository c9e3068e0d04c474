//! The expansion of `#[span]`. For `fn process(entity: &Entity) -> Result<(), E> { body }`
//! in plugin `catalog`:
//!
//! ```text
//! fn process(entity: &Entity) -> Result<(), E> {
//!     static __BT_SPAN: SpanSite = SpanSite::new(Scope::__checked(Plugin, "catalog"), "process");
//!     in_span_sync(
//!         __BT_SPAN.start(|| SpanOptions::new() /* kind, attributes, principal */),
//!         move || { body },
//!         |outcome, span| (&&&&Outcome(outcome)).record_outcome(span), // Err found by type
//!     )
//! }
//! ```
//!
//! An `async fn` awaits `in_span_async(cx, async move { body }, record)`; a function returning
//! `impl Future` from an `async` tail block (or `Box::pin(async move { .. })`, as
//! `#[async_trait]` writes it) gets that block wrapped the same way. Either way the span
//! starts when the future is first polled.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Block, Expr, ReturnType, Stmt};

use super::attr::SpanArgs;
use crate::scope::resolve;

/// A function: its signature parsed, its body kept as tokens (parsing every statement of
/// every function would dominate compile time; only the `async`-tail forms need it).
struct Function {
    attrs: Vec<syn::Attribute>,
    vis: syn::Visibility,
    sig: syn::Signature,
    body: Group,
}

impl syn::parse::Parse for Function {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace || !input.is_empty() {
            return Err(input.error("expected a function body"));
        }
        Ok(Function {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

pub fn expand(args: SpanArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let function: Function = syn::parse2(item.clone()).map_err(|_| {
        syn::Error::new(
            first_token_span(&item),
            "#[span] goes on a function with a body: a free function, a method, or a trait \
             method with a default body",
        )
    })?;
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "#[span] cannot go on a `const fn`: spans are started at run time; remove `const` \
             or the attribute",
        ));
    }
    let resolved = resolve(
        args.plugin.clone(),
        args.enclosing.clone(),
        function.sig.ident.span(),
        "#[span]",
    )?;
    let track = resolved.track();
    let scope = resolved.scope.to_tokens();
    let name = match &args.name {
        Some(name) => name.value(),
        None => function.sig.ident.to_string(),
    };
    let start = start(&args);
    let record = record();
    let site = quote! {
        #track
        static __BT_SPAN: ::backstage_telemetry::__private::SpanSite =
            ::backstage_telemetry::__private::SpanSite::new(#scope, #name);
    };

    let block = &function.body;
    let mut tail_block = (function.sig.asyncness.is_none() && mentions_async(block.stream()))
        .then(|| syn::parse2::<Block>(block.to_token_stream()))
        .transpose()?;
    let body = if function.sig.asyncness.is_some() {
        let future = annotated_async(&function.sig.output, block);
        quote! {
            #site
            let __bt_cx = #start;
            ::backstage_telemetry::__private::in_span_async(__bt_cx, #future, #record).await
        }
    } else if let Some(tail) = tail_block.as_mut().and_then(async_tail) {
        let mut future =
            std::mem::replace(tail, Expr::Verbatim(TokenStream::new())).into_token_stream();
        if let Some(output) = future_output(&function.sig.output) {
            // the block's output, known before its outcome is recorded
            future = quote!(::backstage_telemetry::__private::with_output::<#output, _>(#future));
        }
        // started at first poll, like an `async fn`
        *tail = syn::parse_quote! {
            async move {
                let __bt_cx = #start;
                ::backstage_telemetry::__private::in_span_async(__bt_cx, #future, #record).await
            }
        };
        let stmts = tail_block.as_ref().map(|b| &b.stmts);
        let stmts = stmts.into_iter().flatten();
        quote! {
            #site
            #(#stmts)*
        }
    } else {
        let closure = match written_return_type(&function.sig.output) {
            Some(ty) => quote!(move || -> #ty #block),
            None => quote!(move || #block),
        };
        quote! {
            #site
            ::backstage_telemetry::__private::in_span_sync(#start, #closure, #record)
        }
    };
    // The body's braces keep the user's span, so the item still counts as user code for
    // lints such as `dead_code`.
    let mut body = Group::new(Delimiter::Brace, body);
    body.set_span(function.body.span());
    let Function {
        attrs, vis, sig, ..
    } = &function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig #body
    })
}

/// `__BT_SPAN.start(|| options)`, with the principal's expressions borrowed in a block of
/// their own so nothing borrowed lives across an `.await`.
fn start(args: &SpanArgs) -> TokenStream {
    let kind = args.kind.map(|kind| {
        let variant = kind.variant();
        quote!(.with_kind(::backstage_telemetry::SpanKind::#variant))
    });
    let attributes = args.attributes.iter().map(|attribute| {
        let key = &attribute.key;
        let value = &attribute.value;
        quote!(.with_attribute(::backstage_telemetry::KeyValue::new(#key, #value)))
    });
    let (credentials_let, credentials) = match &args.credentials {
        Some(expr) => (
            quote!(let __bt_credentials = &(#expr);),
            quote!(.with_credentials(::backstage_telemetry::__private::credentials(__bt_credentials))),
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
    quote! {{
        #credentials_let
        #request_let
        __BT_SPAN.start(|| {
            ::backstage_telemetry::SpanOptions::new() #kind #(#attributes)* #credentials #request #link
        })
    }}
}

/// Records the body's outcome through the most specific `Record*` trait for its type.
fn record() -> TokenStream {
    quote! {
        |__bt_outcome, __bt_span| {
            #[allow(unused_imports)]
            use ::backstage_telemetry::__private::{
                RecordDebugError as _, RecordDisplayError as _, RecordNothing as _,
                RecordTypedError as _,
            };
            (&&&&::backstage_telemetry::__private::Outcome(__bt_outcome)).record_outcome(__bt_span)
        }
    }
}

/// `async move { body }`, its output typed as the function's return type where that can be
/// written, so `?` in the body knows what to convert into.
fn annotated_async(output: &ReturnType, block: &Group) -> TokenStream {
    match written_return_type(output) {
        Some(ty) => quote!(async move { ::core::convert::identity::<#ty>(#block) }),
        None => quote!(async move #block),
    }
}

/// The declared return type, if it can be written in an expression (no `impl Trait`).
fn written_return_type(output: &ReturnType) -> Option<&syn::Type> {
    match output {
        ReturnType::Type(_, ty) if !mentions_impl(ty.to_token_stream()) => Some(ty),
        _ => None,
    }
}

/// `X` in a return type such as `impl Future<Output = X> + Send` or
/// `Pin<Box<dyn Future<Output = X> + Send>>`.
fn future_output(output: &ReturnType) -> Option<TokenStream> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let tokens: Vec<TokenTree> = ty.to_token_stream().into_iter().collect();
    let start = tokens.windows(2).position(|pair| {
        matches!(&pair[0], TokenTree::Ident(i) if i == "Output")
            && matches!(&pair[1], TokenTree::Punct(p) if p.as_char() == '=')
    })? + 2;
    let mut depth = 0usize;
    let mut end = start;
    while let Some(token) = tokens.get(end) {
        if let TokenTree::Punct(p) = token {
            let arrow =
                end > 0 && matches!(&tokens[end - 1], TokenTree::Punct(q) if q.as_char() == '-');
            match p.as_char() {
                '<' => depth += 1,
                '>' if !arrow => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => break,
                },
                ',' if depth == 0 => break,
                _ => {}
            }
        }
        end += 1;
    }
    let output: TokenStream = tokens[start..end].iter().cloned().collect();
    (!output.is_empty() && !mentions_impl(output.clone())).then_some(output)
}

/// Whether the body's own tokens (not nested blocks') use `async`.
fn mentions_async(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "async",
        // `Box::pin(async move { .. })`: the call's parentheses
        TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis => {
            mentions_async(group.stream())
        }
        _ => false,
    })
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(group.stream()),
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

fn first_token_span(item: &TokenStream) -> proc_macro2::Span {
    item.clone()
        .into_iter()
        .find(|t| matches!(t, proc_macro2::TokenTree::Ident(_)))
        .map_or_else(proc_macro2::Span::call_site, |t| t.span())
}
