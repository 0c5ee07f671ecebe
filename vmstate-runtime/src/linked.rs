//! QEMU's linked containers of structs: `VMSTATE_QTAILQ_V` and `VMSTATE_QLIST_V`
//! ([`QTailQ`], [`QList`]: a `Vec` of the elements) and `VMSTATE_GTREE_V` /
//! `VMSTATE_GTREE_DIRECT_KEY_V` ([`GTree`]: a `BTreeMap`, in key order as GLib
//! walks a tree); [`MarkedList`], the same with another byte before each
//! element, as code older than VMState writes lists; [`KeyedList`], elements
//! each after a nonzero 32-bit key, ended by a zero one (virtio-gpu's resources);
//! and [`Chunks`], byte chunks each after its nonzero 32-bit length, ended by a
//! zero one (a vhost back-end's state).
//!
//! On the legacy wire each element is preceded by a byte 1 and the list ends with a
//! byte 0 (a tree first sends its node count). QEMU describes such a field in vmdesc
//! as its custom `VMStateInfo` (`qtailq`, `qlist`, `gtree`) and writes every
//! element's description into that one entry, as the same keys again and again,
//! which no JSON reader can take apart (QEMU's own `analyze-migration.py` keeps the
//! last). vmstate writes the entry without them: its type and its bytes. QEMU does
//! not read the vmdesc when it loads, so only the trailer's text differs. The
//! generic converter (`dump`) treats the field as its bytes, and the BER form agrees:
//! one OCTET STRING of the legacy bytes, which a typed load decodes and checks
//! element by element.
//!
//! A load takes elements as the input holds them (no count from the stream is
//! allocated ahead) and at most [`MAX_ELEMENTS`]; elements are saved and loaded at
//! their type's current version (QEMU loads them at the field's version, which is
//! the same for every QEMU device that has such a field).

use crate::ber::{Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::{Error, ErrorKind, Result};
use crate::field::Field;
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;

/// The most elements a load accepts in one container.
pub const MAX_ELEMENTS: usize = 1 << 16;

/// Reads the byte that says whether another element follows (`mark`) or not (0).
fn more<I: Input + ?Sized>(r: &mut I, count: usize, mark: u8) -> Result<bool> {
    let at = r.offset();
    let [b] = r.read_array::<1>()?;
    match b {
        0 => Ok(false),
        b if b == mark && count < MAX_ELEMENTS => Ok(true),
        b if b == mark => Err(Error::new(
            ErrorKind::LengthTooLarge {
                len: count as u64 + 1,
                max: MAX_ELEMENTS as u64,
            },
            at,
        )),
        other if mark == 1 => Err(Error::new(ErrorKind::InvalidBool(other), at)),
        other => Err(Error::new(
            ErrorKind::NotEqual {
                expected: format!("{mark} or 0"),
                found: other.to_string(),
            },
            at,
        )),
    }
}

/// Writes `elements`, each after a byte `mark`, then a byte 0.
fn put_marked<T: VMState, W: io::Write>(elements: &[T], w: &mut Writer<W>, mark: u8) -> Result<()> {
    for (i, e) in elements.iter().enumerate() {
        w.put(&[mark])?;
        e.legacy_save_at(w, T::DESC.version)
            .map_err(|err| err.in_index(i))?;
    }
    w.put(&[0])
}

/// Reads elements each announced by a byte `mark`, until a byte 0.
fn get_marked<T: VMState + Default, I: Input + ?Sized>(r: &mut I, mark: u8) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while more(r, out.len(), mark)? {
        let mut e = T::default();
        e.legacy_load_at(r, T::DESC.version)
            .map_err(|err| err.in_index(out.len()))?;
        out.push(e);
    }
    Ok(out)
}

/// The bytes of `elements` with their marks and the end.
fn marked_size<T: VMState>(elements: &[T]) -> usize {
    1 + elements
        .iter()
        .map(|e| 1 + e.legacy_size_at(T::DESC.version))
        .sum::<usize>()
}

/// The vmdesc members of a container: its type and its bytes.
fn vmdesc_entry(name: &str, size: usize, j: &mut JsonWriter) {
    j.string("type", name);
    j.int("size", size as i64);
}

/// The `Field` methods every container shares: its vmdesc entry under QEMU's
/// `VMStateInfo` name, and its legacy bytes as its BER and JSON value.
macro_rules! opaque_methods {
    ($info:literal) => {
        fn vmdesc_leaf(&self, _leaf: usize, _suffix: &str, j: &mut JsonWriter) {
            vmdesc_entry($info, self.legacy_size(), j);
        }

        fn ber_put(&self, e: &mut Encoder) -> Result<()> {
            crate::opaque::ber_put(self, e)
        }

        fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
            crate::opaque::ber_get(self, d, h)
        }

        fn to_json(&self) -> Value {
            crate::opaque::json(self)
        }
    };
}

macro_rules! list {
    ($(#[$doc:meta])* $name:ident, $info:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name<T>(pub Vec<T>);

        impl<T: VMState + Default> Field for $name<T> {
            const TYPE: TypeDesc = TypeDesc::VarBuffer { max: crate::opaque::MAX_BYTES };
            const BER_TAG: Tag = Tag::OCTET_STRING;

            fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
                put_marked(&self.0, w, 1)
            }

            fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
                self.0 = get_marked(r, 1)?;
                Ok(())
            }

            fn legacy_size(&self) -> usize {
                marked_size(&self.0)
            }

            opaque_methods!($info);
        }
    };
}

list!(
    /// `VMSTATE_QTAILQ_V`: a tail queue of structs, in queue order.
    QTailQ,
    "qtailq"
);

list!(
    /// `VMSTATE_QLIST_V`: a list of structs, in list order.
    QList,
    "qlist"
);

/// A list whose elements each follow a byte `MARK`, ended by a byte 0: how code
/// that predates VMState sends a list (libslirp's sockets follow a 42). QEMU reads
/// any byte but 0 as "another one"; a load here takes only `MARK`, so that the
/// bytes it saves back are the ones it read.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MarkedList<T, const MARK: u8>(pub Vec<T>);

impl<T: VMState + Default, const MARK: u8> Field for MarkedList<T, MARK> {
    const TYPE: TypeDesc = TypeDesc::VarBuffer {
        max: crate::opaque::MAX_BYTES,
    };
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        put_marked(&self.0, w, MARK)
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        self.0 = get_marked(r, MARK)?;
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        marked_size(&self.0)
    }

    opaque_methods!("buffer");
}

/// A list whose elements each follow a nonzero big-endian `u32` key, ended by a
/// `u32` 0, as `virtio_gpu_save` writes the 2D resources after their ids. A load
/// refuses a key sent twice (QEMU's `virtio_gpu_load` does), and a save refuses a
/// key 0, which would end the list where the element begins.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeyedList<T>(pub Vec<(u32, T)>);

impl<T: VMState + Default> Field for KeyedList<T> {
    const TYPE: TypeDesc = TypeDesc::VarBuffer {
        max: crate::opaque::MAX_BYTES,
    };
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        for (i, (key, e)) in self.0.iter().enumerate() {
            if *key == 0 {
                return Err(w
                    .error(ErrorKind::InvalidValue {
                        ty: "KeyedList",
                        reason: "a key 0 ends the list",
                    })
                    .in_index(i));
            }
            w.put(&key.to_be_bytes())?;
            e.legacy_save_at(w, T::DESC.version)
                .map_err(|err| err.in_index(i))?;
        }
        w.put(&0u32.to_be_bytes())
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        let mut out: Vec<(u32, T)> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        loop {
            let at = r.offset();
            let key = u32::from_be_bytes(r.read_array()?);
            if key == 0 {
                break;
            }
            if out.len() == MAX_ELEMENTS {
                return Err(Error::new(
                    ErrorKind::LengthTooLarge {
                        len: out.len() as u64 + 1,
                        max: MAX_ELEMENTS as u64,
                    },
                    at,
                ));
            }
            if !keys.insert(key) {
                return Err(Error::new(
                    ErrorKind::Validation(format!("key {key} sent twice")),
                    at,
                ));
            }
            let mut e = T::default();
            e.legacy_load_at(r, T::DESC.version)
                .map_err(|err| err.in_index(out.len()))?;
            out.push((key, e));
        }
        self.0 = out;
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        4 + self
            .0
            .iter()
            .map(|(_, e)| 4 + e.legacy_size_at(T::DESC.version))
            .sum::<usize>()
    }

    opaque_methods!("buffer");
}

/// Byte chunks, each after its nonzero big-endian `u32` length, ended by a `u32`
/// 0: the state of a vhost-user back-end as QEMU passes it through the stream
/// (`vhost_save_backend_state`, chunks of at most [`Chunks::MAX_CHUNK`]; virtiofsd's
/// for `vhost-user-fs`). A load takes at most [`crate::opaque::MAX_BYTES`] in
/// all; a save refuses an empty chunk, which would end the list.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Chunks(pub Vec<Vec<u8>>);

impl Chunks {
    /// QEMU's chunk size: 1 MiB.
    pub const MAX_CHUNK: usize = 1 << 20;
}

impl Field for Chunks {
    const TYPE: TypeDesc = TypeDesc::VarBuffer {
        max: crate::opaque::MAX_BYTES,
    };
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        for (i, c) in self.0.iter().enumerate() {
            let len = u32::try_from(c.len()).ok().filter(|&n| n > 0);
            let Some(len) = len.filter(|&n| n as usize <= Self::MAX_CHUNK) else {
                return Err(w
                    .error(ErrorKind::InvalidValue {
                        ty: "Chunks",
                        reason: "a chunk holds 1 byte to 1 MiB",
                    })
                    .in_index(i));
            };
            w.put(&len.to_be_bytes())?;
            w.put(c)?;
        }
        w.put(&0u32.to_be_bytes())
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        let (mut out, mut total) = (Vec::new(), 0usize);
        loop {
            let at = r.offset();
            let len = u32::from_be_bytes(r.read_array()?) as usize;
            if len == 0 {
                break;
            }
            let bound = Self::MAX_CHUNK.min(crate::opaque::MAX_BYTES - total);
            if len > bound {
                return Err(Error::new(
                    ErrorKind::LengthTooLarge {
                        len: len as u64,
                        max: bound as u64,
                    },
                    at,
                ));
            }
            let mut c = vec![0; len];
            r.read_exact(&mut c)?;
            total += len;
            out.push(c);
        }
        self.0 = out;
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        4 + self.0.iter().map(|c| 4 + c.len()).sum::<usize>()
    }

    opaque_methods!("buffer");
}

/// A tree's key: a struct of its own (`VMSTATE_GTREE_V`), or, for `u64`, the
/// pointer-sized value itself (`VMSTATE_GTREE_DIRECT_KEY_V`, a big-endian `u64`).
pub trait GTreeKey: Ord + Default + Clone {
    /// Appends the key.
    fn put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()>;
    /// Reads the key.
    fn get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()>;
    /// Its bytes.
    fn size(&self) -> usize;
}

impl GTreeKey for u64 {
    fn put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        w.put(&self.to_be_bytes())
    }

    fn get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        *self = u64::from_be_bytes(r.read_array()?);
        Ok(())
    }

    fn size(&self) -> usize {
        8
    }
}

/// A struct key of a [`GTree`].
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StructKey<K>(pub K);

impl<K: VMState + Ord + Default + Clone> GTreeKey for StructKey<K> {
    fn put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        self.0.legacy_save_at(w, K::DESC.version)
    }

    fn get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        self.0.legacy_load_at(r, K::DESC.version)
    }

    fn size(&self) -> usize {
        self.0.legacy_size_at(K::DESC.version)
    }
}

/// `VMSTATE_GTREE_V`: a balanced tree of `V` by key `K` (`u64` for a direct key,
/// [`StructKey`] for a struct).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GTree<K: Ord, V>(pub BTreeMap<K, V>);

impl<K: GTreeKey, V: VMState + Default> Field for GTree<K, V> {
    const TYPE: TypeDesc = TypeDesc::VarBuffer {
        max: crate::opaque::MAX_BYTES,
    };
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        w.put(&(self.0.len() as u32).to_be_bytes())?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            w.put(&[1])?;
            k.put(w).map_err(|err| err.in_index(i))?;
            v.legacy_save_at(w, V::DESC.version)
                .map_err(|err| err.in_index(i))?;
        }
        w.put(&[0])
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        let at = r.offset();
        let nnodes = u32::from_be_bytes(r.read_array()?) as usize;
        let mut out = BTreeMap::new();
        let mut count = 0;
        while more(r, count, 1)? {
            if count == nnodes {
                return Err(Error::new(
                    ErrorKind::LengthMismatch {
                        len: count as u64 + 1,
                        available: nnodes as u64,
                    },
                    r.offset(),
                ));
            }
            let (mut k, mut v) = (K::default(), V::default());
            k.get(r).map_err(|err| err.in_index(count))?;
            v.legacy_load_at(r, V::DESC.version)
                .map_err(|err| err.in_index(count))?;
            out.insert(k, v);
            count += 1;
        }
        if count != nnodes || out.len() != nnodes {
            return Err(Error::new(
                ErrorKind::LengthMismatch {
                    len: nnodes as u64,
                    available: out.len() as u64,
                },
                at,
            ));
        }
        self.0 = out;
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        4 + 1
            + self
                .0
                .iter()
                .map(|(k, v)| 1 + k.size() + v.legacy_size_at(V::DESC.version))
                .sum::<usize>()
    }

    opaque_methods!("gtree");
}
