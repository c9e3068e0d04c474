//! `#[span]`: parse the options (`attr`) and the function, check them, then wrap the body
//! (`expand`). On any error the function is emitted unchanged after the errors, so the
//! body's own diagnostics still show and editors keep seeing it.

mod attr;
mod block;
mod expand;

pub use block::{expand as expand_impl, is_impl};

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use syn::parse::Parser;

use crate::args::{Arg, Errors};
use crate::scope::{Enclosing, Resolved, resolve};
use attr::SpanArgs;

/// `#[span(args)]` on `item`: the errors, then the function (wrapped, or as written when
/// there are errors), and, expanded in a scoped module's walk and in its scope, the catalog
/// descriptor of the site for the module to list (elsewhere the function lists itself). `enclosing`: the
/// scoped module expanding it in its own walk, and the site's index among the module's span
/// sites (else a module that passed itself down as a hidden argument, if any).
pub fn expand(
    args: TokenStream,
    item: TokenStream,
    enclosing: Option<(&Enclosing, usize)>,
) -> (TokenStream, TokenStream, Option<crate::catalog::SpanSite>) {
    // a method's own `#[span]` replaces its block's
    let item = block::without_block_attribute(item);
    let mut errors = Errors::default();
    let args = errors
        .check(Arg::parse_all.parse2(args))
        .map(|args| SpanArgs::new(args, &mut errors))
        .map(|mut args| {
            if let Some((enclosing, _)) = enclosing {
                args.enclosing = Some(enclosing.clone());
            }
            args
        });
    let function = errors.check(Function::parse(item.clone()).map_err(|_| {
        syn::Error::new(
            first_ident_span(&item),
            "#[span] goes on a function with a body: a free function, a method, or a trait \
             method with a default body",
        )
    }));
    let expanded = match (args, function) {
        (Some(args), Some(function)) => validate(&args, &function, &mut errors)
            .map(|resolved| expand::expand(&args, &function, &resolved, enclosing.map(|(_, i)| i))),
        _ => None,
    };
    match expanded {
        Some((expanded, descriptor)) if errors.is_empty() => {
            (TokenStream::new(), expanded, descriptor)
        }
        _ => (errors.into_compile_errors(), item, None),
    }
}

/// What can only be checked with the function in hand; the scope it belongs to.
fn validate(args: &SpanArgs, function: &Function, errors: &mut Errors) -> Option<Resolved> {
    if let Some(constness) = function.sig.constness {
        errors.push(syn::Error::new(
            constness,
            "#[span] cannot go on a `const fn`: spans are started at run time; remove `const` \
             or the attribute",
        ));
    }
    resolve(
        args.plugin.clone(),
        args.enclosing.as_ref(),
        function.sig.ident.span(),
        "#[span]",
        errors,
    )
}

/// A function, split into what the expansion needs: read from the tokens, not parsed with
/// syn (the macro runs on every annotated function, unoptimised in a debug build), with the
/// body kept as tokens.
pub struct Function {
    /// The tokens before the body, as written: attributes, visibility and signature.
    pub head: TokenStream,
    pub sig: Signature,
    pub body: Group,
}

/// What the expansion reads from a signature.
pub struct Signature {
    /// The `const` keyword, if any (an error: spans start at run time).
    pub constness: Option<Span>,
    pub asyncness: bool,
    pub ident: Ident,
    /// The return type's tokens; `None` for `-> ()` left out.
    pub output: Option<TokenStream>,
}

impl Function {
    /// `[attributes] [qualifiers] fn name [<generics>] (params) [-> Type] [where ..] { body }`;
    /// anything else is not a function with a body. rustc checks the signature itself.
    fn parse(item: TokenStream) -> Result<Self, ()> {
        let mut tokens: Vec<TokenTree> = item.into_iter().collect();
        let body = match tokens.pop() {
            Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => body,
            _ => return Err(()),
        };
        let sig = Signature::read(&tokens).ok_or(())?;
        Ok(Function {
            head: tokens.into_iter().collect(),
            sig,
            body,
        })
    }
}

impl Signature {
    fn read(tokens: &[TokenTree]) -> Option<Self> {
        let mut rest = tokens.iter();
        let (constness, asyncness) = qualifiers(&mut rest)?;
        let TokenTree::Ident(ident) = rest.next()? else {
            return None;
        };
        skip_generics(&mut rest)?;
        Some(Signature {
            constness,
            asyncness,
            ident: ident.clone(),
            output: return_type(rest.as_slice()),
        })
    }
}

fn is(token: &TokenTree, word: &str) -> bool {
    matches!(token, TokenTree::Ident(i) if i == word)
}

/// Reads the attributes, visibility and qualifiers up to `fn`: the span of `const`, if
/// there, and whether `async` is.
fn qualifiers(rest: &mut std::slice::Iter<'_, TokenTree>) -> Option<(Option<Span>, bool)> {
    let mut constness = None;
    let mut asyncness = false;
    loop {
        match rest.next()? {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                rest.next()?;
            }
            token if is(token, "fn") => return Some((constness, asyncness)),
            token if is(token, "const") => constness = Some(token.span()),
            token if is(token, "async") => asyncness = true,
            _ => {}
        }
    }
}

/// Reads the generics, up to and with the parameters.
fn skip_generics(rest: &mut std::slice::Iter<'_, TokenTree>) -> Option<()> {
    let mut depth = 0usize;
    let mut previous_dash = false;
    loop {
        match rest.next()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis && depth == 0 => {
                return Some(());
            }
            TokenTree::Punct(p) => {
                depth = angle_depth(depth, p.as_char(), previous_dash);
                previous_dash = p.as_char() == '-';
            }
            _ => previous_dash = false,
        }
    }
}

/// The `Type` of `-> Type` at the start of `rest`, up to `where` (or the end).
fn return_type(rest: &[TokenTree]) -> Option<TokenStream> {
    let [TokenTree::Punct(dash), TokenTree::Punct(gt), ty @ ..] = rest else {
        return None;
    };
    if dash.as_char() != '-' || gt.as_char() != '>' {
        return None;
    }
    let mut depth = 0usize;
    let mut previous_dash = false;
    let end = ty
        .iter()
        .position(|token| {
            if depth == 0 && is(token, "where") {
                return true;
            }
            if let TokenTree::Punct(p) = token {
                depth = angle_depth(depth, p.as_char(), previous_dash);
                previous_dash = p.as_char() == '-';
            } else {
                previous_dash = false;
            }
            false
        })
        .unwrap_or(ty.len());
    Some(ty[..end].iter().cloned().collect())
}

/// Where the inner attributes (`#![..]`) that a body's `tokens` start with end.
pub fn inner_attributes_end(tokens: &[TokenTree]) -> usize {
    let mut at = 0;
    while let [
        TokenTree::Punct(hash),
        TokenTree::Punct(bang),
        TokenTree::Group(_),
        ..,
    ] = &tokens[at..]
        && hash.as_char() == '#'
        && bang.as_char() == '!'
    {
        at += 3;
    }
    at
}

/// Nesting of `<..>` after `punct` (the `>` of `->` closes nothing).
fn angle_depth(depth: usize, punct: char, previous_dash: bool) -> usize {
    match punct {
        '<' => depth + 1,
        '>' if !previous_dash => depth.saturating_sub(1),
        _ => depth,
    }
}

fn first_ident_span(item: &TokenStream) -> proc_macro2::Span {
    item.clone()
        .into_iter()
        .find(|t| matches!(t, proc_macro2::TokenTree::Ident(_)))
        .map_or_else(proc_macro2::Span::call_site, |t| t.span())
}
