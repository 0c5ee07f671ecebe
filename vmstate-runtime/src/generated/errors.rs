//! The errors generated code reports, and the one trait that adds a field to
//! their paths.

use crate::error::{Error, ErrorKind, Result};
use std::fmt::Display;

/// `.in_field(name)` on a result: the error's path gains the field. One generic
/// method rather than a closure per field in the derive's output.
pub trait InField {
    /// Adds the field `name` to an error's path.
    fn in_field(self, name: &'static str) -> Self;
}

impl<T> InField for Result<T> {
    #[inline]
    fn in_field(self, name: &'static str) -> Self {
        self.map_err(|e| e.in_field(name))
    }
}

/// A hook's error, with the hook's name.
pub fn hook_error(hook: &'static str, e: &dyn Display, offset: u64) -> Error {
    Error::new(
        ErrorKind::Hook {
            hook,
            message: e.to_string(),
        },
        offset,
    )
}

/// Checks that a `Vec` counted by a field holds exactly `count` elements when
/// saved (`len` of them): a save of its first ones alone would drop the rest.
pub fn check_whole_vec(count: usize, len: usize, offset: u64) -> Result<()> {
    if count == len {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::LengthMismatch {
            len: count as u64,
            available: len as u64,
        },
        offset,
    ))
}

/// A `validate` check's error.
pub fn validation_error(e: &dyn Display, offset: u64) -> Error {
    Error::new(ErrorKind::Validation(e.to_string()), offset)
}

/// An `equal` field's mismatch.
pub fn not_equal<T: std::fmt::Debug>(expected: &T, found: &T, offset: u64) -> Error {
    Error::new(
        ErrorKind::NotEqual {
            expected: format!("{expected:?}"),
            found: format!("{found:?}"),
        },
        offset,
    )
}

/// An `le` field's value outside `0..=limit`.
pub fn above_current<T: std::fmt::Debug>(limit: &T, found: &T, offset: u64) -> Error {
    Error::new(
        ErrorKind::AboveCurrent {
            limit: format!("{limit:?}"),
            found: format!("{found:?}"),
        },
        offset,
    )
}

/// The length of `elements = start..end` of an array of `len`, which must be a
/// non-empty range within it (checked when the description is built).
pub const fn element_range(start: usize, end: usize, len: usize) -> usize {
    assert!(
        start < end && end <= len,
        "`elements` must be a non-empty range of the array's indices"
    );
    end - start
}

/// QEMU's `_POSITIVE_LE` test: `0 <= loaded <= current`.
pub fn positive_le<T: crate::field::Integer>(loaded: &T, current: &T) -> bool {
    *loaded >= T::default() && loaded <= current
}

/// An enum discriminant that has no variant.
pub fn invalid_discriminant(raw: u64, offset: u64) -> Error {
    Error::new(ErrorKind::InvalidDiscriminant(raw), offset)
}

/// A signed enum discriminant that has no variant.
pub fn invalid_signed_discriminant(raw: i64, offset: u64) -> Error {
    Error::new(ErrorKind::InvalidSignedDiscriminant(raw), offset)
}

/// An unknown subsection name.
pub fn unknown_subsection(name: String, offset: u64) -> Error {
    Error::new(ErrorKind::UnknownSubsection(name), offset)
}
