//! The token walk of a scoped module: hands the scope down to `#[span]` and `metric!`, and
//! collects the metrics declared.

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, TokenStream, TokenTree};
use quote::quote;

use crate::metric::Declared;
use crate::metric::parse::{Form, MetricInput};
use crate::scope::ScopeRef;

pub struct Walk {
    scope: ScopeRef,
    /// Every metric declared in the scope, in order.
    pub declared: Vec<Declared>,
    /// Observable statics declared at the top of the module.
    pub observables: Vec<Ident>,
}

/// What an attribute is, as far as the walk cares.
enum Attribute {
    Span,
    Scope,
    Other,
}

impl Walk {
    pub fn new(scope: ScopeRef) -> Self {
        Walk {
            scope,
            declared: Vec::new(),
            observables: Vec::new(),
        }
    }

    /// Rewrites `stream`; `top` is true for the module's own items.
    pub fn rewrite(&mut self, stream: TokenStream, top: bool) -> TokenStream {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let mut output = Vec::with_capacity(tokens.len());
        let mut skip_next_body = false;
        let mut i = 0;
        while i < tokens.len() {
            match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
                // #[...]
                (TokenTree::Punct(hash), Some(TokenTree::Group(group)), _)
                    if hash.as_char() == '#' && group.delimiter() == Delimiter::Bracket =>
                {
                    output.push(tokens[i].clone());
                    match classify(group.stream()) {
                        Attribute::Span => output.push(self.scoped_span(group)),
                        Attribute::Scope => {
                            skip_next_body = true;
                            output.push(tokens[i + 1].clone());
                        }
                        Attribute::Other => output.push(tokens[i + 1].clone()),
                    }
                    i += 2;
                }
                // metric!(...) / metric!{...}
                (
                    TokenTree::Ident(ident),
                    Some(TokenTree::Punct(bang)),
                    Some(TokenTree::Group(group)),
                ) if ident == "metric" && bang.as_char() == '!' => {
                    self.collect(group.stream(), top);
                    let hidden = self.scope.hidden_arg();
                    let original = group.stream();
                    let mut rewritten = Group::new(group.delimiter(), quote!(#hidden; #original));
                    rewritten.set_span(group.span());
                    output.extend([
                        tokens[i].clone(),
                        tokens[i + 1].clone(),
                        TokenTree::Group(rewritten),
                    ]);
                    i += 3;
                }
                (TokenTree::Group(group), _, _) => {
                    if skip_next_body && group.delimiter() == Delimiter::Brace {
                        // a nested scoped module: its own attribute hands its scope down
                        skip_next_body = false;
                        output.push(tokens[i].clone());
                    } else {
                        let mut rewritten =
                            Group::new(group.delimiter(), self.rewrite(group.stream(), false));
                        rewritten.set_span(group.span());
                        output.push(TokenTree::Group(rewritten));
                    }
                    i += 1;
                }
                _ => {
                    output.push(tokens[i].clone());
                    i += 1;
                }
            }
        }
        output.into_iter().collect()
    }

    /// `[span]` → `[span(__scope(..))]`, `[span(args)]` → `[span(args, __scope(..))]`.
    fn scoped_span(&self, attribute: &Group) -> TokenTree {
        let hidden = self.scope.hidden_arg();
        let mut tokens: Vec<TokenTree> = attribute.stream().into_iter().collect();
        match tokens.last_mut() {
            Some(TokenTree::Group(args)) if args.delimiter() == Delimiter::Parenthesis => {
                let mut existing: Vec<TokenTree> = args.stream().into_iter().collect();
                if !existing.is_empty()
                    && !matches!(existing.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',')
                {
                    existing.push(TokenTree::Punct(Punct::new(',', Spacing::Alone)));
                }
                let existing: TokenStream = existing.into_iter().collect();
                let mut group = Group::new(Delimiter::Parenthesis, quote!(#existing #hidden));
                group.set_span(args.span());
                *args = group;
            }
            _ => tokens.push(TokenTree::Group(Group::new(Delimiter::Parenthesis, hidden))),
        }
        let mut group = Group::new(Delimiter::Bracket, tokens.into_iter().collect());
        group.set_span(attribute.span());
        TokenTree::Group(group)
    }

    /// Records what a `metric!` declares in this scope (one naming another plugin is not).
    /// Input that does not parse is left for `metric!` itself to report.
    fn collect(&mut self, stream: TokenStream, top: bool) {
        let Ok(input) = syn::parse2::<MetricInput>(stream) else {
            return;
        };
        match input.form {
            Form::Items(items) => {
                for item in items {
                    if item.declaration.plugin.is_some() {
                        continue;
                    }
                    if let Ok(declared) = Declared::new(&item.declaration, &self.scope) {
                        if top && declared.kind.is_observable() {
                            self.observables.push(item.ident.clone());
                        }
                        self.declared.push(declared);
                    }
                }
            }
            Form::Expr(declaration) => {
                if declaration.plugin.is_none()
                    && let Ok(declared) = Declared::new(&declaration, &self.scope)
                {
                    self.declared.push(declared);
                }
            }
        }
    }
}

/// Whether an attribute's content names `span`, a scope attribute, or something else.
fn classify(content: TokenStream) -> Attribute {
    let mut last_ident = None;
    for token in content {
        match token {
            TokenTree::Ident(ident) => last_ident = Some(ident.to_string()),
            TokenTree::Punct(p) if p.as_char() == ':' => {}
            _ => break,
        }
    }
    match last_ident.as_deref() {
        Some("span") => Attribute::Span,
        Some("backstage_plugin" | "backstage_core") => Attribute::Scope,
        _ => Attribute::Other,
    }
}
