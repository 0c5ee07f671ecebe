//! A tiny real-mode guest on a real KVM vCPU, for the tests and the live-migration
//! example: it runs deterministic work that depends on its registers and memory and
//! reports each step through an `out` to port 0x10.
//!
//! Real mode keeps the guest to 33 bytes of hand-assembled code with no page tables,
//! while still exercising what a migration must carry: general registers (the
//! generator state in AX, the pointer in BX), flags, segment state, and memory that
//! every step reads and writes.

use kvm_bindings::{kvm_pit_config, kvm_userspace_memory_region, KVM_MEM_LOG_DIRTY_PAGES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vmstate_runtime::kvm::{self as vkvm, Host, VcpuState, VmState};
use vmstate_runtime::ram::{RamBlock, RamBlockMut};

/// Guest RAM: 1 MiB at guest-physical 0.
pub const MEM_SIZE: usize = 1 << 20;
/// Where the code is loaded and starts.
pub const CODE_AT: usize = 0x1000;
/// The port the guest reports on.
pub const PORT: u16 = 0x10;

/// The guest program (16-bit real mode):
///
/// ```text
///         mov ax, 1           ; generator state
///         mov bx, 0x2000      ; pointer into a 512-byte ring of words
///         mov dx, 0x10
/// step:   mov cx, ax          ; ax = ax * 5 + 7
///         shl ax, 2
///         add ax, cx
///         add ax, 7
///         xor ax, [bx]        ; mix in the ring, write it back
///         mov [bx], ax
///         add bx, 2           ; next word, wrapping in 0x2000..0x21ff
///         and bx, 0x21fe
///         out dx, ax          ; report
///         jmp step
/// ```
pub const PROGRAM: [u8; 33] = [
    0xb8, 0x01, 0x00, // mov ax, 1
    0xbb, 0x00, 0x20, // mov bx, 0x2000
    0xba, 0x10, 0x00, // mov dx, 0x10
    0x89, 0xc1, // mov cx, ax
    0xc1, 0xe0, 0x02, // shl ax, 2
    0x01, 0xc8, // add ax, cx
    0x05, 0x07, 0x00, // add ax, 7
    0x33, 0x07, // xor ax, [bx]
    0x89, 0x07, // mov [bx], ax
    0x83, 0xc3, 0x02, // add bx, 2
    0x81, 0xe3, 0xfe, 0x21, // and bx, 0x21fe
    0xef, // out dx, ax
    0xeb, 0xe8, // jmp step
];

/// The pages the guest wrote since the last call (needs `Guest::new(true)`).
pub fn dirty_pages(vm: &VmFd) -> vmstate_runtime::Result<Vec<u64>> {
    vm.get_dirty_log(0, MEM_SIZE)
        .map_err(io("KVM_GET_DIRTY_LOG"))
}

/// Runs the guest until `done(reports)`; returns its reports.
pub fn run_until(
    vcpu: &mut VcpuFd,
    mut done: impl FnMut(&[u16]) -> bool,
) -> vmstate_runtime::Result<Vec<u16>> {
    let mut out = Vec::new();
    while !done(&out) {
        match vcpu.run().map_err(io("KVM_RUN"))? {
            VcpuExit::IoOut(PORT, data) if data.len() == 2 => {
                out.push(u16::from_le_bytes([data[0], data[1]]));
            }
            other => {
                return Err(io::<String>("guest")(format!("unexpected exit {other:?}")));
            }
        }
    }
    Ok(out)
}

/// A VM with an in-kernel irqchip and PIT, one vCPU and 1 MiB of RAM.
pub struct Guest {
    /// KVM.
    pub kvm: Kvm,
    /// The VM.
    pub vm: VmFd,
    /// Its vCPU.
    pub vcpu: VcpuFd,
    /// What the host's KVM offers.
    pub host: Host,
    /// The RAM's backing store; the guest's memory is `backing[offset..]`.
    backing: Vec<u8>,
    offset: usize,
}

fn io<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> vmstate_runtime::Error + '_ {
    move |e| vmstate_runtime::Error::new(vmstate_runtime::ErrorKind::Io(format!("{what}: {e}")), 0)
}

impl Guest {
    /// Creates the VM; with `dirty_log`, KVM tracks which pages the guest writes.
    pub fn new(dirty_log: bool) -> vmstate_runtime::Result<Guest> {
        let kvm = Kvm::new().map_err(io("open /dev/kvm"))?;
        let vm = kvm.create_vm().map_err(io("KVM_CREATE_VM"))?;
        vm.create_irq_chip().map_err(io("KVM_CREATE_IRQCHIP"))?;
        vm.create_pit2(kvm_pit_config::default())
            .map_err(io("KVM_CREATE_PIT2"))?;
        // Page-aligned guest memory inside a Vec that never reallocates.
        let backing = vec![0u8; MEM_SIZE + 4096];
        let offset = backing.as_ptr().align_offset(4096);
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: MEM_SIZE as u64,
            userspace_addr: backing[offset..].as_ptr() as u64,
            flags: if dirty_log {
                KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
        };
        // SAFETY: the region is `MEM_SIZE` bytes of `backing`, which lives as long as
        // the VM (both are fields of `Guest`, and `vm` is dropped first) and is never
        // resized.
        unsafe { vm.set_user_memory_region(region) }.map_err(io("KVM_SET_USER_MEMORY_REGION"))?;
        let vcpu = vm.create_vcpu(0).map_err(io("KVM_CREATE_VCPU"))?;
        let cpuid = kvm
            .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(io("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid).map_err(io("KVM_SET_CPUID2"))?;
        let host = Host::probe(&kvm, &vm)?;
        Ok(Guest {
            kvm,
            vm,
            vcpu,
            host,
            backing,
            offset,
        })
    }

    /// The guest's memory.
    pub fn mem(&self) -> &[u8] {
        &self.backing[self.offset..self.offset + MEM_SIZE]
    }

    /// The guest's memory, to load into.
    pub fn mem_mut(&mut self) -> &mut [u8] {
        &mut self.backing[self.offset..self.offset + MEM_SIZE]
    }

    /// The RAM as a block to save.
    pub fn ram_block(&self) -> RamBlock<'_> {
        RamBlock {
            name: "pc.ram",
            mem: self.mem(),
        }
    }

    /// The RAM as a block to load into.
    pub fn ram_block_mut(&mut self) -> RamBlockMut<'_> {
        RamBlockMut {
            name: "pc.ram",
            mem: self.mem_mut(),
        }
    }

    /// Loads the program and points the vCPU at it, in real mode with flat segments.
    pub fn boot(&mut self) -> vmstate_runtime::Result<()> {
        self.mem_mut()[CODE_AT..CODE_AT + PROGRAM.len()].copy_from_slice(&PROGRAM);
        let mut sregs = self.vcpu.get_sregs().map_err(io("KVM_GET_SREGS"))?;
        for s in [
            &mut sregs.cs,
            &mut sregs.ds,
            &mut sregs.es,
            &mut sregs.fs,
            &mut sregs.gs,
            &mut sregs.ss,
        ] {
            s.base = 0;
            s.selector = 0;
        }
        self.vcpu.set_sregs(&sregs).map_err(io("KVM_SET_SREGS"))?;
        let regs = kvm_bindings::kvm_regs {
            rip: CODE_AT as u64,
            rflags: 2,
            ..Default::default()
        };
        self.vcpu.set_regs(&regs).map_err(io("KVM_SET_REGS"))
    }

    /// Runs until the guest has reported `n` times; returns the reports.
    pub fn run(&mut self, n: usize) -> vmstate_runtime::Result<Vec<u16>> {
        run_until(&mut self.vcpu, |reports| reports.len() >= n)
    }

    /// The vCPU (to run on another thread) and the memory (to read meanwhile).
    pub fn split(&mut self) -> (&mut VcpuFd, &[u8], &VmFd) {
        let mem = &self.backing[self.offset..self.offset + MEM_SIZE];
        (&mut self.vcpu, mem, &self.vm)
    }

    /// The vCPU's and the VM's KVM state.
    pub fn capture(&self) -> vmstate_runtime::Result<(VcpuState, VmState)> {
        Ok((
            vkvm::capture(&self.host, &self.vcpu)?,
            vkvm::capture_vm(&self.vm, true, true)?,
        ))
    }

    /// Puts a captured state into this VM (the RAM is loaded separately).
    pub fn restore(&mut self, vcpu: &VcpuState, vm: &VmState) -> vmstate_runtime::Result<()> {
        vkvm::restore_vm(&self.vm, vm)?;
        vkvm::restore(&self.host, &self.vcpu, vcpu)
    }

    /// The pages the guest wrote since the last call (one bitmap word per 64 pages).
    pub fn dirty_pages(&self) -> vmstate_runtime::Result<Vec<u64>> {
        dirty_pages(&self.vm)
    }
}
