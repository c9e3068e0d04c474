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
//! The block does not expand its methods: it puts its options on each one as an attribute
//! of its own, after the method's attributes (`block_attribute`). rustc expands a method's
//! attributes in order, so a method's own `#[span]`, under whatever name it is imported,
//! expands first and takes the block's off: exactly one span per call. Errors of the block's
//! options and of its scope are said once, here.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use syn::parse::Parser;

use super::attr::SpanArgs;
use crate::args::{Arg, Errors};
use crate::scope::resolve;

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
    let mut model = None;
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
        model = Some(SpanArgs::new(parsed, &mut errors));
    }
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        return quote::quote!(#errors #item);
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(TokenTree::Group(body)) = tokens.pop() else {
        return tokens.into_iter().collect();
    };
    let members = members(body.stream());
    // the scope is the same for every method: an error of it is said once, at the first
    if let Some(model) = &model
        && let Some(at) = members
            .iter()
            .filter(|m| is_traced(m))
            .find_map(|m| fn_name(m))
        && resolve(
            model.plugin.clone(),
            model.enclosing.as_ref(),
            at,
            "#[span]",
            &mut errors,
        )
        .is_none()
    {
        let errors = errors.into_compile_errors();
        tokens.push(TokenTree::Group(body));
        return quote::quote!(#errors #(#tokens)*);
    }
    let marker = block_attribute(&args);
    let mut items = TokenStream::new();
    for member in members {
        if is_traced(&member) {
            items.extend(with_attribute_last(member, &marker));
        } else {
            items.extend(member);
        }
    }
    let mut rebuilt = Group::new(Delimiter::Brace, items);
    rebuilt.set_span(body.span());
    tokens.push(TokenTree::Group(rebuilt));
    tokens.into_iter().collect()
}

/// `#[::backstage_telemetry::span(__block, args)]`: the block's options, put on each method
/// after its own attributes. rustc expands a method's attributes in order, so a `#[span]`
/// of the method's own, under any name it is imported as, comes first and takes this one
/// off (its options replace the block's); else this one traces the method.
fn block_attribute(args: &TokenStream) -> TokenStream {
    let marker = syn::Ident::new(BLOCK, proc_macro2::Span::call_site());
    if args.is_empty() {
        quote::quote!(#[::backstage_telemetry::span(#marker)])
    } else {
        quote::quote!(#[::backstage_telemetry::span(#marker, #args)])
    }
}

/// The hidden option that marks the attribute a block put on a method.
pub const BLOCK: &str = "__block";

/// `member` with `attribute` after its outer attributes, before its visibility.
fn with_attribute_last(member: Vec<TokenTree>, attribute: &TokenStream) -> TokenStream {
    let mut at = 0;
    while let [TokenTree::Punct(hash), TokenTree::Group(_), ..] = &member[at..]
        && hash.as_char() == '#'
    {
        at += 2;
    }
    let mut member = member;
    let rest = member.split_off(at);
    let mut tokens: TokenStream = member.into_iter().collect();
    tokens.extend(attribute.clone());
    tokens.extend(rest);
    tokens
}

/// `item` without the attribute a `#[span]` block put on it ([`block_attribute`]): a
/// method's own `#[span]` takes it off. Only the leading attributes are read, and `item`
/// is returned as it is when none is the block's (every `#[span]` function passes here).
pub fn without_block_attribute(item: TokenStream) -> TokenStream {
    let mut tokens = item.clone().into_iter().peekable();
    let mut attributes = Vec::new();
    let mut found = false;
    while let Some(TokenTree::Punct(hash)) = tokens.peek()
        && hash.as_char() == '#'
    {
        let hash = tokens.next();
        let Some(TokenTree::Group(attribute)) = tokens.next() else {
            return item;
        };
        if is_block_attribute(attribute.stream()) {
            found = true;
        } else {
            attributes.extend(hash);
            attributes.push(TokenTree::Group(attribute));
        }
    }
    if !found {
        return item;
    }
    attributes.into_iter().chain(tokens).collect()
}

/// Whether an attribute's tokens are `..span(__block ..)`.
fn is_block_attribute(attribute: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = attribute.into_iter().collect();
    matches!(
        tokens.as_slice(),
        [.., TokenTree::Ident(name), TokenTree::Group(args)]
            if name == "span"
                && args.delimiter() == Delimiter::Parenthesis
                && matches!(args.stream().into_iter().next(), Some(TokenTree::Ident(first)) if first == BLOCK)
    )
}

/// The name of the function `member` declares, where it is written.
fn fn_name(member: &[TokenTree]) -> Option<proc_macro2::Span> {
    let at = member
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(word) if word == "fn"))?;
    match member.get(at + 1) {
        Some(TokenTree::Ident(name)) => Some(name.span()),
        _ => None,
    }
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

/// Whether `member` is a method the block traces: a function with a body, not `const`.
fn is_traced(member: &[TokenTree]) -> bool {
    let with_body =
        matches!(member.last(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
    with_body && function(member) == Some(Constness::NotConst)
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
