//! `#[span]`: parse the options (`attr`), then wrap the function (`expand`).

mod attr;
mod expand;

use proc_macro2::TokenStream;

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: attr::SpanArgs = syn::parse2(args)?;
    expand::expand(args, item)
}
