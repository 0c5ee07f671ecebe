//! The load hooks and `post_save`, called the same way by both codecs' generated
//! code (`pre_save` and `prepare` run before, in `expand`).

use crate::attr::{AttrSpan, Hook};
use crate::plan::ContainerPlan;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

/// A hook call that returns a typed `Hook` error, at the hook's span.
fn hook_call(
    hook: Option<&Hook>,
    name: &str,
    call: TokenStream,
    args: TokenStream,
    offset: &TokenStream,
) -> Option<TokenStream> {
    hook.map(|h| {
        quote_spanned! {h.attr_span()=>
            if let __vm::Err(__err) = __vm::hook::#call(#h, #args) {
                return __vm::Err(__vm::hook_error(#name, &__err, #offset));
            }
        }
    })
}

/// The hook calls of one struct, for a codec whose writer reports its offset with
/// `w_at` and whose reader with `r_at`.
pub struct Hooks {
    pub pre_load: Option<TokenStream>,
    pub post_load: Option<TokenStream>,
    post_save: Option<TokenStream>,
}

impl Hooks {
    pub fn new(c: &ContainerPlan, w_at: TokenStream, r_at: TokenStream) -> Hooks {
        Hooks {
            post_save: hook_call(
                c.post_save,
                "post_save",
                quote!(on_ref),
                quote!(self),
                &w_at,
            ),
            pre_load: hook_call(c.pre_load, "pre_load", quote!(on_mut), quote!(self), &r_at),
            post_load: hook_call(
                c.post_load,
                "post_load",
                quote!(on_loaded),
                quote!(self, version),
                &r_at,
            ),
        }
    }

    /// A save method's body around `saves` (`pre_save` ran before, on the value
    /// `expand` prepares). `post_save` runs after a failed save too (as QEMU's
    /// does), so the fields are written in a closure whose result is returned
    /// after it.
    pub fn save_body(&self, saves: TokenStream) -> TokenStream {
        let post = &self.post_save;
        if post.is_some() {
            quote! {
                let __result = (|| -> __vm::Result<()> {
                    #saves
                    __vm::Ok(())
                })();
                #post
                __result
            }
        } else {
            quote! {
                #saves
                __vm::Ok(())
            }
        }
    }
}
