//! Static descriptions of VMState types: what the derive knows about a type at compile
//! time (names, versions, wire types, subsections), rendered as QEMU's `-dump-vmstate`
//! JSON so the same tools that check QEMU's migration compatibility can check ours.

use crate::json::JsonWriter;

/// The versions at which a field or subsection is on the wire (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// First version with the field (QEMU's `version_id` of a field; 0 = always).
    pub min: u32,
    /// Last version with the field, for fields that were removed.
    pub max: Option<u32>,
}

impl VersionRange {
    /// Every version.
    pub const ALL: VersionRange = VersionRange { min: 0, max: None };

    /// Whether `version` lies in the range.
    pub const fn contains(&self, version: u32) -> bool {
        version >= self.min
            && match self.max {
                Some(max) => version <= max,
                None => true,
            }
    }
}

/// The wire type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeDesc {
    /// A fixed-size scalar with QEMU's type name (`uint32`, `int64`, `bool`, `timer`...).
    Scalar {
        /// QEMU's `VMStateInfo` name.
        name: &'static str,
        /// Bytes on the wire.
        size: usize,
    },
    /// Raw bytes copied as one block (QEMU's `buffer`).
    Buffer(usize),
    /// Padding: zeros on save, ignored on load (QEMU's `unused_buffer`).
    Unused(usize),
    /// A fixed-length array.
    Array {
        /// Element type.
        elem: &'static TypeDesc,
        /// Element count.
        len: usize,
    },
    /// An array whose length is another field's value (QEMU's VARRAY / VBUFFER).
    VarArray {
        /// Element type.
        elem: &'static TypeDesc,
        /// Largest length a load accepts.
        max: usize,
    },
    /// Bytes whose count is another field's value (QEMU's VBUFFER).
    VarBuffer {
        /// Largest length a load accepts.
        max: usize,
    },
    /// A nested VMState struct, saved at its own current version (VMSTATE_STRUCT).
    Struct(&'static VMStateDesc),
    /// A fieldless `#[repr(uN)]` enum: its integer in the legacy format, an
    /// ENUMERATED in BER.
    Enum {
        /// The integer type it is sent as.
        repr: &'static TypeDesc,
        /// ASN.1 identifier and discriminant of each variant.
        variants: &'static [(&'static str, i64)],
    },
}

impl TypeDesc {
    /// The element type of an array; the type itself otherwise.
    pub const fn element(&'static self) -> &'static TypeDesc {
        match self {
            TypeDesc::Array { elem, .. } => elem,
            other => other,
        }
    }

    /// The lengths of the arrays nested in this one (a `[[u64; 4]; 10]` element is
    /// `[4]`): vmdesc flattens them, BER sends each as a SEQUENCE OF.
    pub fn nested_lengths(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut t = self;
        while let TypeDesc::Array { elem, len } = t {
            out.push(*len);
            t = elem;
        }
        out
    }

    /// QEMU's name for the type of one element as vmdesc prints it.
    pub const fn qemu_name(&self) -> &'static str {
        match self {
            TypeDesc::Scalar { name, .. } => name,
            TypeDesc::Buffer(_) | TypeDesc::VarBuffer { .. } => "buffer",
            TypeDesc::Unused(_) => "unused_buffer",
            TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. } => elem.qemu_name(),
            TypeDesc::Struct(_) => "struct",
            TypeDesc::Enum { repr, .. } => repr.qemu_name(),
        }
    }

    /// Whether this is QEMU's `uint8` (arrays of it go as one OCTET STRING in BER).
    pub const fn is_uint8(&self) -> bool {
        matches!(self, TypeDesc::Scalar { name, size: 1 } if str_eq(name, "uint8"))
    }

    /// Whether this is padding (never sent in BER).
    pub const fn is_unused(&self) -> bool {
        matches!(self, TypeDesc::Unused(_))
    }

    /// Size of one element as `-dump-vmstate` reports it (QEMU's `field->size`).
    ///
    /// For structs QEMU reports the C struct's `sizeof`, which has no meaning here; we
    /// report the fixed wire size, or 0 where subsections or variable arrays make it vary.
    /// A VBUFFER's size is 0, as in QEMU (it lives in another field).
    pub const fn element_size(&self) -> usize {
        match self {
            TypeDesc::VarBuffer { .. } => 0,
            TypeDesc::Scalar { size, .. } => *size,
            TypeDesc::Buffer(n) | TypeDesc::Unused(n) => *n,
            TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. } => elem.element_size(),
            TypeDesc::Enum { repr, .. } => repr.element_size(),
            TypeDesc::Struct(d) => match d.fixed_size() {
                Some(n) => n,
                None => 0,
            },
        }
    }

    /// Bytes on the wire when the size does not depend on the value.
    pub const fn fixed_size(&self) -> Option<usize> {
        match self {
            TypeDesc::Scalar { size, .. } => Some(*size),
            TypeDesc::Buffer(n) | TypeDesc::Unused(n) => Some(*n),
            TypeDesc::Array { elem, len } => match elem.fixed_size() {
                Some(n) => Some(n * *len),
                None => None,
            },
            TypeDesc::VarArray { .. } | TypeDesc::VarBuffer { .. } => None,
            TypeDesc::Struct(d) => d.fixed_size(),
            TypeDesc::Enum { repr, .. } => repr.fixed_size(),
        }
    }

    /// Whether QEMU would describe an array of this type once (`array_len`) rather
    /// than element by element (`index`): structs with subsections or conditional
    /// fields cannot be "compressed" (QEMU's `vmsd_can_compress`).
    pub const fn compressible(&self) -> bool {
        match self {
            TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. } => elem.compressible(),
            TypeDesc::Struct(d) => d.compressible(),
            _ => true,
        }
    }
}

/// A variable-length array's length source and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarLen {
    /// The earlier integer field that holds the element count.
    pub len_field: &'static str,
    /// Elements per unit of the count (QEMU's `_MULTIPLY`; 1 otherwise).
    pub multiply: usize,
    /// Largest count a load accepts.
    pub max: usize,
}

/// One migrated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDesc {
    /// The name in descriptions (the Rust name unless `rename`d).
    pub name: &'static str,
    /// The Rust field name (used in error paths).
    pub rust_name: &'static str,
    /// Wire type.
    pub ty: TypeDesc,
    /// Versions at which the field is on the wire.
    pub versions: VersionRange,
    /// Whether an `exists` predicate also decides presence (QEMU's `field_exists`).
    pub has_exists: bool,
    /// How a load compares the stream's value with the current one, as QEMU
    /// appends it to the type name: `""`, `" equal"` (`equal`) or `" le"` (`le`).
    pub check: &'static str,
    /// Length source for variable arrays.
    pub var_len: Option<VarLen>,
    /// BER context tag: the field's index in the struct declaration.
    pub tag: u32,
    /// Identifier in the generated ASN.1 module and in JER/JSON values.
    pub asn1_name: &'static str,
}

impl FieldDesc {
    /// QEMU's version rule for a field: `version_id` is the first version and an upper
    /// bound can only be expressed as `field_exists`.
    pub const fn qemu_field_exists(&self) -> bool {
        self.has_exists || self.versions.max.is_some()
    }
}

/// A subsection: an optional block sent after the fields when `needed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubsectionDesc {
    /// The Rust field holding it.
    pub rust_name: &'static str,
    /// Parent versions at which it may be sent.
    pub versions: VersionRange,
    /// Its own description (its name is the wire name, `parent/child`).
    pub desc: &'static VMStateDesc,
    /// BER context tag of its entry in the subsection list (declaration index).
    pub tag: u32,
    /// Identifier of its entry in the ASN.1 module and in JER/JSON values.
    pub asn1_name: &'static str,
}

/// A whole VMState type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VMStateDesc {
    /// The VMStateDescription name (`mc146818rtc`).
    pub name: &'static str,
    /// Current version: what is saved by default and the newest that loads.
    pub version: u32,
    /// Oldest version that still loads (and can be saved for an older peer).
    pub minimum_version: u32,
    /// Migrated fields in wire order.
    pub fields: &'static [FieldDesc],
    /// Subsections in wire order.
    pub subsections: &'static [SubsectionDesc],
    /// `[APPLICATION n]` tag for the BER codec, if the type asked for one.
    pub ber_tag: Option<u32>,
    /// Versions up to this one are saved in BER as a legacy blob (OCTET STRING).
    pub ber_blob_until: Option<u32>,
    /// The Rust type's name (the ASN.1 type reference is made from it).
    pub type_name: &'static str,
    /// How a section of this type is placed and whether it may be sent.
    pub section: SectionTraits,
}

/// QEMU's `MigrationPriority`: sections of a higher priority are saved first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Priority {
    /// `MIG_PRI_DEFAULT`.
    #[default]
    Default,
    /// `MIG_PRI_IOMMU`: before PCI devices.
    Iommu,
    /// `MIG_PRI_PCI_BUS`: before the IOMMU.
    PciBus,
    /// `MIG_PRI_VIRTIO_MEM`: before the IOMMU.
    VirtioMem,
    /// `MIG_PRI_GICV3_ITS`: before PCI devices.
    Gicv3Its,
    /// `MIG_PRI_GICV3`: before the ITS.
    Gicv3,
}

/// What a VMStateDescription says about its section as a whole (QEMU's
/// `.priority`, `.early_setup`, `.unmigratable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SectionTraits {
    /// Save order among the devices (higher first, registration order within one).
    pub priority: Priority,
    /// Saved when the migration starts, right after the iterative sections' START
    /// parts, instead of once the guest stopped.
    pub early_setup: bool,
    /// A VM with this device cannot migrate: a save fails naming it.
    pub unmigratable: bool,
}

impl VMStateDesc {
    /// Fails unless `version` is within `[minimum_version, version]`: the check
    /// every codec makes before it decodes a value, at `offset`.
    pub fn check_version(&self, version: u32, offset: u64) -> crate::Result<()> {
        use crate::error::{Error, ErrorKind};
        if version > self.version {
            Err(Error::new(
                ErrorKind::VersionTooNew {
                    version,
                    supported: self.version,
                },
                offset,
            ))
        } else if version < self.minimum_version {
            Err(Error::new(
                ErrorKind::VersionTooOld {
                    version,
                    minimum: self.minimum_version,
                },
                offset,
            ))
        } else {
            Ok(())
        }
    }

    /// Whether a stream at `version` can be loaded (and saved for a peer).
    pub const fn supports(&self, version: u32) -> bool {
        version >= self.minimum_version && version <= self.version
    }

    /// QEMU's `vmsd_can_compress` for a struct: no conditional fields, no subsections.
    pub const fn compressible(&self) -> bool {
        if !self.subsections.is_empty() {
            return false;
        }
        let mut i = 0;
        while i < self.fields.len() {
            let f = &self.fields[i];
            if f.has_exists || !f.ty.compressible() {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Wire size at the current version when no field or subsection makes it vary.
    pub const fn fixed_size(&self) -> Option<usize> {
        if !self.subsections.is_empty() {
            return None;
        }
        let mut total = 0;
        let mut i = 0;
        while i < self.fields.len() {
            let f = &self.fields[i];
            if f.has_exists || !f.versions.contains(self.version) {
                return None;
            }
            match f.ty.fixed_size() {
                Some(n) => total += n,
                None => return None,
            }
            i += 1;
        }
        Some(total)
    }

    /// Renders the type the way `qemu-system-x86_64 -dump-vmstate` prints a device's
    /// `"Description"` object (pretty JSON, same keys and order).
    pub fn dump_vmstate_json(&self) -> String {
        let mut j = JsonWriter::pretty();
        j.begin_object(None);
        self.write_dump(&mut j);
        j.end_object();
        j.finish()
    }

    fn write_dump(&self, j: &mut JsonWriter) {
        j.string("name", self.name);
        j.int("version_id", self.version.into());
        j.int("minimum_version_id", self.minimum_version.into());
        j.begin_array("Fields");
        for f in self.fields {
            j.begin_object(None);
            j.string("field", f.name);
            j.int("version_id", f.versions.min.into());
            j.boolean("field_exists", f.qemu_field_exists());
            j.int("size", f.ty.element_size() as i64);
            let mut elem = &f.ty;
            while let TypeDesc::Array { elem: e, .. } | TypeDesc::VarArray { elem: e, .. } = elem {
                elem = e;
            }
            if let TypeDesc::Struct(d) = elem {
                j.begin_object(Some("Description"));
                d.write_dump(j);
                j.end_object();
            }
            j.end_object();
        }
        j.end_array();
        if !self.subsections.is_empty() {
            j.begin_array("Subsections");
            for s in self.subsections {
                j.begin_object(None);
                s.desc.write_dump(j);
                j.end_object();
            }
            j.end_array();
        }
    }
}

/// Whether `name` begins with `prefix`, in const context.
const fn starts_with(name: &[u8], prefix: &[u8]) -> bool {
    if name.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if prefix[i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `a == b` for `&str` in const context (for the derive's compile-time checks).
#[doc(hidden)]
pub const fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && starts_with(a.as_bytes(), b.as_bytes())
}

/// Whether `name` is `parent/` followed by at least one byte (for compile-time checks).
#[doc(hidden)]
pub const fn is_subsection_name(parent: &str, name: &str) -> bool {
    let (p, n) = (parent.as_bytes(), name.as_bytes());
    n.len() >= p.len() + 2 && starts_with(n, p) && n[p.len()] == b'/'
}

/// QEMU's own loader rule, looser than ours: the name merely starts with the parent's
/// and is longer (`pckbd_outport` under `pckbd`), for mirrors of historical names.
#[doc(hidden)]
pub const fn has_parent_prefix(parent: &str, name: &str) -> bool {
    name.len() > parent.len() && starts_with(name.as_bytes(), parent.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges() {
        let r = VersionRange {
            min: 2,
            max: Some(4),
        };
        assert!(!r.contains(1) && r.contains(2) && r.contains(4) && !r.contains(5));
        assert!(VersionRange::ALL.contains(0));
    }

    #[test]
    fn subsection_names() {
        assert!(is_subsection_name("hpet", "hpet/offset"));
        assert!(!is_subsection_name("hpet", "hpet/"));
        assert!(!is_subsection_name("hpet", "hpetx/offset"));
        assert!(!is_subsection_name("pckbd", "pckbd_outport"));
        assert!(has_parent_prefix("pckbd", "pckbd_outport"));
        assert!(!has_parent_prefix("pckbd", "pckbd"));
        assert!(str_eq("a/b", "a/b") && !str_eq("a/b", "a/c") && !str_eq("a", "ab"));
    }
}
