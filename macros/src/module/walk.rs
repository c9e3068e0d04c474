//! The token walk of a scoped module: expands each `#[span]` function and each `metric!`
//! in place with the module's scope (one pass; rustc never invokes them), hands the scope
//! to a `#[span]` it cannot expand here (after another attribute macro, on an `impl`
//! block, inside one), and collects the span sites and metrics declared. A macro expanded
//! in place leaves `use its::path as _;` once per level, so the user's import of it stays
//! used. `rewrite` reads one level of tokens; one handler per thing it rewrites
//! (`attribute`, `span_in_place`, `metric`, `group`).
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
use crate::words::{ends_with_word, follows_word, is_word_char};

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
        if names.may_rename(&body.to_string()) {
            names.find_renames(body, false);
        }
        names
    }

    /// Whether the printed tokens hold one of the macros' names followed by `as`: a rename
    /// `name as alias` prints as those words with only whitespace between them, so without
    /// such a pair there is none, and the token walk looking for them is skipped (it reads
    /// the text of every identifier in the module). Any other pair, in a cast, a string or
    /// another import, only costs that walk.
    fn may_rename(&self, text: &str) -> bool {
        let as_next = |rest: &str| {
            rest.trim_start()
                .strip_prefix("as")
                .is_some_and(|rest| !rest.starts_with(is_word_char))
        };
        [&self.span, &self.metric, &self.scope]
            .into_iter()
            .flatten()
            .any(|name| follows_word(text, name, as_next))
    }

    /// Whether printed tokens may hold anything the walk rewrites: an attribute (`#`), a
    /// `metric!` under one of its names, or a nested module (`mod`). Reading the text that
    /// rustc prints costs a fraction of reading every token (most function bodies hold
    /// none of them); a `#` or `!` in a string only costs that read.
    fn may_occur_in(&self, text: &str) -> bool {
        text.contains('#')
            || follows_word(text, "mod", |_| true)
            || text.match_indices('!').any(|(at, _)| {
                let before = text[..at].trim_end();
                self.metric.iter().any(|name| ends_with_word(before, name))
            })
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

/// Where a level of tokens is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The scoped module's own items.
    Top,
    /// Anything inside them.
    Inner,
    /// The body of an `impl` block with `#[span]` on it: a method's own `#[span]` is handed
    /// the scope and left for the block's expansion, where it replaces the block's options.
    SpanBlock,
}

/// One level of tokens (a module's items, a body, any group) as it is rewritten: the
/// tokens read (`tokens`, handed to each handler beside it) and what is written.
struct Level {
    output: Vec<TokenTree>,
    /// Whether anything changed; if not, the caller keeps the tokens it has.
    changed: bool,
    /// What the next brace group is the body of, where that matters.
    next_body: Option<Body>,
    /// The macro paths already kept in a `use` at this level (see `Walk::keep_import`).
    kept: Vec<String>,
}

impl Level {
    fn new(capacity: usize) -> Self {
        Level {
            output: Vec::with_capacity(capacity),
            changed: false,
            next_body: None,
            kept: Vec::new(),
        }
    }

    /// Copies `count` tokens from `at` unchanged; the index after them.
    fn keep(&mut self, tokens: &[TokenTree], at: usize, count: usize) -> usize {
        self.output.extend_from_slice(&tokens[at..at + count]);
        at + count
    }

    /// `#[allow(unused_imports)] use path as _;` the first time `path` is seen at this
    /// level (else nothing): a macro the walk expands in place is not invoked by rustc, and
    /// this keeps the user's import of it used.
    fn keep_import(&mut self, path: &TokenStream) -> TokenStream {
        let key = path.to_string();
        if self.kept.contains(&key) {
            return TokenStream::new();
        }
        self.kept.push(key);
        quote!(#[allow(unused_imports)] use #path as _;)
    }

    /// Takes the path written before the macro name `name` (the `backstage_telemetry::` of
    /// `backstage_telemetry::metric!`) back off the output: the macro's whole path.
    fn take_path(&mut self, name: &Ident) -> TokenStream {
        let mut start = self.output.len();
        while let [.., TokenTree::Punct(first), TokenTree::Punct(second)] = &self.output[..start]
            && first.as_char() == ':'
            && first.spacing() == Spacing::Joint
            && second.as_char() == ':'
        {
            start -= 2;
            match &self.output[..start] {
                [.., TokenTree::Punct(dollar), TokenTree::Ident(krate)]
                    if dollar.as_char() == '$' && krate == "crate" =>
                {
                    start -= 2;
                }
                [.., TokenTree::Ident(segment)] if !is_keyword(segment) => start -= 1,
                // a leading `::`
                _ => break,
            }
        }
        let mut path = self.output.split_off(start);
        path.push(TokenTree::Ident(name.clone()));
        path.into_iter().collect()
    }
}

/// A body the walk treats apart.
#[derive(Clone, Copy)]
enum Body {
    /// Of a nested scoped module, which hands down its own scope: left alone.
    NestedScope,
    /// Of an `impl` block with `#[span]` on it.
    SpanBlock,
}

/// A keyword that can come before a path in an expression (`return ::a::metric!(..)`),
/// and so is not one of its segments.
fn is_keyword(ident: &Ident) -> bool {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "dyn", "else", "if", "impl", "in", "let",
        "loop", "match", "move", "mut", "ref", "return", "static", "unsafe", "where", "while",
        "yield",
    ];
    KEYWORDS.iter().any(|keyword| ident == keyword)
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

    /// Rewrites `stream`, found at `place`. `None` when nothing in
    /// it changed: the caller keeps the tokens it has (rebuilding every group of every body
    /// would cost as much again as reading them).
    pub fn rewrite(
        &mut self,
        stream: TokenStream,
        place: Place,
        errors: &mut Errors,
    ) -> Option<TokenStream> {
        if place != Place::Top && !self.names.may_occur_in(&stream.to_string()) {
            return None;
        }
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let tokens = tokens.as_slice();
        let mut level = Level::new(tokens.len());
        let mut at = 0;
        while at < tokens.len() {
            at = match (&tokens[at], tokens.get(at + 1), tokens.get(at + 2)) {
                // #[...]
                (TokenTree::Punct(hash), Some(TokenTree::Group(group)), _)
                    if hash.as_char() == '#' && group.delimiter() == Delimiter::Bracket =>
                {
                    self.attribute(tokens, &mut level, at, group, place, errors)
                }
                // metric!(...) / metric!{...}
                (
                    TokenTree::Ident(name),
                    Some(TokenTree::Punct(bang)),
                    Some(TokenTree::Group(group)),
                ) if bang.as_char() == '!' && self.names.metric.iter().any(|n| name == n) => {
                    self.metric(tokens, &mut level, at, name, group, place, errors)
                }
                (TokenTree::Group(group), _, _) => {
                    self.group(tokens, &mut level, at, group, errors)
                }
                _ => level.keep(tokens, at, 1),
            };
        }
        level.changed.then(|| level.output.into_iter().collect())
    }

    /// `#[..]` at `at`: a `#[span]` on a function is expanded in place, or handed the scope
    /// where it cannot be; a scoped module's attribute marks its body to be left alone.
    fn attribute(
        &mut self,
        tokens: &[TokenTree],
        level: &mut Level,
        at: usize,
        group: &Group,
        place: Place,
        errors: &mut Errors,
    ) -> usize {
        match self.classify(group.stream()) {
            Attribute::Span => match span_in_place(tokens, at) {
                Some(end) if place != Place::SpanBlock => {
                    self.span_in_place(tokens, level, at, end, group, errors)
                }
                _ => {
                    if on_impl(&tokens[at + 2..]) {
                        level.next_body = Some(Body::SpanBlock);
                    }
                    level.changed = true;
                    level.keep(tokens, at, 1);
                    level.output.push(self.scoped_span(group));
                    at + 2
                }
            },
            Attribute::Scope => {
                level.next_body = Some(Body::NestedScope);
                level.keep(tokens, at, 2)
            }
            Attribute::Other => level.keep(tokens, at, 2),
        }
    }

    /// The function of the `#[span]` at `at`, whose body ends at `end`: its body walked,
    /// then expanded here, in one pass.
    fn span_in_place(
        &mut self,
        tokens: &[TokenTree],
        level: &mut Level,
        at: usize,
        end: usize,
        attribute: &Group,
        errors: &mut Errors,
    ) -> usize {
        level.changed = true;
        let (args, path) = attribute_parts(attribute);
        let mut item: Vec<TokenTree> = tokens[at + 2..=end].to_vec();
        if let Some(TokenTree::Group(body)) = item.last_mut() {
            let walked = self.rewrite(body.stream(), Place::Inner, errors);
            let keep = level.keep_import(&path);
            if walked.is_some() || !keep.is_empty() {
                let stream = after_inner_attributes(walked.unwrap_or_else(|| body.stream()), keep);
                let mut walked = Group::new(Delimiter::Brace, stream);
                walked.set_span(body.span());
                *body = walked;
            }
        }
        let (errors, expanded, descriptor) = span::expand(
            args,
            item.into_iter().collect(),
            Some((&self.enclosing, self.spans.len())),
        );
        level.output.extend(errors);
        level.output.extend(expanded);
        self.spans.extend(descriptor);
        end + 1
    }

    /// The `metric!` at `at`, named `name`: expanded in place with the scope (its import
    /// kept used); when it does not parse, handed the scope for `metric!` itself to report.
    #[allow(clippy::too_many_arguments)]
    fn metric(
        &mut self,
        tokens: &[TokenTree],
        level: &mut Level,
        at: usize,
        name: &Ident,
        group: &Group,
        place: Place,
        errors: &mut Errors,
    ) -> usize {
        level.changed = true;
        let Some(input) = metric::parse_in_module(group.stream()) else {
            let hidden = self.enclosing.hidden_arg();
            let original = group.stream();
            let mut rewritten = Group::new(group.delimiter(), quote!(#hidden; #original));
            rewritten.set_span(group.span());
            level.keep(tokens, at, 2);
            level.output.push(TokenTree::Group(rewritten));
            return at + 3;
        };
        let expanded = metric::expand_input(input, Some(&self.enclosing), errors);
        if place == Place::Top {
            self.observables.extend(expanded.observables);
        }
        self.declared.extend(expanded.declared);
        let path = level.take_path(name);
        let keep = level.keep_import(&path);
        let expansion = expanded.tokens;
        if expanded.expression {
            if keep.is_empty() {
                level.output.extend(expansion);
            } else {
                let mut block = Group::new(Delimiter::Brace, quote!(#keep #expansion));
                block.set_span(group.span());
                level.output.push(TokenTree::Group(block));
            }
            return at + 3;
        }
        level.output.extend(quote!(#keep #expansion));
        // items need no `;` after them (and a module accepts none)
        match tokens.get(at + 3) {
            Some(TokenTree::Punct(semi)) if semi.as_char() == ';' => at + 4,
            _ => at + 3,
        }
    }

    /// A group at `at`: walked, and a nested module's body given the scope's names; the
    /// body of a nested scoped module is left to its own attribute.
    fn group(
        &mut self,
        tokens: &[TokenTree],
        level: &mut Level,
        at: usize,
        group: &Group,
        errors: &mut Errors,
    ) -> usize {
        let mut place = Place::Inner;
        if group.delimiter() == Delimiter::Brace {
            match level.next_body.take() {
                Some(Body::NestedScope) => return level.keep(tokens, at, 1),
                Some(Body::SpanBlock) => place = Place::SpanBlock,
                None => {}
            }
        }
        let mut content = self.rewrite(group.stream(), place, errors);
        if is_module_body(&tokens[..at], group) {
            // a nested module sees the scope's runtime alias and statics
            let items = content.unwrap_or_else(|| group.stream());
            let imports = nested_module_imports();
            content = Some(quote!(#imports #items));
        }
        let Some(content) = content else {
            return level.keep(tokens, at, 1);
        };
        level.changed = true;
        let mut rewritten = Group::new(group.delimiter(), content);
        rewritten.set_span(group.span());
        level.output.push(TokenTree::Group(rewritten));
        at + 1
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

/// Whether the item after an attribute, `item`, is an `impl` block.
fn on_impl(item: &[TokenTree]) -> bool {
    for token in item {
        match token {
            TokenTree::Ident(word) if word == "impl" => return true,
            TokenTree::Ident(word) if word == "fn" => return false,
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => return false,
            TokenTree::Punct(p) if p.as_char() == ';' => return false,
            _ => {}
        }
    }
    false
}

/// `items` with `insert` put after its inner attributes (`#![..]`), which must come first.
fn after_inner_attributes(items: TokenStream, insert: TokenStream) -> TokenStream {
    let mut tokens: Vec<TokenTree> = items.into_iter().collect();
    let at = span::inner_attributes_end(&tokens);
    tokens.splice(at..at, insert);
    tokens.into_iter().collect()
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

#[cfg(test)]
mod tests {
    use super::Names;

    fn names() -> Names {
        Names {
            span: vec!["span".to_owned()],
            metric: vec!["metric".to_owned(), "counted".to_owned()],
            scope: vec!["backstage_plugin".to_owned(), "backstage_core".to_owned()],
        }
    }

    fn may_rename(text: &str) -> bool {
        names().may_rename(text)
    }

    #[test]
    fn a_rename_is_found_in_the_printed_tokens_however_it_is_spaced() {
        assert!(may_rename(
            "use backstage_telemetry :: { span as traced } ;"
        ));
        assert!(may_rename("use backstage_telemetry::span\nas traced;"));
        assert!(may_rename("use x::{metric as m, backstage_core as core};"));
        assert!(!may_rename(
            "let width = height as u64; let spans = 3; fn span() {}"
        ));
        assert!(!may_rename(
            "use x::span_as_well; use y::ispan as other; use z::spans as s;"
        ));
        assert!(!may_rename("use x::span as_;"));
    }

    #[test]
    fn a_body_is_read_token_by_token_only_when_it_may_hold_what_the_walk_rewrites() {
        let names = names();
        assert!(names.may_occur_in("let x = 1; # [span] fn inner() {}"));
        assert!(names.may_occur_in("let c = backstage_telemetry :: metric ! (\"a\");"));
        assert!(names.may_occur_in("let c = counted!(\"a\");"));
        assert!(names.may_occur_in("mod inner { fn f() {} }"));
        assert!(!names.may_occur_in("if x != y { println!(\"{x}\") } let module = 1; nomod();"));
        assert!(!names.may_occur_in("let c = metrics!(1); let d = my_metric!(2);"));
    }
}
