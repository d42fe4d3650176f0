//! `#[db_test]`: a test that gets a fresh, migrated PostgreSQL database as its `PgPool`.
//!
//! It replaces `#[sqlx::test]`, whose server must be named by `DATABASE_URL`: this one finds
//! the server as the `partyedu` binary does, starting a private cluster when none answers, so the
//! tests need nothing configured. Usage: `#[db_test(migrator = "partyedu_store::MIGRATOR")]` or
//! `#[db_test(migrations = false)]` on an `async fn name(pool: PgPool)`.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token, parse_macro_input};

#[proc_macro_attribute]
pub fn db_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut test = parse_macro_input!(item as ItemFn);
    let migrator = match migrator(args.into()) {
        Ok(migrator) => migrator,
        Err(err) => return err.to_compile_error().into(),
    };
    // The outer `#[test]` carries the attributes (`#[ignore]`, docs); the inner body none.
    let attrs = std::mem::take(&mut test.attrs);
    let name = test.sig.ident.clone();
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            #test
            ::partyedu_testkit::run(#migrator, #name)
        }
    }
    .into()
}

/// `migrator = "path::TO::MIGRATOR"` → `Some(&path)`; `migrations = false` → `None`.
fn migrator(args: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut found = None;
    for pair in &pairs {
        let Expr::Lit(ExprLit { lit, .. }) = &pair.value else {
            return Err(syn::Error::new_spanned(&pair.value, "expected a literal"));
        };
        match (pair.path.get_ident().map(|i| i.to_string()).as_deref(), lit) {
            (Some("migrator"), Lit::Str(path)) => {
                let path: syn::Path = path.parse()?;
                found = Some(quote!(::core::option::Option::Some(&#path)));
            }
            (Some("migrations"), Lit::Bool(b)) if !b.value => {
                found = Some(quote!(::core::option::Option::None));
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    pair,
                    "expected `migrator = \"path\"` or `migrations = false`",
                ));
            }
        }
    }
    found.ok_or_else(|| {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            "name the migrator (`migrator = \"partyedu_store::MIGRATOR\"`) or `migrations = false`",
        )
    })
}
