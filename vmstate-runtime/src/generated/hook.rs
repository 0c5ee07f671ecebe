//! The calls of hooks and predicates: a path to a function or a closure,
//! passed where the expected signature types a closure's parameters.

/// `exists`: whether a field is on the wire at `version`.
#[inline(always)]
pub fn exists<T: ?Sized>(f: impl FnOnce(&T, u32) -> bool, s: &T, version: u32) -> bool {
    f(s, version)
}

/// `needed`: whether a subsection is sent.
#[inline(always)]
pub fn needed<T: ?Sized>(f: impl FnOnce(&T) -> bool, s: &T) -> bool {
    f(s)
}

/// `new`: an optional subsection made from its parent when the stream brings it.
#[inline(always)]
pub fn new<T: ?Sized, S>(f: impl FnOnce(&T) -> S, s: &T) -> S {
    f(s)
}

/// `validate`: a check of the state loaded so far.
#[inline(always)]
pub fn check<T: ?Sized, E>(
    f: impl FnOnce(&T, u32) -> Result<(), E>,
    s: &T,
    version: u32,
) -> Result<(), E> {
    f(s, version)
}

/// `post_save`.
#[inline(always)]
pub fn on_ref<T: ?Sized, E>(f: impl FnOnce(&T) -> Result<(), E>, s: &T) -> Result<(), E> {
    f(s)
}

/// The value a save writes: the caller's, or a copy a hook changed.
pub enum Prepared<'a, T> {
    /// The value as it is.
    Same(&'a T),
    /// A copy that `prepare` or a writing `pre_save` changed.
    Copy(T),
}

impl<T> std::ops::Deref for Prepared<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Prepared::Same(v) => v,
            Prepared::Copy(v) => v,
        }
    }
}

/// A `pre_save` that reads the state (`fn(&T)`), marker of [`PreSave`].
pub struct Reads;
/// A `pre_save` that writes it (`fn(&mut T)`, as QEMU's may), marker of
/// [`PreSave`]: it runs on a copy, which is saved.
pub struct Writes;

/// `pre_save` of either signature; `M` is inferred from the hook's.
pub trait PreSave<T, M> {
    /// Runs the hook before a save of `v`; the value to save, or the
    /// hook's error.
    fn run(self, v: Prepared<'_, T>) -> Result<Prepared<'_, T>, String>;
}

impl<T, E: std::fmt::Display, F: FnOnce(&T) -> Result<(), E>> PreSave<T, Reads> for F {
    fn run(self, v: Prepared<'_, T>) -> Result<Prepared<'_, T>, String> {
        self(&v).map_err(|e| e.to_string())?;
        Ok(v)
    }
}

impl<T: Clone, E: std::fmt::Display, F: FnOnce(&mut T) -> Result<(), E>> PreSave<T, Writes> for F {
    fn run(self, v: Prepared<'_, T>) -> Result<Prepared<'_, T>, String> {
        let mut copy = match v {
            Prepared::Same(v) => v.clone(),
            Prepared::Copy(v) => v,
        };
        self(&mut copy).map_err(|e| e.to_string())?;
        Ok(Prepared::Copy(copy))
    }
}

/// `pre_save`: the value to save after the hook ran.
#[inline(always)]
pub fn pre_save<'a, T, M>(
    f: impl PreSave<T, M>,
    v: Prepared<'a, T>,
) -> Result<Prepared<'a, T>, String> {
    f.run(v)
}

/// `pre_load`.
#[inline(always)]
pub fn on_mut<T: ?Sized, E>(f: impl FnOnce(&mut T) -> Result<(), E>, s: &mut T) -> Result<(), E> {
    f(s)
}

/// `post_load`.
#[inline(always)]
pub fn on_loaded<T: ?Sized, E>(
    f: impl FnOnce(&mut T, u32) -> Result<(), E>,
    s: &mut T,
    version: u32,
) -> Result<(), E> {
    f(s, version)
}
