//! Error collection: every check reports here, so one compile shows every mistake,
//! each at its own span (as serde_derive's `Ctxt` does). Like serde's, it panics
//! when dropped with its errors never taken: a derive that forgot to report them
//! would expand silently wrong.

use proc_macro2::TokenStream;
use std::cell::RefCell;
use std::fmt::Display;

pub struct Ctxt {
    /// `None` once taken by [`Ctxt::into_compile_errors`].
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Default for Ctxt {
    fn default() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }
}

impl Ctxt {
    fn push(&self, e: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("an error reported after the errors were taken")
            .push(e);
    }

    pub fn error_spanned_by<T: quote::ToTokens, M: Display>(&self, tokens: T, msg: M) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub fn error_at<M: Display>(&self, span: proc_macro2::Span, msg: M) {
        self.push(syn::Error::new(span, msg));
    }

    pub fn syn_error(&self, e: syn::Error) {
        self.push(e);
    }

    /// All collected errors as `compile_error!` invocations, or `None`.
    pub fn into_compile_errors(self) -> Option<TokenStream> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        if errors.is_empty() {
            return None;
        }
        Some(errors.into_iter().map(|e| e.to_compile_error()).collect())
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("a Ctxt was dropped without its errors being checked");
        }
    }
}
