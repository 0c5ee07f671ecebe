//! A tiny 64-bit guest on a real KVM vCPU, for the tests and the live-migration
//! example: it runs deterministic work that depends on its registers and memory and
//! reports each step through an `out` to port 0x10.
//!
//! It runs in long mode with 4-level paging, and reaches its ring of memory through
//! an alias that only its page tables provide (virtual 0x1ff000 is physical 0x2000,
//! outside the identity map's RAM), so a restore must carry what a real VMM's must:
//! the 64-bit general registers (r12 and r13 included), RIP and flags, CR0/CR3/CR4,
//! EFER, the long-mode segment state, and the memory, page tables included.

use kvm_bindings::{kvm_pit_config, kvm_userspace_memory_region, KVM_MEM_LOG_DIRTY_PAGES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::bitmap::AtomicBitmap;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use vmstate_examples::kvm_vmm::flat_segment;
use vmstate_runtime::kvm::{self as vkvm, Host, VcpuState, VmWideState};
use vmstate_runtime::ram::{self, GuestRange};

/// Guest memory as the VMM holds it: `vm-memory`'s, with a bitmap of the VMM's own
/// writes.
pub type Memory = GuestMemoryMmap<AtomicBitmap>;

/// The RAM block's name, QEMU's.
pub const BLOCK: &str = "pc.ram";

/// Guest RAM: 1 MiB at guest-physical 0.
pub const MEM_SIZE: usize = 1 << 20;
/// Where the code is loaded and starts.
pub const CODE_AT: usize = 0x1000;
/// The port the guest reports on.
pub const PORT: u16 = 0x10;
/// Guest-physical address of the ring (512 bytes) the program mixes into its state.
pub const RING_AT: usize = 0x2000;
/// The virtual address the program uses for the ring: mapped by its page tables only.
pub const RING_VIRT: u64 = 0x1f_f000;
/// The page tables: PML4, PDPT, PD and one page table, a page each.
const PML4_AT: usize = 0x8000;

/// One step's report: the low 32 bits of the generator state.
pub type Report = u32;

/// The guest program (64-bit long mode):
///
/// ```text
///         mov r12, 1              ; generator state
///         xor r13d, r13d          ; step counter
///         mov ebx, 0x1ff000       ; the ring, through the page-table alias
///         mov edx, 0x10
/// step:   mov rcx, r12            ; r12 = r12 * 5 + step
///         shl r12, 2
///         add r12, rcx
///         inc r13
///         add r12, r13
///         xor r12, [rbx]          ; mix in the ring word from 64 steps ago
///         rol r12, 17             ; (so its high bits reach the report)
///         mov [rbx], r12          ; and write it back
///         add rbx, 8              ; next word, wrapping in 0x1ff000..0x1ff1ff
///         and rbx, 0x1ff1f8
///         mov eax, r12d           ; report
///         out dx, eax
///         jmp step
/// ```
pub const PROGRAM: [u8; 63] = [
    0x49, 0xc7, 0xc4, 0x01, 0x00, 0x00, 0x00, // mov r12, 1
    0x45, 0x31, 0xed, // xor r13d, r13d
    0xbb, 0x00, 0xf0, 0x1f, 0x00, // mov ebx, 0x1ff000
    0xba, 0x10, 0x00, 0x00, 0x00, // mov edx, 0x10
    0x4c, 0x89, 0xe1, // mov rcx, r12
    0x49, 0xc1, 0xe4, 0x02, // shl r12, 2
    0x49, 0x01, 0xcc, // add r12, rcx
    0x49, 0xff, 0xc5, // inc r13
    0x4d, 0x01, 0xec, // add r12, r13
    0x4c, 0x33, 0x23, // xor r12, [rbx]
    0x49, 0xc1, 0xc4, 0x11, // rol r12, 17
    0x4c, 0x89, 0x23, // mov [rbx], r12
    0x48, 0x83, 0xc3, 0x08, // add rbx, 8
    0x48, 0x81, 0xe3, 0xf8, 0xf1, 0x1f, 0x00, // and rbx, 0x1ff1f8
    0x44, 0x89, 0xe0, // mov eax, r12d
    0xef, // out dx, eax
    0xeb, 0xd5, // jmp step
];

/// Writes the page tables: the first MiB identity-mapped with 4 KiB pages, and
/// `RING_VIRT` mapped to `RING_AT`.
fn write_page_tables(mem: &Memory) -> vmstate_runtime::Result<()> {
    const PRESENT_WRITABLE: u64 = 0b11;
    let entry = |table: usize, index: usize, value: u64| {
        mem.write_obj(value.to_le(), GuestAddress((table + index * 8) as u64))
            .map_err(io("page tables"))
    };
    let (pdpt, pd, pt) = (PML4_AT + 0x1000, PML4_AT + 0x2000, PML4_AT + 0x3000);
    entry(PML4_AT, 0, pdpt as u64 | PRESENT_WRITABLE)?;
    entry(pdpt, 0, pd as u64 | PRESENT_WRITABLE)?;
    entry(pd, 0, pt as u64 | PRESENT_WRITABLE)?;
    for page in 0..MEM_SIZE / 4096 {
        entry(pt, page, (page * 4096) as u64 | PRESENT_WRITABLE)?;
    }
    entry(
        pt,
        (RING_VIRT / 4096) as usize,
        RING_AT as u64 | PRESENT_WRITABLE,
    )
}

/// The pages written since the last call (needs `Guest::new(true)`): by the guest,
/// as KVM's dirty log says, and by the VMM through `vm-memory`, as its bitmap does.
pub fn dirty_pages(vm: &VmFd, mem: &Memory) -> vmstate_runtime::Result<Vec<u64>> {
    let mut log = vm
        .get_dirty_log(0, MEM_SIZE)
        .map_err(io("KVM_GET_DIRTY_LOG"))?;
    // One region, memory slot 0.
    for region in mem.iter() {
        ram::add_vmm_writes(&mut log, region);
    }
    Ok(log)
}

/// Runs the guest until `done(reports)`; returns its reports.
pub fn run_until(
    vcpu: &mut VcpuFd,
    mut done: impl FnMut(&[Report]) -> bool,
) -> vmstate_runtime::Result<Vec<Report>> {
    let mut out = Vec::new();
    while !done(&out) {
        match vcpu.run().map_err(io("KVM_RUN"))? {
            VcpuExit::IoOut(PORT, &[a, b, c, d]) => {
                out.push(Report::from_le_bytes([a, b, c, d]));
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
    /// The guest's memory (`vm` maps it, and is dropped first).
    mem: Memory,
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
        let mem = Memory::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).map_err(io("mmap"))?;
        let host = mem
            .find_region(GuestAddress(0))
            .ok_or_else(|| io::<&str>("mmap")("no region"))?
            .as_ptr();
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: MEM_SIZE as u64,
            userspace_addr: host as u64,
            flags: if dirty_log {
                KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
        };
        // SAFETY: the region is `mem`'s mapping of `MEM_SIZE` bytes, which lives as
        // long as the VM (both are fields of `Guest`, and `vm` is dropped first);
        // the VMM reaches it only through `vm-memory`'s volatile copies.
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
            mem,
        })
    }

    /// The guest's memory.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// The RAM block, to save or to load into.
    pub fn ram(&self) -> GuestRange<'_, Memory> {
        GuestRange::new(&self.mem, GuestAddress(0), MEM_SIZE as u64)
            .expect("the guest's memory is one region of MEM_SIZE")
    }

    /// Loads the program and its page tables and points the vCPU at it, in long
    /// mode with paging, flat 64-bit segments and interrupts off.
    pub fn boot(&mut self) -> vmstate_runtime::Result<()> {
        self.mem
            .write_slice(&PROGRAM, GuestAddress(CODE_AT as u64))
            .map_err(io("program"))?;
        write_page_tables(&self.mem)?;
        let mut sregs = self.vcpu.get_sregs().map_err(io("KVM_GET_SREGS"))?;
        sregs.cs = flat_segment(0x8, 0xb, true);
        let data = flat_segment(0x10, 0x3, false);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        sregs.cr3 = PML4_AT as u64;
        sregs.cr4 = 1 << 5; // PAE
        sregs.cr0 = 1 | 1 << 4 | 1 << 5 | 1 << 31; // PE, ET, NE, PG
        sregs.efer = 1 << 8 | 1 << 10; // LME, LMA
        self.vcpu.set_sregs(&sregs).map_err(io("KVM_SET_SREGS"))?;
        let regs = kvm_bindings::kvm_regs {
            rip: CODE_AT as u64,
            rflags: 2,
            ..Default::default()
        };
        self.vcpu.set_regs(&regs).map_err(io("KVM_SET_REGS"))
    }

    /// Runs until the guest has reported `n` times; returns the reports.
    pub fn run(&mut self, n: usize) -> vmstate_runtime::Result<Vec<Report>> {
        run_until(&mut self.vcpu, |reports| reports.len() >= n)
    }

    /// The vCPU (to run on another thread), the memory and the VM (to read
    /// meanwhile), and the host's KVM facts (to capture the vCPU once it stopped).
    pub fn split(&mut self) -> (&mut VcpuFd, &Memory, &VmFd, &Host) {
        (&mut self.vcpu, &self.mem, &self.vm, &self.host)
    }

    /// The vCPU's and the VM's KVM state.
    pub fn capture(&self) -> vmstate_runtime::Result<(VcpuState, VmWideState)> {
        Ok((
            vkvm::capture(&self.host, &self.vcpu)?,
            vkvm::capture_vm(&self.vm, true, true)?,
        ))
    }

    /// Puts a captured state into this VM (the RAM is loaded separately).
    pub fn restore(&mut self, vcpu: &VcpuState, vm: &VmWideState) -> vmstate_runtime::Result<()> {
        vkvm::restore_vm(&self.vm, vm)?;
        vkvm::restore(&self.host, &self.vcpu, vcpu)
    }

    /// The pages the guest wrote since the last call (one bitmap word per 64 pages).
    pub fn dirty_pages(&self) -> vmstate_runtime::Result<Vec<u64>> {
        dirty_pages(&self.vm, &self.mem)
    }
}
