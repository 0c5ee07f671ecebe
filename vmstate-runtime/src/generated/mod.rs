//! What the derive's generated code calls, re-exported at the crate root as
//! `__private` (not a public API): the runtime's items it names, and the few
//! helpers that exist only for it, each in the module of what it serves.

mod errors;
pub mod hook;
mod vmdesc;

pub use self::errors::*;
pub use self::vmdesc::*;
pub use crate::ber::FIRST_DEVICE_TAG;
pub use crate::bitmap::{BitmapWords, BitsToWords};
pub use crate::counted::Bounded;
pub use crate::desc::{
    has_parent_prefix, is_subsection_name, str_eq, FieldDesc, Priority, SectionTraits,
    SubsectionDesc, TypeDesc, VMStateDesc, VarLen, VersionRange,
};
pub use crate::field::{
    slice_leaf, slice_leaves, slice_size, Element, Field, Fixed, Scaled, VarLenField,
};
pub use crate::json::JsonWriter;
pub use crate::legacy::{
    enter_subsection, legacy_get_vec, peek_subsection, put_subsection_header,
    subsection_header_size, Input, Writer,
};
pub use crate::nested;
pub use crate::opaque;
pub use crate::unplugged::UnpluggedRam;
pub use crate::{ber, Error, ErrorKind, Result, VMState};
pub use serde_json::{Map as JsonMap, Value as JsonValue};
pub use std::io::Write;
pub use std::result::Result::{Err, Ok};
