//! RAM blocks in rust-vmm's `vm-memory`: how a VMM built on it (Firecracker, Cloud
//! Hypervisor, rust-vmm's own) hands its guest memory to the saver and the loader.
//!
//! A block is a range of guest-physical addresses ([`GuestRange`]): QEMU names its
//! blocks (`pc.ram`), a KVM VM maps them at addresses, and one block may span
//! several of the VMM's regions. Every read and write is `vm-memory`'s volatile
//! copy. What dirtied a page is two things: the guest, which KVM's dirty log
//! reports, and the VMM itself (a virtio device's writes through `vm-memory`), which
//! its [`AtomicBitmap`] records: [`add_vmm_writes`] ORs the latter into the
//! former, slot by slot.
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
//! use vm_memory::bitmap::AtomicBitmap;
//! use vmstate_runtime::io::Writer;
//! use vmstate_runtime::ram::{self, GuestRange, Pages, RamBlock, RamBlockMut, RamLoader, RamSaver};
//! use vmstate_runtime::Format;
//!
//! let guest = GuestMemoryMmap::<AtomicBitmap>::from_ranges(&[(GuestAddress(0), 1 << 20)])
//!     .expect("mmap");
//! guest.write_slice(b"hello", GuestAddress(0x3000)).expect("in RAM");
//! let src = GuestRange::new(&guest, GuestAddress(0), 1 << 20)?;
//! let saver = RamSaver::new(vec![RamBlock { name: "pc.ram", mem: &src }])?;
//! let mut w = Writer::new(Vec::new());
//! saver.write_setup(Format::Legacy, &mut w)?;
//! saver.write_part(Format::Legacy, Pages::All, &mut w)?;
//! let stream = w.into_inner();
//!
//! let dest = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).expect("mmap");
//! let mut dst = GuestRange::new(&dest, GuestAddress(0), 1 << 20)?;
//! let mut loader = RamLoader::new(vec![RamBlockMut { name: "pc.ram", mem: &mut dst }]);
//! let used = loader.load_legacy(&stream, 0)?;
//! loader.load_legacy(&stream[used..], used as u64)?;
//! let mut back = [0u8; 5];
//! dest.read_slice(&mut back, GuestAddress(0x3000)).expect("in RAM");
//! assert_eq!(&back, b"hello");
//!
//! // The VMM's own write is in the source's bitmap: page 3.
//! let region = guest.iter().next().expect("one region");
//! let mut log = vec![0u64; 4]; // as KVM_GET_DIRTY_LOG would return it
//! ram::add_vmm_writes(&mut log, region);
//! assert_eq!(log[0], 1 << 3);
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

use super::memory::{GuestRam, GuestRamMut};
use crate::error::{Error, ErrorKind, Result};
use std::io;
use vm_memory::bitmap::AtomicBitmap;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestRegionMmap, MmapRegion};

/// A RAM block that is `len` bytes of a VM's guest-physical memory from `start`.
#[derive(Debug, Clone, Copy)]
pub struct GuestRange<'a, M> {
    mem: &'a M,
    start: GuestAddress,
    len: u64,
}

impl<'a, M: GuestMemory> GuestRange<'a, M> {
    /// The block at `[start, start + len)` of `mem`, which must all be memory.
    pub fn new(mem: &'a M, start: GuestAddress, len: u64) -> Result<Self> {
        let backed = usize::try_from(len).is_ok_and(|n| {
            start.0.checked_add(len).is_some()
                && mem.check_range(start, n, vm_memory::Permissions::ReadWrite)
        });
        if !backed {
            return Err(Error::new(
                ErrorKind::Framing(format!(
                    "guest memory has no {len:#x} bytes at {:#x} for a RAM block",
                    start.0
                )),
                0,
            ));
        }
        Ok(GuestRange { mem, start, len })
    }

    fn at(&self, offset: u64, n: usize) -> io::Result<GuestAddress> {
        match offset.checked_add(n as u64) {
            Some(end) if end <= self.len => Ok(GuestAddress(self.start.0 + offset)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{n} bytes at {offset:#x} are outside a block of {:#x}",
                    self.len
                ),
            )),
        }
    }
}

impl<M: GuestMemory> GuestRam for GuestRange<'_, M> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
        let at = self.at(offset, dst.len())?;
        self.mem.read_slice(dst, at).map_err(io::Error::other)
    }
}

impl<M: GuestMemory> GuestRamMut for GuestRange<'_, M> {
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
        let at = self.at(offset, src.len())?;
        self.mem.write_slice(src, at).map_err(io::Error::other)
    }
}

/// Adds to `log`, `KVM_GET_DIRTY_LOG`'s bitmap of `region`'s memory slot (bit
/// `i % 64` of word `i / 64` is the region's page `i`), the pages the VMM wrote
/// through `vm-memory` since the last call, clearing them in the region's bitmap.
pub fn add_vmm_writes(log: &mut [u64], region: &GuestRegionMmap<AtomicBitmap>) {
    for (a, b) in log
        .iter_mut()
        .zip(MmapRegion::bitmap(region).get_and_reset())
    {
        *a |= b;
    }
}
