//! A guest that keeps writing its memory, for live migrations: a multiboot kernel
//! (`qemu -kernel`, booted by SeaBIOS into 32-bit protected mode with flat
//! segments) that first writes each page's address into the page's first word
//! from 2 MiB to the top of RAM, so every page is a data page, then increments the
//! second word of each page in `[2 MiB, 6 MiB)`, round after round, forever: 1024
//! pages a live migration sends again and again while the guest runs.
//!
//! The kernel, assembled by GNU `as --32` and `objcopy -O binary` from:
//!
//! ```text
//! header: .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)  # flags: a.out kludge
//!         .long 0x100000, 0x100000, 0, 0, 0x100000 + entry - header  # load at 1 MiB
//! entry:  cli
//!         mov $0x200000, %esi
//! 1:      mov %esi, (%esi)          # each page's first word: its address
//!         add $0x1000, %esi
//!         cmp $TOP, %esi            # patched: the top of RAM
//!         jb 1b
//! spin:   mov $0x200000, %esi
//! 2:      incl 4(%esi)              # each page's second word: a counter
//!         add $0x1000, %esi
//!         cmp $0x600000, %esi
//!         jb 2b
//!         jmp spin
//! ```
//!
//! [`idle_kernel`] halts instead of `spin`, for measuring a migration alone.

/// The kernel as assembled, with `TOP` as `0x12345678`.
const KERNEL: [u8; 78] = [
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00,
    0xfa, 0xbe, 0x00, 0x00, 0x20, 0x00, 0x89, 0x36, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00, 0x81, 0xfe,
    0x78, 0x56, 0x34, 0x12, 0x72, 0xf0, 0xbe, 0x00, 0x00, 0x20, 0x00, 0xff, 0x46, 0x04, 0x81, 0xc6,
    0x00, 0x10, 0x00, 0x00, 0x81, 0xfe, 0x00, 0x00, 0x60, 0x00, 0x72, 0xef, 0xeb, 0xe8,
];

/// Where `TOP` is in [`KERNEL`] (the immediate of the first `cmp`).
const TOP_AT: usize = 0x30;

/// Where the `spin` loop starts in [`KERNEL`].
const SPIN_AT: usize = 0x36;

/// Where `HOT_END` is in [`KERNEL`] (the immediate of the second `cmp`).
const HOT_END_AT: usize = 0x46;

/// The first page the guest writes, and the end of the pages it keeps writing.
pub const FIRST: u64 = 0x20_0000;
/// The end of the pages the guest keeps incrementing.
pub const HOT_END: u64 = 0x60_0000;

/// The kernel for a guest of `ram_mib` MiB (all below the PCI hole: at most
/// 3 GiB).
pub fn kernel(ram_mib: u32) -> Vec<u8> {
    assert!((8..=3072).contains(&ram_mib), "{ram_mib} MiB");
    kernel_writing(ram_mib << 20, HOT_END as u32)
}

/// The kernel that fills `[FIRST, top)` and then keeps writing `[FIRST,
/// hot_end)`: a small guest for fixtures, whose stream holds only those pages.
pub fn kernel_writing(top: u32, hot_end: u32) -> Vec<u8> {
    let mut k = KERNEL.to_vec();
    assert_eq!(k[TOP_AT..TOP_AT + 4], 0x1234_5678u32.to_le_bytes());
    assert_eq!(
        k[HOT_END_AT..HOT_END_AT + 4],
        (HOT_END as u32).to_le_bytes()
    );
    k[TOP_AT..TOP_AT + 4].copy_from_slice(&top.to_le_bytes());
    k[HOT_END_AT..HOT_END_AT + 4].copy_from_slice(&hot_end.to_le_bytes());
    k
}

/// The kernel of an idle guest: it fills its RAM as [`kernel`]'s does, then halts
/// (`hlt` with interrupts off: its vCPU then takes no host CPU), so a migration
/// measures the transfer alone.
pub fn idle_kernel(ram_mib: u32) -> Vec<u8> {
    let mut k = kernel(ram_mib);
    // `spin: hlt; jmp spin`
    k[SPIN_AT..SPIN_AT + 3].copy_from_slice(&[0xf4, 0xeb, 0xfd]);
    k
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_is_a_multiboot_header_and_top_is_patched() {
        let k = super::kernel(64);
        let word = |i: usize| u32::from_le_bytes(k[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(word(0), 0x1BAD_B002);
        assert_eq!(word(0).wrapping_add(word(1)).wrapping_add(word(2)), 0);
        assert_eq!(word(7), 0x10_0020, "entry just after the header");
        assert_eq!(
            k[super::TOP_AT..super::TOP_AT + 4],
            (64u32 << 20).to_le_bytes()
        );
    }
}
