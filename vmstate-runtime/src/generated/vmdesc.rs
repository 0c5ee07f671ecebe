//! The vmdesc entries generated code writes (QEMU's trailer), and the JSON of a
//! sent subsection.

use crate::desc::{TypeDesc, VMStateDesc};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::{Map as JsonMap, Value as JsonValue};

/// JSON of a sent subsection's entry: name, version and body (at `version`).
pub fn subsection_json<T: VMState>(v: &T, version: u32) -> JsonValue {
    let mut m = JsonMap::new();
    m.insert("name".into(), T::DESC.name.into());
    m.insert("version".into(), version.into());
    m.insert("body".into(), v.to_json_at(version));
    JsonValue::Object(m)
}
/// How a field's vmdesc entries are shaped, beyond QEMU's own rules.
pub struct VmdescShape {
    /// Whether the field is an array (QEMU marks arrays only above one element;
    /// a BER stream's description marks them always, since BER sends a SEQUENCE
    /// OF even for one element).
    pub is_array: bool,
    /// The element type's name, for an empty array's entry (BER descriptions
    /// list empty arrays and buffers: BER sends them, empty).
    pub elem_type: &'static str,
    /// The element type, whose nested arrays a BER description lists
    /// (`ber_nested`), since BER sends each as a SEQUENCE OF.
    pub elem: &'static TypeDesc,
}

/// Writes the vmdesc entries of one field: one entry, or per array element
/// (`index`) unless the element type allows describing it once (`array_len`).
pub fn vmdesc_field(
    j: &mut JsonWriter,
    name: &str,
    tag: u32,
    leaves: usize,
    compress: bool,
    shape: VmdescShape,
    leaf: &mut dyn FnMut(usize, &mut JsonWriter),
) {
    let ber = j.ber_tags();
    let nested = if ber {
        shape.elem.nested_lengths()
    } else {
        Vec::new()
    };
    let head = |j: &mut JsonWriter| {
        j.begin_object(None);
        j.string("name", name);
        if ber {
            j.int("tag", tag.into());
        }
        if !nested.is_empty() {
            j.begin_array("ber_nested");
            for n in &nested {
                j.value(None, &(*n as u64).into());
            }
            j.end_array();
        }
    };
    // An empty buffer (QEMU's `VMSTATE_VBUFFER` of length 0) is still one field
    // of size 0; an empty array has no elements to describe (BER says its length).
    if leaves == 0 && (ber || !shape.is_array) {
        head(j);
        if shape.is_array {
            j.int("array_len", 0);
        }
        j.string("type", shape.elem_type);
        j.int("size", 0);
        j.end_object();
        return;
    }
    let listed = leaves > 1 || (ber && shape.is_array);
    // QEMU 10.0 leaves the last element's index out (BER descriptions keep it).
    let last_unindexed = !ber && j.arrays() == crate::json::VmdescArrays::Qemu10_0;
    for i in 0..leaves {
        head(j);
        if listed {
            if compress {
                j.int("array_len", leaves as i64);
            } else if !(last_unindexed && i + 1 == leaves) {
                j.int("index", i as i64);
            }
        }
        leaf(i, j);
        j.end_object();
        if compress {
            break;
        }
    }
}

/// The members a BER stream's description adds to a struct's vmdesc object, so
/// that a reader without the type encodes its value as the derive does:
/// `ber_tag` and `ber_blob_until`.
pub fn vmdesc_ber_members(desc: &VMStateDesc, j: &mut JsonWriter) {
    if !j.ber_tags() {
        return;
    }
    if let Some(tag) = desc.ber_tag {
        j.int("ber_tag", tag.into());
    }
    if let Some(until) = desc.ber_blob_until {
        j.int("ber_blob_until", until.into());
    }
}

/// The vmdesc members of a section QEMU saves with old-style handlers (`slirp`):
/// its size and one `data` buffer of it, in `vmstate_save_old_style`'s order.
pub fn old_style_vmdesc(size: usize, j: &mut JsonWriter) {
    j.int("size", size as i64);
    j.begin_array("fields");
    j.begin_object(None);
    j.string("name", "data");
    j.int("size", size as i64);
    j.string("type", "buffer");
    j.end_object();
    j.end_array();
}

/// vmdesc leaf of a byte array described as `uint8` elements (`as_array`).
pub fn byte_array_leaf(suffix: &str, j: &mut JsonWriter) {
    j.string("type", &format!("uint8{suffix}"));
    j.int("size", 1);
}

/// Opens a field's vmdesc entry: its name, and in a BER description its tag.
pub fn begin_entry(j: &mut JsonWriter, name: &str, tag: u32) {
    j.begin_object(None);
    j.string("name", name);
    if j.ber_tags() {
        j.int("tag", tag.into());
    }
}

/// The vmdesc entry of a `tmp` field (QEMU's `VMSTATE_WITH_TMP`): type `tmp`,
/// the temporary struct's description inline, then its size. A BER stream's
/// description gives it as the struct it is, marked `ber_tmp` (the legacy form
/// is restored from it on conversion).
pub fn tmp_entry<T: VMState>(v: &T, j: &mut JsonWriter, name: &str, tag: u32) {
    begin_entry(j, name, tag);
    if j.ber_tags() {
        j.boolean("ber_tmp", true);
        struct_leaf(v, j);
    } else {
        j.string("type", "tmp");
        v.vmdesc_at(T::DESC.version, j);
        j.int("size", v.legacy_size_at(T::DESC.version) as i64);
    }
    j.end_object();
}

/// vmdesc leaf of a nested struct: `"type": "struct", "struct": {...}, "size"`.
pub fn struct_leaf<T: VMState>(v: &T, j: &mut JsonWriter) {
    struct_leaf_at(v, T::DESC.version, j)
}

/// [`struct_leaf`] of the struct at `version` (`struct_version`).
pub fn struct_leaf_at<T: VMState>(v: &T, version: u32, j: &mut JsonWriter) {
    j.string("type", "struct");
    j.begin_object(Some("struct"));
    v.vmdesc_at(version, j);
    j.end_object();
    j.int("size", v.legacy_size_at(version) as i64);
}
