//! What a codec generator returns: its methods that read the value (saves, sizes)
//! and those that load it. `expand` places them (a type with `prepare` or a
//! writing `pre_save` reads a prepared copy).

use proc_macro2::TokenStream;

/// A codec's generated methods.
pub struct Methods {
    pub saves: TokenStream,
    pub loads: TokenStream,
}
