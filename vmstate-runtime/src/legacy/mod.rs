//! The legacy codec: QEMU's own VMState encoding (big-endian scalars, raw buffers,
//! subsections introduced by `0x05`), byte for byte.
//!
//! ```
//! use vmstate_runtime::{legacy, VMState};
//!
//! #[derive(VMState, Clone, Debug, Default, PartialEq)]
//! #[vmstate(name = "port92", version = 1)]
//! pub struct Port92 {
//!     pub outport: u8,
//! }
//!
//! let bytes = legacy::to_bytes(&Port92 { outport: 2 }).unwrap();
//! assert_eq!(bytes, [2]);
//! let back: Port92 = legacy::from_bytes(&bytes, 1).unwrap();
//! assert_eq!(back.outport, 2);
//! ```

pub use crate::io::{Input, ReadInput, SliceInput, Writer};

use crate::error::{ErrorKind, Result};
use crate::json::{JsonWriter, VmdescArrays};
use crate::VMState;

/// QEMU's `QEMU_VM_SUBSECTION` marker byte.
pub const SUBSECTION: u8 = 0x05;

/// Encodes `value` at its current version.
pub fn to_bytes<T: VMState>(value: &T) -> Result<Vec<u8>> {
    to_bytes_at(value, T::DESC.version)
}

/// Encodes `value` as version `version` would, for an older peer: fields and
/// subsections that do not exist at that version are left out.
pub fn to_bytes_at<T: VMState>(value: &T, version: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(value.legacy_size_at(version));
    save(value, &mut out, version)?;
    Ok(out)
}

/// Writes `value` at `version` to `w`; returns the bytes written.
pub fn save<T: VMState, W: std::io::Write>(value: &T, w: W, version: u32) -> Result<u64> {
    let mut w = Writer::new(w);
    T::DESC
        .check_version(version, 0)
        .and_then(|()| value.legacy_save_at(&mut w, version))
        .map_err(|e| e.in_device(T::DESC.name))?;
    Ok(w.written())
}

/// Loads a value of version `version` from `bytes` into `target`, which must take all
/// of `bytes`. On error `target` is unchanged.
///
/// Loading starts from `target`'s current state, as QEMU's does: fields that the
/// stream's version lacks, skipped fields and absent subsections keep their values.
pub fn load_into<T: VMState + Clone>(target: &mut T, bytes: &[u8], version: u32) -> Result<()> {
    load_exact(target, bytes, 0, version)
}

/// [`load_into`] for `bytes` found at offset `base` of a larger stream: error offsets
/// point into that stream.
pub fn load_exact<T: VMState + Clone>(
    target: &mut T,
    bytes: &[u8],
    base: u64,
    version: u32,
) -> Result<()> {
    let mut r = SliceInput::with_base(bytes, base);
    let loaded = load_value(target, &mut r, version)?;
    r.expect_end().map_err(|e| e.in_device(T::DESC.name))?;
    *target = loaded;
    Ok(())
}

/// Decodes a value of version `version`, starting from `T::default()`.
pub fn from_bytes<T: VMState + Default>(bytes: &[u8], version: u32) -> Result<T> {
    // A fresh value is dropped on error, so it is loaded in place: no working copy.
    let mut v = T::default();
    let mut r = SliceInput::new(bytes);
    load_in_place(&mut v, &mut r, version)?;
    r.expect_end().map_err(|e| e.in_device(T::DESC.name))?;
    Ok(v)
}

/// Loads one value from a reader, consuming exactly its bytes (and at most the 257
/// bytes after it that a subsection check peeks at; use [`load_input`] with a
/// [`ReadInput`] kept across calls to keep those). On error `target` is unchanged.
pub fn load_from<T: VMState + Clone, R: std::io::Read>(
    target: &mut T,
    reader: R,
    version: u32,
) -> Result<()> {
    load_input(target, &mut ReadInput::new(reader), version)
}

/// Loads one value from any [`Input`] (the stream layer uses this with its own
/// offsets). On error `target` is unchanged.
pub fn load_input<T: VMState + Clone, I: Input + ?Sized>(
    target: &mut T,
    input: &mut I,
    version: u32,
) -> Result<()> {
    *target = load_value(target, input, version)?;
    Ok(())
}

fn load_value<T: VMState + Clone, I: Input + ?Sized>(
    target: &T,
    r: &mut I,
    version: u32,
) -> Result<T> {
    let mut work = target.clone();
    load_in_place(&mut work, r, version)?;
    Ok(work)
}

/// Loads into `work`, which is left part-loaded on error.
fn load_in_place<T: VMState, I: Input + ?Sized>(
    work: &mut T,
    r: &mut I,
    version: u32,
) -> Result<()> {
    T::DESC
        .check_version(version, r.offset())
        .and_then(|()| work.legacy_load_at(r, version))
        .and_then(|()| no_cut_subsection(r))
        .map_err(|e| e.in_device(T::DESC.name))
}

/// After a whole value: a subsection marker whose header the input ends inside is a
/// cut stream, not the end of the value (a nested struct cannot tell, as a field
/// may follow it; the top level can).
fn no_cut_subsection<I: Input + ?Sized>(r: &mut I) -> Result<()> {
    let at = r.offset();
    let head = r.peek(2)?;
    if head.first() != Some(&SUBSECTION) {
        return Ok(());
    }
    let whole = head
        .get(1)
        .map_or(usize::MAX, |&len| 2 + usize::from(len) + 4);
    if whole != usize::MAX && r.peek(whole)?.len() == whole {
        return Ok(());
    }
    Err(crate::Error::new(ErrorKind::UnexpectedEof, at))
}

/// The device's object in a stream's vmdesc trailer, exactly as QEMU writes it:
/// `{"name": idstr, "instance_id": n, "vmsd_name": ..., "version": v, "fields": [...]}`.
pub fn vmdesc_json<T: VMState>(value: &T, idstr: &str, instance_id: u32, version: u32) -> String {
    vmdesc_json_as(value, idstr, instance_id, version, VmdescArrays::Qemu7_2)
}

/// [`vmdesc_json`] with arrays listed as QEMU release `arrays` lists them.
pub fn vmdesc_json_as<T: VMState>(
    value: &T,
    idstr: &str,
    instance_id: u32,
    version: u32,
    arrays: VmdescArrays,
) -> String {
    let mut j = JsonWriter::compact().with_arrays(arrays);
    j.begin_object(None);
    j.string("name", idstr);
    j.int("instance_id", instance_id.into());
    value.vmdesc_at(version, &mut j);
    j.end_object();
    j.finish()
}

/// If the next bytes start a subsection whose name begins with `parent`'s (QEMU's
/// rule), returns that name without consuming anything; otherwise the subsection
/// list of `parent` has ended.
pub fn peek_subsection<I: Input + ?Sized>(r: &mut I, parent: &str) -> Result<Option<String>> {
    let head = r.peek(2)?;
    if head.len() < 2 || head[0] != SUBSECTION {
        return Ok(None);
    }
    let len = usize::from(head[1]);
    if len < parent.len() + 1 {
        return Ok(None);
    }
    let all = r.peek(2 + len)?;
    if all.len() < 2 + len || !all[2..].starts_with(parent.as_bytes()) {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&all[2..]).into_owned()))
}

/// Consumes the header of the subsection `peek_subsection` found; returns its version.
pub fn enter_subsection<I: Input + ?Sized>(r: &mut I, name: &str) -> Result<u32> {
    r.skip(2 + name.len())?;
    Ok(u32::from_be_bytes(r.read_array()?))
}

/// Writes a subsection header: marker, name, version.
pub fn put_subsection_header<W: std::io::Write>(
    w: &mut Writer<W>,
    name: &str,
    version: u32,
) -> Result<()> {
    let len = u8::try_from(name.len()).map_err(|_| {
        w.error(ErrorKind::Framing(format!(
            "subsection name {name:?} too long"
        )))
    })?;
    w.put(&[SUBSECTION, len])?;
    w.put(name.as_bytes())?;
    w.put(&version.to_be_bytes())
}

/// Bytes a subsection header takes.
pub const fn subsection_header_size(name: &str) -> usize {
    2 + name.len() + 4
}

/// Loads a variable array of `n` elements into `v` (a `Vec`) in chunks: the
/// elements it holds in place, new ones as the input yields them, so a count
/// from the input allocates no more than a chunk beyond what was read.
pub fn legacy_get_vec<T: crate::field::Field + Default, I: Input + ?Sized>(
    v: &mut Vec<T>,
    n: usize,
    r: &mut I,
) -> Result<()> {
    const CHUNK: usize = 4096;
    v.truncate(n);
    let mut done = 0;
    while done < n {
        let end = n.min(done + CHUNK);
        if v.len() < end {
            v.resize_with(end, T::default);
        }
        T::legacy_get_slice(&mut v[done..end], r)?;
        done = end;
    }
    Ok(())
}
