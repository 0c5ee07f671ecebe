//! A reference VMM on `kvm-ioctls` and `vm-memory` that migrates to stock QEMU: one
//! vCPU, KVM's in-kernel PICs, I/O APIC and PIT, RAM at guest-physical 0 as QEMU's
//! `pc.ram`, and a guest of its own (a multiboot kernel, or a flat binary, entered
//! in 32-bit protected mode with interrupts off, as a multiboot loader leaves it).
//!
//! Its state goes to QEMU as QEMU's own sections ([`qemu`]): the vCPU as `cpu`,
//! `cpu_common` and `apic`, the irqchip as `i8259` x2 and `ioapic`, the PIT as
//! `i8254`, the clock as `kvmclock`, with `globalstate` saying `running`, so that
//! QEMU runs the guest on without `cont`. The `vmm` example is its command line.

pub mod incoming;
pub mod qemu;

use kvm_bindings::{kvm_pit_config, kvm_segment, kvm_userspace_memory_region};
use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, KVM_MEM_LOG_DIRTY_PAGES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use vm_memory::bitmap::AtomicBitmap;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref};
use vmm_sys_util::signal::{register_signal_handler, Killable, SIGRTMIN};
use vmstate_runtime::kvm::Host;
use vmstate_runtime::ram::{self, GuestRange};

/// Any failure, with a message that says what failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Guest memory: `vm-memory`'s, with a bitmap of the VMM's own writes.
pub type Memory = GuestMemoryMmap<AtomicBitmap>;

/// QEMU's name of the RAM block at guest-physical 0.
pub const RAM_BLOCK: &str = "pc.ram";

/// Where a flat binary is loaded and entered (a multiboot kernel says where).
const FLAT_AT: u64 = 0x10_0000;
/// Where the GDT of the protected-mode entry is: flat code (0x08) and data (0x10).
const GDT_AT: u64 = 0x1000;

fn kvm<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| format!("{what}: {e}").into()
}

/// A KVM VM with one vCPU, an in-kernel irqchip and PIT, and RAM whose writes KVM
/// logs.
pub struct Vm {
    /// The VM (dropped before the memory it maps).
    pub vm: VmFd,
    /// What the host's KVM offers.
    pub host: Host,
    /// The vCPU, when it is not running on its thread.
    vcpu: Option<VcpuFd>,
    /// The guest's RAM.
    pub mem: Memory,
    kvm: Kvm,
}

/// QEMU's default machine-check capabilities: `MCG_CTL_P`, `MCG_SER_P`, 10 banks.
const QEMU_MCG_CAP: u64 = 1 << 8 | 1 << 24 | 10;

impl Vm {
    /// A VM of `mib` MiB of RAM (at most 3 GiB: all below the PCI hole).
    pub fn new(mib: u64) -> Result<Vm, Error> {
        if !(1..=3072).contains(&mib) {
            return Err(
                format!("{mib} MiB of RAM: this VMM maps 1 to 3072 MiB below 4 GiB").into(),
            );
        }
        let size = (mib << 20) as usize;
        let k = Kvm::new().map_err(kvm("open /dev/kvm"))?;
        let vm = k.create_vm().map_err(kvm("KVM_CREATE_VM"))?;
        vm.create_irq_chip().map_err(kvm("KVM_CREATE_IRQCHIP"))?;
        vm.create_pit2(kvm_pit_config::default())
            .map_err(kvm("KVM_CREATE_PIT2"))?;
        let mem = Memory::from_ranges(&[(GuestAddress(0), size)])?;
        let host_addr = mem
            .find_region(GuestAddress(0))
            .ok_or("guest memory has no region at 0")?
            .as_ptr();
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: size as u64,
            userspace_addr: host_addr as u64,
            flags: KVM_MEM_LOG_DIRTY_PAGES,
        };
        // SAFETY: the region is `mem`'s mapping of `size` bytes, which lives as long
        // as the VM (both are fields of `Vm`, and `vm` is dropped first); the VMM
        // reaches it only through `vm-memory`'s volatile copies.
        unsafe { vm.set_user_memory_region(region) }.map_err(kvm("KVM_SET_USER_MEMORY_REGION"))?;
        let vcpu = vm.create_vcpu(0).map_err(kvm("KVM_CREATE_VCPU"))?;
        let cpuid = k
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid).map_err(kvm("KVM_SET_CPUID2"))?;
        let host = Host::probe(&k, &vm)?;
        let vm = Vm {
            vm,
            host,
            vcpu: Some(vcpu),
            mem,
            kvm: k,
        };
        vm.setup_mce(QEMU_MCG_CAP)?;
        Ok(vm)
    }

    /// Sets the vCPU's machine-check capabilities (`MCG_CAP`) as QEMU does
    /// (`KVM_X86_SETUP_MCE`), those the host's KVM supports: without it KVM has
    /// no `MCG_CTL` and refuses QEMU's value of it.
    pub fn setup_mce(&self, mcg_cap: u64) -> Result<(), Error> {
        const KVMIO: u32 = 0xae;
        vmm_sys_util::ioctl_ior_nr!(KVM_X86_GET_MCE_CAP_SUPPORTED, KVMIO, 0x9d, u64);
        vmm_sys_util::ioctl_iow_nr!(KVM_X86_SETUP_MCE, KVMIO, 0x9c, u64);
        let mut supported = 0u64;
        // SAFETY: the ioctl writes one u64, `supported`.
        let r = unsafe {
            ioctl_with_mut_ref(&self.kvm, KVM_X86_GET_MCE_CAP_SUPPORTED(), &mut supported)
        };
        if r < 0 {
            return Err(format!(
                "KVM_X86_GET_MCE_CAP_SUPPORTED: {}",
                std::io::Error::last_os_error()
            )
            .into());
        }
        // KVM_CAP_MCE's value is the banks it supports (QEMU's
        // kvm_get_mce_cap_supported).
        let (banks, max) = (
            mcg_cap & 0xff,
            self.kvm.check_extension_int(kvm_ioctls::Cap::Mce),
        );
        if banks > u64::try_from(max).unwrap_or(0) {
            return Err(format!("{banks} machine-check banks: this host's KVM has {max}").into());
        }
        let cap = mcg_cap & (supported | 0xff);
        // SAFETY: the ioctl reads one u64, `cap`.
        let r = unsafe { ioctl_with_ref(self.vcpu()?, KVM_X86_SETUP_MCE(), &cap) };
        if r < 0 {
            return Err(format!("KVM_X86_SETUP_MCE: {}", std::io::Error::last_os_error()).into());
        }
        Ok(())
    }

    /// RAM size in bytes.
    pub fn ram_size(&self) -> u64 {
        self.mem.iter().map(|r| r.len()).sum()
    }

    /// The RAM as QEMU's `pc.ram` block.
    pub fn ram(&self) -> Result<GuestRange<'_, Memory>, Error> {
        Ok(GuestRange::new(
            &self.mem,
            GuestAddress(0),
            self.ram_size(),
        )?)
    }

    /// The pages written since the last call: by the guest (KVM's dirty log) and by
    /// the VMM (`vm-memory`'s bitmap).
    pub fn dirty_pages(&self) -> vmstate_runtime::Result<Vec<u64>> {
        let size = self.ram_size() as usize;
        let mut log = self.vm.get_dirty_log(0, size).map_err(|e| {
            vmstate_runtime::Error::new(
                vmstate_runtime::ErrorKind::Io(format!("KVM_GET_DIRTY_LOG: {e}")),
                0,
            )
        })?;
        // One region, memory slot 0.
        for region in self.mem.iter() {
            ram::add_vmm_writes(&mut log, region);
        }
        Ok(log)
    }

    /// The vCPU, stopped.
    pub fn vcpu(&self) -> Result<&VcpuFd, Error> {
        self.vcpu
            .as_ref()
            .ok_or_else(|| "the vCPU is running".into())
    }

    /// Loads `image` and points the vCPU at its entry, in 32-bit protected mode with
    /// flat segments and interrupts off: a multiboot kernel (its a.out-kludge header
    /// says where) or a flat binary (at 1 MiB, entered at its first byte).
    pub fn load_kernel(&mut self, image: &[u8]) -> Result<(), Error> {
        let Load {
            at: load_at,
            bytes,
            entry,
        } = multiboot(image)?.unwrap_or(Load {
            at: FLAT_AT,
            bytes: image,
            entry: FLAT_AT,
        });
        let end = load_at + bytes.len() as u64;
        if end > self.ram_size() {
            return Err(format!("the kernel ends at {end:#x}, beyond RAM").into());
        }
        self.mem.write_slice(bytes, GuestAddress(load_at))?;
        // GDT: null, flat 32-bit code, flat data (what a multiboot loader leaves).
        let gdt: [u64; 3] = [0, 0x00cf_9b00_0000_ffff, 0x00cf_9300_0000_ffff];
        for (i, d) in gdt.iter().enumerate() {
            self.mem
                .write_obj(d.to_le(), GuestAddress(GDT_AT + 8 * i as u64))?;
        }
        let vcpu = self.vcpu()?;
        let mut sregs = vcpu.get_sregs().map_err(kvm("KVM_GET_SREGS"))?;
        sregs.cs = flat_segment(0x08, 0xb, false);
        let data = flat_segment(0x10, 0x3, false);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        sregs.gdt.base = GDT_AT;
        sregs.gdt.limit = 23;
        sregs.cr0 = 1 | 1 << 4; // PE, ET
        vcpu.set_sregs(&sregs).map_err(kvm("KVM_SET_SREGS"))?;
        let regs = kvm_bindings::kvm_regs {
            rip: entry,
            rflags: 2,
            rax: 0x2bad_b002, // the multiboot magic
            ..Default::default()
        };
        vcpu.set_regs(&regs).map_err(kvm("KVM_SET_REGS"))?;
        Ok(())
    }

    /// Runs the vCPU on a thread of its own until [`Running::stop`].
    pub fn run(&mut self) -> Result<Running, Error> {
        let vcpu = self.vcpu.take().ok_or("the vCPU is running already")?;
        kick_handler()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut vcpu = vcpu;
            let r = run_vcpu(&mut vcpu, &flag);
            (vcpu, r)
        });
        Ok(Running { thread, stop })
    }

    /// Takes the vCPU back from [`Running::stop`].
    pub fn stopped(&mut self, vcpu: VcpuFd) {
        self.vcpu = Some(vcpu);
    }
}

/// A present ring-0 segment over all 4 GiB (base 0, 4 KiB granularity) of `type_`
/// (0xb: code, execute/read, accessed; 0x3: data, read/write, accessed): 32-bit,
/// or 64-bit code when `long`.
pub fn flat_segment(selector: u16, type_: u8, long: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        ..Default::default()
    }
}

/// Where to load which bytes of a kernel image, and where to enter it.
struct Load<'i> {
    at: u64,
    bytes: &'i [u8],
    entry: u64,
}

/// A multiboot header with load addresses (flag bit 16) in the first 8 KiB: how
/// to load the image.
fn multiboot(image: &[u8]) -> Result<Option<Load<'_>>, Error> {
    const MAGIC: u32 = 0x1bad_b002;
    let word = |at: usize| {
        image
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(at) = (0..image.len().min(8192).saturating_sub(11))
        .step_by(4)
        .find(|&i| {
            word(i) == Some(MAGIC)
                && word(i)
                    .zip(word(i + 4))
                    .zip(word(i + 8))
                    .is_some_and(|((m, f), c)| m.wrapping_add(f).wrapping_add(c) == 0)
        })
    else {
        return Ok(None);
    };
    let field = |k: usize| word(at + 12 + 4 * k).ok_or("a multiboot header cut short");
    if word(at + 4).unwrap_or(0) & 1 << 16 == 0 {
        return Err(
            "a multiboot kernel without load addresses (an ELF one) is not supported".into(),
        );
    }
    let (header, load, load_end, entry) = (field(0)?, field(1)?, field(2)?, field(4)?);
    let start = (at as u64)
        .checked_sub(u64::from(header.wrapping_sub(load)))
        .ok_or("the multiboot header's load address is before the image")? as usize;
    let len = match load_end {
        0 => image.len() - start,
        end => end.wrapping_sub(load) as usize,
    };
    let bytes = image
        .get(start..start + len)
        .ok_or("the multiboot load range is beyond the image")?;
    Ok(Some(Load {
        at: u64::from(load),
        bytes,
        entry: u64::from(entry),
    }))
}

/// A vCPU running on its thread.
pub struct Running {
    thread: JoinHandle<(VcpuFd, Result<(), Error>)>,
    stop: Arc<AtomicBool>,
}

impl Running {
    /// Whether the vCPU stopped by itself (its guest shut down or failed).
    pub fn has_failed(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the vCPU to stop by itself (its guest shut down or failed).
    pub fn wait(self) -> Result<VcpuFd, Error> {
        let (vcpu, r) = self.thread.join().map_err(|_| "the vCPU thread panicked")?;
        r.map(|()| vcpu)
    }

    /// Stops the vCPU: kicks it out of `KVM_RUN` with a signal until its thread
    /// sees the flag. Returns it, or why it had stopped by itself.
    pub fn stop(self) -> Result<VcpuFd, Error> {
        self.stop.store(true, Ordering::SeqCst);
        while !self.thread.is_finished() {
            // A kick that lands before the thread enters KVM_RUN is lost: repeat.
            let _ = self.thread.kill(SIGRTMIN());
            std::thread::sleep(Duration::from_micros(200));
        }
        self.wait()
    }
}

/// The kick's signal handler does nothing: its delivery makes `KVM_RUN` return
/// `EINTR`.
fn kick_handler() -> Result<(), Error> {
    extern "C" fn nothing(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}
    register_signal_handler(SIGRTMIN(), nothing).map_err(kvm("signal handler"))
}

/// The vCPU loop: port I/O reads as all ones and writes go nowhere (no device is
/// emulated), until `stop`.
fn run_vcpu(vcpu: &mut VcpuFd, stop: &AtomicBool) -> Result<(), Error> {
    while !stop.load(Ordering::SeqCst) {
        match vcpu.run() {
            Ok(VcpuExit::IoIn(_, data)) | Ok(VcpuExit::MmioRead(_, data)) => data.fill(0xff),
            Ok(VcpuExit::IoOut(..)) | Ok(VcpuExit::MmioWrite(..)) | Ok(VcpuExit::Hlt) => {}
            Ok(other) => return Err(format!("the guest stopped: {other:?}").into()),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
            Err(e) => return Err(format!("KVM_RUN: {e}").into()),
        }
    }
    Ok(())
}
