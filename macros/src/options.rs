//! What the option parsers of the macros share.

use syn::Ident;

/// The options given so far; a second `name = ..` is an error at the second one.
#[derive(Default)]
pub struct Seen(Vec<String>);

impl Seen {
    /// The option's name, or an error if it was given before.
    pub fn first_time(&mut self, option: &Ident) -> syn::Result<String> {
        let key = option.to_string();
        if self.0.contains(&key) {
            return Err(syn::Error::new(
                option.span(),
                format!("duplicate option `{key}`: give it once"),
            ));
        }
        self.0.push(key.clone());
        Ok(key)
    }
}
