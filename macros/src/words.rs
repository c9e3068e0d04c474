//! Words in printed tokens. Reading the text rustc prints for a token stream costs a
//! fraction of reading its tokens one by one in the macro, so a walk first asks the text
//! whether anything it looks for can be there; a word inside a string literal only costs
//! that walk.

/// Whether `word` occurs in `text` as a whole word, followed by what `after` accepts.
pub fn follows_word(text: &str, word: &str, after: impl Fn(&str) -> bool) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let rest = &text[at + word.len()..];
        !text[..at].ends_with(is_word_char) && !rest.starts_with(is_word_char) && after(rest)
    })
}

/// Whether `text` ends with `word`, not as the end of a longer word.
pub fn ends_with_word(text: &str, word: &str) -> bool {
    text.strip_suffix(word)
        .is_some_and(|rest| !rest.ends_with(is_word_char))
}

/// A character that continues an identifier.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}
