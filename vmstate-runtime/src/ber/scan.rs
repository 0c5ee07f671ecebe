//! The decoder's fast path for a whole struct in memory: its fields read in place
//! with one position held in a register, nested structs and arrays included, in
//! the form vmstate's encoder writes (one-octet identifiers, definite lengths of up
//! to two octets, minimal INTEGERs, primitive strings).
//!
//! A scan never fails with an error: it answers `false` (or `None`) at the first
//! value it does not take, and the whole scan stops there, whether wrong or only written in another form BER allows, and the
//! decoder's general path then reads the struct from its start and accepts or
//! refuses it with a typed error. What a scan accepts, the general path accepts
//! with the same value, so the two paths cannot disagree (`tests/fast_paths.rs`
//! holds them equal on every catalog device and thousands of corruptions).

use super::decoder::{int_run, minimal, short_int_contents};
use super::header::Tag;

/// An identifier of one or two octets: a tag number below 128, as every field's of
/// a struct of up to 128 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    octets: [u8; 2],
    len: usize,
}

impl Id {
    /// The identifier of `tag`, if its number is below 128.
    pub const fn of(tag: Tag) -> Option<Id> {
        let first = (tag.class as u8) << 6 | (tag.constructed as u8) << 5;
        match tag.number {
            0..=30 => Some(Id {
                octets: [first | tag.number as u8, 0],
                len: 1,
            }),
            31..=127 => Some(Id {
                octets: [first | 0x1f, tag.number as u8],
                len: 2,
            }),
            _ => None,
        }
    }

    const fn constructed(&self) -> bool {
        self.octets[0] & 0x20 != 0
    }
}

/// A position in the contents of a constructed value that are all in memory.
pub struct Scan<'b> {
    b: &'b [u8],
    p: usize,
    /// End of the enclosing value in `b` (beyond it, `b` may hold more input: an
    /// INTEGER is read with one eight-octet load).
    end: usize,
    /// Constructed values the decoder's nesting bound still allows.
    depth: usize,
}

impl<'b> Scan<'b> {
    /// A scan of `b[..end]`, nested at most `depth` levels further.
    pub(super) fn new(b: &'b [u8], end: usize, depth: usize) -> Self {
        Scan {
            b,
            p: 0,
            end,
            depth,
        }
    }

    /// Octets taken.
    pub(super) fn taken(&self) -> usize {
        self.p
    }

    /// Moves past identifier `id` if it comes next.
    #[inline(always)]
    fn ident(&mut self, id: Id) -> bool {
        let (p, [first, second]) = (self.p, id.octets);
        let next = p + id.len;
        // Compared octet by octet: a slice comparison is a `memcmp` call.
        if next > self.end || self.b[p] != first || (id.len == 2 && self.b[p + 1] != second) {
            return false;
        }
        self.p = next;
        true
    }

    /// An INTEGER (or ENUMERATED) with identifier `id`: up to nine contents octets
    /// (a `u64` above `i64::MAX` takes nine), minimal, inside the enclosing value.
    #[inline(always)]
    pub fn int(&mut self, id: Id) -> Option<i128> {
        if !self.ident(id) {
            return None;
        }
        let p = self.p;
        let (b, room) = (&self.b[p..], self.end - p);
        if let Some((x, len)) = short_int_contents(b, room) {
            self.p = p + len;
            return Some(x.into());
        }
        // A u64 above i64::MAX: nine octets, the first zero and the second's top
        // bit set (else it would not be minimal).
        if let Some(&[9, 0, ref c @ ..]) = b.get(..10) {
            if room >= 10 && c[0] & 0x80 != 0 {
                self.p = p + 10;
                return Some(u64::from_be_bytes(c.try_into().ok()?).into());
            }
        }
        // Near the input's end: the eight octets that end where the contents end.
        let n = usize::from(*b.first()?);
        let e = p + 1 + n;
        if (1..=8).contains(&n) && n < room && e >= 8 {
            let shift = 64 - 8 * n as u32;
            let w = u64::from_be_bytes(self.b[e - 8..e].try_into().ok()?);
            let x = ((w << shift) as i64) >> shift;
            if !minimal(x, n) {
                return None;
            }
            self.p = e;
            return Some(x.into());
        }
        self.int_near_end()
    }

    /// A run of short INTEGERs with the one-octet identifier `id` (the elements of
    /// a SEQUENCE OF INTEGER), the position held in a register: at most `max`
    /// values handed to `store(index, value)`, stopping where `store` refuses one
    /// or an element needs [`int`](Self::int); returns how many were taken.
    #[inline(always)]
    pub fn ints(&mut self, id: u8, max: usize, store: impl FnMut(usize, i64) -> bool) -> usize {
        let (p, i) = int_run(self.b, self.p, self.end, id, max, store);
        self.p = p;
        i
    }

    /// Length and contents of [`int`](Self::int) octet by octet: at the very start
    /// of the input, or nine octets near its end.
    #[inline(never)]
    fn int_near_end(&mut self) -> Option<i128> {
        let &[n, ref rest @ ..] = self.b.get(self.p..self.end)? else {
            return None;
        };
        let n = usize::from(n);
        let c = rest.get(..n)?;
        if n == 0 || n > 9 {
            return None;
        }
        if n > 1 && matches!((c[0], c[1] & 0x80), (0, 0) | (0xff, 0x80)) {
            return None;
        }
        // Sign-extended from the first octet; a ninth (the first is then the sign
        // alone) shifts it out of the 64 bits.
        let first = i64::from(c[0] as i8);
        let low = c[1..].iter().fold(first, |a, &x| (a << 8) | i64::from(x));
        self.p += 1 + n;
        Some(match n {
            9 => i128::from(low as u64) - (i128::from(first < 0) << 64),
            _ => i128::from(low),
        })
    }

    /// Identifier `id` and a definite length (short form, or long form of one or
    /// two octets) of a value that fits the enclosing value: moves past the header
    /// and returns the contents' length.
    #[inline(always)]
    fn header(&mut self, id: Id) -> Option<usize> {
        if !self.ident(id) {
            return None;
        }
        let b = &self.b[self.p..self.end];
        let (len, octets) = match *b {
            [l @ 0..=0x7f, ..] => (usize::from(l), 1),
            [0x81, l, ..] => (usize::from(l), 2),
            [0x82, h, l, ..] => (usize::from(u16::from_be_bytes([h, l])), 3),
            _ => (usize::MAX, 0),
        };
        if len > b.len().saturating_sub(octets) {
            return None;
        }
        self.p += octets;
        Some(len)
    }

    /// The contents of a primitive value with identifier `id` and exactly `n`
    /// contents octets.
    #[inline(always)]
    pub fn octets(&mut self, id: Id, n: usize) -> Option<&'b [u8]> {
        if id.constructed() || self.header(id)? != n {
            return None;
        }
        let c = &self.b[self.p..self.p + n];
        self.p += n;
        Some(c)
    }

    /// Enters the constructed value with identifier `id`; returns the enclosing
    /// value's end, for [`leave`](Self::leave).
    #[inline(always)]
    pub fn enter(&mut self, id: Id) -> Option<usize> {
        if !id.constructed() || self.depth == 0 {
            return None;
        }
        let len = self.header(id)?;
        self.depth -= 1;
        Some(std::mem::replace(&mut self.end, self.p + len))
    }

    /// Leaves the value entered, which must have been read to its end.
    #[inline(always)]
    pub fn leave(&mut self, outer: usize) -> bool {
        if self.p != self.end {
            return false;
        }
        self.end = outer;
        self.depth += 1;
        true
    }
}
