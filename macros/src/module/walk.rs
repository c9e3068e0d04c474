//! The token walk of a scoped module: hands the scope down to `#[span]`, expands each
//! `metric!` with it, and collects the metrics declared.
//!
//! Macros are recognised by name, before name resolution exists: an attribute whose path
//! ends in `span` and an invocation whose path ends in `metric`, or in a name they are
//! imported under anywhere in the module (`use backstage_telemetry::span as traced;`); the
//! same for `backstage_plugin` / `backstage_core` on nested modules. A `#[span]` the walk
//! cannot see (imported under another name outside the module) gets no scope from it, and
//! says so when it finds none.

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, TokenStream, TokenTree};
use quote::quote;

use crate::args::Errors;
use crate::metric::{self, Metric};
use crate::scope::{Enclosing, nested_module_imports};
use crate::span;

pub struct Walk {
    enclosing: Enclosing,
    names: Names,
    /// Every metric declared in the scope, in order.
    pub declared: Vec<Metric>,
    /// Observable statics declared at the top of the module.
    pub observables: Vec<Ident>,
    /// The catalog descriptors of the `#[span]` sites expanded in the walk.
    pub spans: Vec<crate::catalog::SpanSite>,
}

/// The names the macros go by in this module.
struct Names {
    span: Vec<String>,
    metric: Vec<String>,
    scope: Vec<String>,
}

impl Names {
    fn of(body: TokenStream) -> Self {
        let mut names = Names {
            span: vec!["span".to_owned()],
            metric: vec!["metric".to_owned()],
            scope: vec!["backstage_plugin".to_owned(), "backstage_core".to_owned()],
        };
        names.find_renames(body, false);
        names
    }

    /// Adds `alias` for every `name as alias` in a `use` declaration.
    fn find_renames(&mut self, tokens: TokenStream, in_use: bool) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut in_use = in_use;
        for (i, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Ident(ident) if ident == "use" => in_use = true,
                TokenTree::Punct(p) if p.as_char() == ';' => in_use = false,
                TokenTree::Group(group) => self.find_renames(group.stream(), in_use),
                TokenTree::Ident(name) if in_use => {
                    let (Some(TokenTree::Ident(as_)), Some(TokenTree::Ident(alias))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    else {
                        continue;
                    };
                    if as_ != "as" {
                        continue;
                    }
                    let list = match name.to_string().as_str() {
                        "span" => &mut self.span,
                        "metric" => &mut self.metric,
                        "backstage_plugin" | "backstage_core" => &mut self.scope,
                        _ => continue,
                    };
                    list.push(alias.to_string());
                }
                _ => {}
            }
        }
    }
}

/// What an attribute is, as far as the walk cares.
enum Attribute {
    Span,
    Scope,
    Other,
}

impl Walk {
    pub fn new(enclosing: Enclosing, body: TokenStream) -> Self {
        Walk {
            enclosing,
            names: Names::of(body),
            declared: Vec::new(),
            observables: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Rewrites `stream`; `top` is true for the module's own items. `None` when nothing in
    /// it changed: the caller keeps the tokens it has (rebuilding every group of every body
    /// would cost as much again as reading them).
    pub fn rewrite(
        &mut self,
        stream: TokenStream,
        top: bool,
        errors: &mut Errors,
    ) -> Option<TokenStream> {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let mut changed = false;
        let mut output: Vec<TokenTree> = Vec::with_capacity(tokens.len());
        let mut skip_next_body = false;
        // the `#[span]` paths already left as a marker at this level
        let mut marked: Vec<String> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
                // #[...]
                (TokenTree::Punct(hash), Some(TokenTree::Group(group)), _)
                    if hash.as_char() == '#' && group.delimiter() == Delimiter::Bracket =>
                {
                    let attribute = self.classify(group.stream());
                    if let Some(end) = matches!(attribute, Attribute::Span)
                        .then(|| span_in_place(&tokens, i))
                        .flatten()
                    {
                        // the function, its body walked, expanded here: one pass
                        changed = true;
                        let mut item: Vec<TokenTree> = tokens[i + 2..=end].to_vec();
                        if let Some(TokenTree::Group(body)) = item.last_mut()
                            && let Some(walked) = self.rewrite(body.stream(), false, errors)
                        {
                            let mut walked = Group::new(Delimiter::Brace, walked);
                            walked.set_span(body.span());
                            *body = walked;
                        }
                        let (args, path) = attribute_parts(group);
                        let (errors, expanded, descriptor) = span::expand(
                            args,
                            item.into_iter().collect(),
                            Some((&self.enclosing, self.spans.len())),
                        );
                        output.extend(errors);
                        self.spans.extend(descriptor);
                        // the first function of each name here keeps the attribute as a
                        // marker it passes the function through with, so the import is used
                        let name = path.to_string();
                        if !marked.contains(&name) {
                            marked.push(name);
                            let marker = Ident::new(span::EXPANDED, group.span());
                            let mut attribute =
                                Group::new(Delimiter::Bracket, quote!(#path(#marker)));
                            attribute.set_span(group.span());
                            output.extend([tokens[i].clone(), TokenTree::Group(attribute)]);
                        }
                        output.extend(expanded);
                        i = end + 1;
                        continue;
                    }
                    output.push(tokens[i].clone());
                    match attribute {
                        Attribute::Span => {
                            changed = true;
                            output.push(self.scoped_span(group));
                        }
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
                ) if bang.as_char() == '!' && self.names.metric.iter().any(|n| ident == n) => {
                    changed = true;
                    match metric::parse_in_module(group.stream()) {
                        Some(input) => {
                            let expanded =
                                metric::expand_input(input, Some(&self.enclosing), errors);
                            if top {
                                self.observables.extend(expanded.observables);
                            }
                            self.declared.extend(expanded.declared);
                            // handed back through `metric!` itself, so its import is used
                            // and its path resolves; it passes them through unparsed
                            let hidden = expanded.tokens;
                            let mut rewritten =
                                Group::new(group.delimiter(), quote!(__expanded { #hidden }));
                            rewritten.set_span(group.span());
                            output.extend([
                                tokens[i].clone(),
                                tokens[i + 1].clone(),
                                TokenTree::Group(rewritten),
                            ]);
                        }
                        None => {
                            // left for `metric!` itself to report, with the scope
                            let hidden = self.enclosing.hidden_arg();
                            let original = group.stream();
                            let mut rewritten =
                                Group::new(group.delimiter(), quote!(#hidden; #original));
                            rewritten.set_span(group.span());
                            output.extend([
                                tokens[i].clone(),
                                tokens[i + 1].clone(),
                                TokenTree::Group(rewritten),
                            ]);
                        }
                    }
                    i += 3;
                }
                (TokenTree::Group(group), _, _) => {
                    if skip_next_body && group.delimiter() == Delimiter::Brace {
                        // a nested scoped module: its own attribute hands its scope down
                        skip_next_body = false;
                        output.push(tokens[i].clone());
                    } else {
                        let mut content = self.rewrite(group.stream(), false, errors);
                        if is_module_body(&tokens[..i], group) {
                            // a nested module sees the scope's runtime alias and statics
                            let items = content.unwrap_or_else(|| group.stream());
                            let imports = nested_module_imports();
                            content = Some(quote!(#imports #items));
                        }
                        match content {
                            Some(content) => {
                                changed = true;
                                let mut rewritten = Group::new(group.delimiter(), content);
                                rewritten.set_span(group.span());
                                output.push(TokenTree::Group(rewritten));
                            }
                            None => output.push(tokens[i].clone()),
                        }
                    }
                    i += 1;
                }
                _ => {
                    output.push(tokens[i].clone());
                    i += 1;
                }
            }
        }
        changed.then(|| output.into_iter().collect())
    }

    /// `[span]` → `[span(__scope(..))]`, `[span(args)]` → `[span(args, __scope(..))]`.
    fn scoped_span(&self, attribute: &Group) -> TokenTree {
        let hidden = self.enclosing.hidden_arg();
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

    /// Whether an attribute's path ends in a name of `span`, of a scope attribute, or other.
    fn classify(&self, content: TokenStream) -> Attribute {
        match crate::args::attribute_name(content) {
            Some(name) if self.names.span.contains(&name) => Attribute::Span,
            Some(name) if self.names.scope.contains(&name) => Attribute::Scope,
            _ => Attribute::Other,
        }
    }
}

/// Whether `group` is the body of `mod name`, the tokens before it being `before`.
fn is_module_body(before: &[TokenTree], group: &Group) -> bool {
    group.delimiter() == Delimiter::Brace
        && matches!(
            before,
            [.., TokenTree::Ident(keyword), TokenTree::Ident(_)] if keyword == "mod"
        )
}

/// The arguments and the path of an attribute: `x` and `path` in `#[path(x)]`.
fn attribute_parts(attribute: &Group) -> (TokenStream, TokenStream) {
    let mut tokens: Vec<TokenTree> = attribute.stream().into_iter().collect();
    match tokens.last() {
        Some(TokenTree::Group(args)) if args.delimiter() == Delimiter::Parenthesis => {
            let args = args.stream();
            tokens.pop();
            (args, tokens.into_iter().collect())
        }
        _ => (TokenStream::new(), tokens.into_iter().collect()),
    }
}

/// Whether an attribute is one of rustc's own (not a macro that could rewrite the item).
fn is_builtin(attribute: &Group) -> bool {
    const BUILTIN: &[&str] = &[
        "doc",
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "cfg",
        "inline",
        "cold",
        "must_use",
        "deprecated",
        "track_caller",
        "rustfmt",
        "clippy",
        "diagnostic",
    ];
    match attribute.stream().into_iter().next() {
        Some(TokenTree::Ident(ident)) => BUILTIN.iter().any(|name| ident == name),
        _ => false,
    }
}

/// The index of the body of the function that the `#[span]` at `tokens[at]` is on, when
/// the walk can expand it in place: what rustc would do next anyway, because only
/// built-in attributes (`doc`, `allow`, `cfg`, ..) come before it. Otherwise (another
/// attribute macro first, or not a function with a body) `None`: the attribute is
/// handed the scope and left to rustc.
fn span_in_place(tokens: &[TokenTree], at: usize) -> Option<usize> {
    let mut before = &tokens[..at];
    while let [
        rest @ ..,
        TokenTree::Punct(hash),
        TokenTree::Group(previous),
    ] = before
    {
        if hash.as_char() != '#' || previous.delimiter() != Delimiter::Bracket {
            break;
        }
        if !is_builtin(previous) {
            return None;
        }
        before = rest;
    }
    let mut saw_fn = false;
    for (index, token) in tokens.iter().enumerate().skip(at + 2) {
        match token {
            TokenTree::Ident(ident) if ident == "fn" => saw_fn = true,
            TokenTree::Punct(p) if p.as_char() == ';' => return None,
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                return saw_fn.then_some(index);
            }
            _ => {}
        }
    }
    None
}
