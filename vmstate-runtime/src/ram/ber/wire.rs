//! Fewer octets on a slow link: the BER leg's page compression. Two things a
//! writer may do to a part's elements, both read back to the same pages, so that a
//! stream compressed and converted back to QEMU's form is QEMU's stream byte for
//! byte:
//!
//! - **a page sent again as a delta** (`delta [8]`) against the copy the reader
//!   kept of it: writer and reader each keep a [`PageCache`] of the same size
//!   (announced by `delta-cache [7]` before its first use), filled by the same
//!   rule from the pages of the stream, so the writer knows what the reader has.
//!   The delta is QEMU's XBZRLE encoding (`ram::xbzrle`).
//! - **elements compressed together** (`zstd [9]`): a zstd frame whose contents
//!   are elements of the part, at most [`GROUP_MAX`] octets of them.
//!
//! ```text
//!     delta-cache [7] SEQUENCE { pages INTEGER }      -- the cache's slots, from here on
//!     delta       [8] SEQUENCE { block UTF8String, offset INTEGER,
//!                                delta OCTET STRING,  -- XBZRLE from the cached page
//!                                continued BOOLEAN OPTIONAL },
//!     zstd        [9] SEQUENCE { octets INTEGER,      -- of the elements inside
//!                                zstd OCTET STRING }  -- one zstd frame of elements
//! ```
//!
//! The cache rule: each data page sent a second time or later, whole or made
//! from a delta, is kept in slot `(hash(block) + page index) mod pages`,
//! replacing what was there; a zero page or a page QEMU encoded itself (its own
//! XBZRLE, zlib) drops the slot's copy if it is that page's. A page sent once
//! (most of a first pass) is not kept: as QEMU's XBZRLE cache, the cache holds
//! the pages a guest writes again, and the first pass costs a bit per page. A delta names its page, and a reader whose slot holds
//! another page (or none) refuses it: a stream never makes a page from the wrong
//! base. A resumed connection (postcopy recovery) starts without a cache.

use super::groups::Groups;
use super::write::{octets_start, push_len, push_uint, run_end, uint_len};
use crate::error::{Error, ErrorKind, Result};
use crate::ram::PAGE_SIZE;

/// The most octets of elements one `zstd [9]` element holds.
pub const GROUP_MAX: u64 = 8 << 20;
/// A writer compresses a group once it holds this many octets of elements.
const GROUP: usize = 1 << 20;
/// The most slots a stream may ask a reader to keep (256 MiB of pages).
pub const CACHE_MAX: u64 = 1 << 16;

const PAGE: usize = PAGE_SIZE as usize;

/// How a writer compresses the pages of its BER leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// zstd's level for groups of elements; `None` sends them uncompressed.
    pub zstd_level: Option<i32>,
    /// Slots of the delta cache (4 KiB each); 0 sends no delta.
    pub cache_pages: u64,
}

impl Compression {
    /// What `vmstate bridge --compress` uses: zstd level 1 (docs/BRIDGE.md has
    /// the measurement) and a 64 MiB delta cache.
    pub const DEFAULT: Compression = Compression {
        zstd_level: Some(1),
        cache_pages: 16384,
    };
}

/// The pages a stream's reader and writer both keep, by the rule in the module
/// doc. Its memory is the slots' pages, allocated when first used.
#[derive(Debug, Default)]
pub struct PageCache {
    /// Which page each slot holds: the block's index in `names`, and the page's
    /// offset.
    keys: Vec<Option<(u32, u64)>>,
    data: Vec<u8>,
    /// The blocks met, each with its name's hash, by which its slots are found.
    names: Vec<(String, u64)>,
    /// Per block of `names`, a bit per page sent (pages past [`SEEN_MAX`]
    /// count as sent before).
    seen: Vec<Vec<u64>>,
}

/// The pages of a block whose sending is remembered (a bit each: 32 MiB for
/// a 1 TiB block).
const SEEN_MAX: u64 = 1 << 28;

fn name_hash(name: &str) -> u64 {
    // FNV-1a: the same slot for a block on both sides, whatever order each
    // met its blocks in.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Where a page of a block lives in the cache: its slot, and the key the slot
/// holds when it holds that page.
#[derive(Clone, Copy)]
struct Place {
    block: usize,
    slot: usize,
    key: (u32, u64),
}

impl PageCache {
    /// A cache of `pages` slots (none: nothing is kept).
    pub fn new(pages: u64) -> Self {
        PageCache {
            keys: vec![None; pages as usize],
            ..PageCache::default()
        }
    }

    /// Whether it keeps pages at all.
    pub fn is_on(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The place of `block`'s page at `offset` (the cache is on).
    fn place(&mut self, block: &str, offset: u64) -> Place {
        let i = match self.names.iter().position(|(n, _)| n == block) {
            Some(i) => i,
            None => {
                self.names.push((block.to_owned(), name_hash(block)));
                self.seen.push(Vec::new());
                self.names.len() - 1
            }
        };
        let n = self.keys.len() as u64;
        let slot = self.names[i].1.wrapping_add(offset / PAGE_SIZE) % n;
        Place {
            block: i,
            slot: slot as usize,
            key: (i as u32, offset),
        }
    }

    /// The slot's page, if it holds the page of `at`.
    fn held(&self, at: Place) -> Option<&[u8]> {
        (self.keys[at.slot] == Some(at.key))
            .then(|| &self.data[at.slot * PAGE..(at.slot + 1) * PAGE])
    }

    /// Marks the page sent; whether it was sent before.
    fn sent(&mut self, at: Place) -> bool {
        let page = at.key.1 / PAGE_SIZE;
        if page >= SEEN_MAX {
            return true;
        }
        let bits = &mut self.seen[at.block];
        let (word, bit) = ((page / 64) as usize, 1u64 << (page % 64));
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let before = bits[word] & bit != 0;
        bits[word] |= bit;
        before
    }

    /// Takes a data page sent at `at`: keeps it if it was sent before.
    fn take(&mut self, at: Place, page: &[u8]) {
        if page.len() != PAGE || !self.sent(at) {
            return;
        }
        if self.data.is_empty() {
            self.data = vec![0; self.keys.len() * PAGE];
        }
        self.keys[at.slot] = Some(at.key);
        self.data[at.slot * PAGE..(at.slot + 1) * PAGE].copy_from_slice(page);
    }

    /// The page kept for `block` at `offset`, if its slot holds it.
    pub fn get(&mut self, block: &str, offset: u64) -> Option<&[u8]> {
        if !self.is_on() {
            return None;
        }
        let at = self.place(block, offset);
        self.held(at)
    }

    /// Takes a data page (of [`PAGE_SIZE`] octets) that was sent: keeps it if
    /// it was sent before.
    pub fn put(&mut self, block: &str, offset: u64, page: &[u8]) {
        if self.is_on() {
            let at = self.place(block, offset);
            self.take(at, page);
        }
    }

    /// What a writer does with a data page it sends: the delta from the copy
    /// kept of it, if one is and the delta fits in a page; then [`put`](Self::put).
    pub fn delta_and_put(&mut self, block: &str, offset: u64, page: &[u8]) -> Option<Vec<u8>> {
        if !self.is_on() {
            return None;
        }
        let at = self.place(block, offset);
        let delta = self
            .held(at)
            .and_then(|old| crate::ram::xbzrle::encode(old, page));
        self.take(at, page);
        delta
    }

    /// Forgets the page at `offset` (now zero, or encoded by QEMU).
    pub fn drop_page(&mut self, block: &str, offset: u64) {
        if !self.is_on() {
            return;
        }
        let at = self.place(block, offset);
        self.sent(at);
        if self.keys[at.slot] == Some(at.key) {
            self.keys[at.slot] = None;
        }
    }

    /// The page a delta makes from the kept one, made in its place; an error
    /// at `at` when the slot does not hold that page.
    pub fn apply(&mut self, block: &str, offset: u64, delta: &[u8], at: u64) -> Result<Vec<u8>> {
        let missing = || {
            Error::new(
                ErrorKind::Framing(format!(
                    "a delta for page {offset:#x} of {block}, which the delta cache does not hold"
                )),
                at,
            )
        };
        if !self.is_on() {
            return Err(missing());
        }
        let place = self.place(block, offset);
        if self.held(place).is_none() {
            return Err(missing());
        }
        // Kept, so sent before: it stays kept, changed where it is.
        self.sent(place);
        let page = &mut self.data[place.slot * PAGE..(place.slot + 1) * PAGE];
        crate::ram::xbzrle::apply(delta, page, at)?;
        Ok(page.to_vec())
    }
}

/// Appends `delta-cache [7]`: the reader keeps `pages` slots from here on.
pub fn delta_cache(out: &mut Vec<u8>, pages: u64) {
    out.push(0xa7);
    push_len(out, 2 + uint_len(pages));
    push_uint(out, pages);
}

/// Appends a `delta [8]` element.
pub fn delta(out: &mut Vec<u8>, block: &str, offset: u64, delta: &[u8], continued: Option<bool>) {
    octets_start(out, 0xa8, block, offset, delta.len(), continued);
    out.extend_from_slice(delta);
    run_end(out, continued);
}

/// A writer's state across a stream: the delta cache, the zstd context and the
/// group of elements not compressed yet.
pub struct WireWriter {
    options: Compression,
    cache: PageCache,
    zstd: Option<Groups>,
    group: Vec<u8>,
    /// `delta-cache [7]` is written.
    announced: bool,
}

impl std::fmt::Debug for WireWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireWriter")
            .field("options", &self.options)
            .field("group", &self.group.len())
            .finish_non_exhaustive()
    }
}

impl WireWriter {
    /// A writer at the start of a stream (or of a resumed connection).
    pub fn new(options: Compression) -> Result<Self> {
        let zstd = options.zstd_level.map(Groups::new).transpose()?;
        Ok(WireWriter {
            options,
            cache: PageCache::new(options.cache_pages.min(CACHE_MAX)),
            zstd,
            group: Vec::new(),
            announced: false,
        })
    }

    /// Whether it compresses groups of elements.
    pub fn groups(&self) -> bool {
        self.zstd.is_some()
    }

    /// Where a part's encoder writes its elements: the group, or `out` when
    /// nothing is compressed. Announces the cache first.
    pub fn elements<'o>(&'o mut self, out: &'o mut Vec<u8>) -> &'o mut Vec<u8> {
        if !self.announced && self.cache.is_on() {
            delta_cache(out, self.cache.keys.len() as u64);
            self.announced = true;
        }
        if self.zstd.is_some() {
            &mut self.group
        } else {
            out
        }
    }

    /// The delta that makes `page` from the copy the reader keeps, if it has one
    /// and the delta fits in a page; keeps `page` as the reader will.
    pub fn delta(&mut self, block: &str, offset: u64, page: &[u8]) -> Option<Vec<u8>> {
        self.cache.delta_and_put(block, offset, page)
    }

    /// Forgets a page that is now zero or was encoded by QEMU.
    pub fn drop_page(&mut self, block: &str, offset: u64) {
        self.cache.drop_page(block, offset);
    }

    /// Hands the group over to be compressed once it is large enough (or
    /// whatever it holds at the end of a part, `end`, when it also appends
    /// every group's element to `out`); returns whether a group was handed
    /// over. Elements of groups handed over before come out in order.
    pub fn compress(&mut self, out: &mut Vec<u8>, end: bool) -> Result<bool> {
        let Some(groups) = &mut self.zstd else {
            return Ok(false);
        };
        let made = !self.group.is_empty() && (end || self.group.len() >= GROUP);
        if made {
            let group = std::mem::take(&mut self.group);
            self.group = groups.submit(group, out)?;
        }
        if end {
            groups.drain(out)?;
        }
        Ok(made)
    }
}

/// What the reader of a compressed stream keeps: the delta cache, and what
/// each group is decompressed with.
#[derive(Debug, Default)]
pub struct Received {
    /// The delta cache, as the writer keeps it.
    pub cache: PageCache,
    pub(super) group: GroupBuffer,
}

/// The buffer and zstd context a group is decompressed with, kept for the next
/// group: no allocation, no fresh pages and no context per group.
#[derive(Default)]
pub(super) struct GroupBuffer {
    out: Vec<u8>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for GroupBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupBuffer")
            .field("capacity", &self.out.capacity())
            .finish()
    }
}

impl GroupBuffer {
    /// The elements a `zstd [9]` element holds, `octets` of them: checked
    /// against [`GROUP_MAX`] before anything is allocated, and against the frame.
    pub(super) fn unzstd(&mut self, octets: u64, data: &[u8], at: u64) -> Result<&[u8]> {
        let bad = |what: String| Error::new(ErrorKind::Framing(what), at);
        if octets > GROUP_MAX {
            return Err(bad(format!(
                "a zstd group of {octets} octets (at most {GROUP_MAX})"
            )));
        }
        let z = match &mut self.zstd {
            Some(z) => z,
            None => self
                .zstd
                .insert(zstd::bulk::Decompressor::new().map_err(|e| bad(format!("zstd: {e}")))?),
        };
        self.out.clear();
        self.out.reserve(octets as usize);
        // Into the spare capacity and never beyond it: a frame that holds more
        // than it says is an error, not a larger buffer.
        z.decompress_to_buffer(data, &mut self.out)
            .map_err(|e| bad(format!("a zstd group does not decompress ({e})")))?;
        if self.out.len() as u64 != octets {
            return Err(bad(format!(
                "a zstd group of {} octets, where it says {octets}",
                self.out.len()
            )));
        }
        Ok(&self.out)
    }
}
