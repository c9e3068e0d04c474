//! `#[span]` on an `impl` block (inherent or trait impl): every method with a body is traced
//! as `#[span]` with the block's options on that method would trace it. A method with a
//! `#[span(..)]` of its own keeps it (its options replace the block's), a `const fn` is left
//! alone, and so are the block's other items (constants, types, macros).
//!
//! ```text
//! #[span(metrics)]                      impl Store {
//! impl Store {                              #[span(metrics)] fn get(&self) -> .. { .. }
//!     fn get(&self) -> .. { .. }    →       #[span(name = "put-entity")] fn put(..) { .. }
//!     #[span(name = "put-entity")]          const fn len(&self) -> usize { .. }
//!     fn put(..) { .. }                 }
//!     const fn len(&self) -> usize { .. }
//! }
//! ```
//!
//! Each method is expanded here, with the block's options; a method's own attribute is left
//! for rustc (or the scoped module's walk) to expand.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use syn::parse::Parser;

use super::attr::SpanArgs;
use crate::args::{Arg, Errors};

/// Whether `item` is an `impl` block: attributes, `unsafe` / `default`, then `impl`, ending
/// in its body.
pub fn is_impl(item: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let mut rest = tokens.iter();
    let ends_in_body = matches!(
        tokens.last(),
        Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace
    );
    loop {
        match rest.next() {
            Some(TokenTree::Punct(hash)) if hash.as_char() == '#' => {
                rest.next();
            }
            Some(TokenTree::Ident(word)) if word == "unsafe" || word == "default" => {}
            Some(TokenTree::Ident(word)) => return word == "impl" && ends_in_body,
            _ => return false,
        }
    }
}

/// `#[span(args)]` on the `impl` block `item`: the block with each method traced, after the
/// errors (each said once, not once per method). With an error in the block's own options
/// the block is emitted as written.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if let Some(parsed) = errors.check(Arg::parse_all.parse2(args.clone())) {
        for arg in &parsed {
            if arg.key == "name" {
                errors.push(syn::Error::new(
                    arg.key.span(),
                    "`name` on an impl block would give every method the same span name: put \
                     `#[span(name = \"..\")]` on the method instead",
                ));
            }
        }
        SpanArgs::new(parsed, &mut errors);
    }
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        return quote::quote!(#errors #item);
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(TokenTree::Group(body)) = tokens.pop() else {
        return tokens.into_iter().collect();
    };
    let mut said = HashSet::new();
    let mut reported = TokenStream::new();
    let mut items = TokenStream::new();
    for member in members(body.stream()) {
        if !is_traced(&member) {
            items.extend(member);
            continue;
        }
        let (errors, expanded, _) = super::expand(args.clone(), member.into_iter().collect(), None);
        // an error of the scope (no plugin in reach) would be the same for every method
        if !errors.is_empty() && said.insert(errors.to_string()) {
            reported.extend(errors);
        }
        items.extend(expanded);
    }
    let mut rebuilt = Group::new(Delimiter::Brace, items);
    rebuilt.set_span(body.span());
    tokens.push(TokenTree::Group(rebuilt));
    let block: TokenStream = tokens.into_iter().collect();
    quote::quote!(#reported #block)
}

/// The members of an impl body, each its tokens: up to a `;`, or to the body of a function
/// or of a macro written with braces.
fn members(body: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut members = Vec::new();
    let mut current: Vec<TokenTree> = Vec::new();
    for token in body {
        let ends = match &token {
            TokenTree::Punct(p) => p.as_char() == ';',
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                function(&current).is_some()
                    || matches!(current.last(), Some(TokenTree::Punct(p)) if p.as_char() == '!')
            }
            _ => false,
        };
        current.push(token);
        if ends {
            members.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        members.push(current);
    }
    members
}

/// Whether `member` is a method the block traces: a function with a body, not `const`,
/// without a `#[span]` of its own.
fn is_traced(member: &[TokenTree]) -> bool {
    let with_body =
        matches!(member.last(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
    with_body && function(member) == Some(Constness::NotConst) && !has_own_span(member)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Constness {
    Const,
    NotConst,
}

/// Whether `tokens` start a function (after attributes, visibility and qualifiers comes
/// `fn`), and whether it is a `const fn`; `None` for any other member (`const NAME: ..`,
/// `type`, a macro).
fn function(tokens: &[TokenTree]) -> Option<Constness> {
    let mut constness = Constness::NotConst;
    let mut rest = tokens.iter().peekable();
    while let Some(token) = rest.next() {
        match token {
            TokenTree::Punct(hash) if hash.as_char() == '#' => {
                rest.next();
            }
            TokenTree::Ident(word) if word == "fn" => return Some(constness),
            TokenTree::Ident(word) if word == "const" => constness = Constness::Const,
            TokenTree::Ident(word) if word == "pub" => {
                // `pub(crate)`, `pub(in path)`
                if matches!(rest.peek(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
                {
                    rest.next();
                }
            }
            TokenTree::Ident(word)
                if word == "async" || word == "unsafe" || word == "default" || word == "extern" => {
            }
            // the ABI of `extern "C" fn`
            TokenTree::Literal(_) => {}
            _ => return None,
        }
    }
    None
}

/// Whether one of `member`'s attributes is a `#[span]` (its path ends in `span`).
fn has_own_span(member: &[TokenTree]) -> bool {
    let mut rest = member.iter();
    while let Some(token) = rest.next() {
        match token {
            TokenTree::Punct(hash) if hash.as_char() == '#' => {
                if let Some(TokenTree::Group(attribute)) = rest.next()
                    && crate::args::attribute_name(attribute.stream()).as_deref() == Some("span")
                {
                    return true;
                }
            }
            _ => return false,
        }
    }
    false
}
