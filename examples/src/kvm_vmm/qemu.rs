//! The VMM's state as QEMU's sections, and a live migration to a QEMU started with
//! `-incoming` and the same machine arguments.
//!
//! The stream is what QEMU's own source of that machine type writes for these
//! devices: the configuration, the `ram` section (pre-copy rounds from KVM's dirty
//! log, then the stop-and-copy), and the device sections converted from KVM as
//! QEMU's KVM glue converts them (`vmstate_qemu`'s `from_kvm`). Devices the VMM
//! does not have (QEMU's chipset, its firmware's ROM blocks) are not in the stream:
//! the destination keeps them as it created them, as it keeps any device a stream
//! does not name.

use super::incoming::Received;
use super::{Error, Vm, RAM_BLOCK};
use std::io::Write;
use std::time::{Duration, Instant};
use vmstate_qemu::{
    Apic, CpuCommon, GlobalState, Ioapic, KvmClock, Pic, Pit, VirtualClock, X86Cpu,
};
use vmstate_runtime::kvm as vkvm;
use vmstate_runtime::ram::{GuestRam, LiveRam, RamBlock, RamSaver};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;

/// QEMU's sections of the VMM's devices, converted from KVM.
pub struct Sections {
    cpu_common: CpuCommon,
    cpu: X86Cpu,
    apic: Apic,
    kvmclock: KvmClock,
    pic: [Pic; 2],
    ioapic: Ioapic,
    pit: Pit,
    globalstate: GlobalState,
}

/// The host's `CLOCK_MONOTONIC`, ns: the VMM's virtual clock is the host's
/// monotonic clock (offset 0), as QEMU's is while a VM has never been stopped.
pub(super) fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

impl Sections {
    /// The VM's state, its vCPU stopped, as QEMU's sections.
    pub fn capture(vm: &Vm, vcpu: &kvm_ioctls::VcpuFd) -> Result<Sections, Error> {
        let vcpu = vkvm::capture(&vm.host, vcpu)?;
        let wide = vkvm::capture_vm(&vm.vm, true, true)?;
        let clock = VirtualClock {
            offset: 0,
            now: monotonic_ns(),
        };
        let chip = wide.irqchip.as_ref().ok_or("no irqchip")?;
        Ok(Sections {
            cpu_common: CpuCommon {
                halted: u32::from(vcpu.mp_state == kvm_bindings::KVM_MP_STATE_HALTED),
                ..CpuCommon::default()
            },
            cpu: X86Cpu::from_kvm(&vcpu),
            apic: Apic::from_kvm(&vcpu.lapic, vcpu.sregs.apic_base, clock),
            kvmclock: KvmClock::from_kvm(&wide.clock),
            pic: [
                Pic::from_kvm(&chip.pic_master),
                Pic::from_kvm(&chip.pic_slave),
            ],
            ioapic: Ioapic::from_kvm(&chip.ioapic),
            pit: Pit::from_kvm(wide.pit.as_ref().ok_or("no PIT")?, clock),
            globalstate: GlobalState::new("running"),
        })
    }

    /// Sections to register while the vCPU runs (a section's description does not
    /// depend on its values here).
    fn shapes() -> Sections {
        Sections {
            cpu_common: CpuCommon::default(),
            cpu: X86Cpu::default(),
            apic: Apic::default(),
            kvmclock: KvmClock::default(),
            pic: Default::default(),
            ioapic: Ioapic::default(),
            pit: Pit::default(),
            globalstate: GlobalState::new("running"),
        }
    }

    /// Registers each section under QEMU's id and instance.
    fn register<'a>(&'a mut self, reg: &mut Registry<'a>) {
        let [master, slave] = &mut self.pic;
        reg.device("cpu_common", 0, &mut self.cpu_common);
        reg.device("cpu", 0, &mut self.cpu);
        reg.device("apic", 0, &mut self.apic);
        reg.device("kvmclock", 0, &mut self.kvmclock);
        reg.device("i8259", 0, master);
        reg.device("i8259", 1, slave);
        reg.device("ioapic", 0, &mut self.ioapic);
        reg.device("i8254", 0, &mut self.pit);
        reg.device("globalstate", 0, &mut self.globalstate);
    }

    /// Puts each section into `live`'s registry, for the stop-and-copy.
    fn replace<W: Write>(
        self,
        live: &mut vmstate_runtime::stream::LiveSave<'_, '_, W>,
    ) -> vmstate_runtime::Result<()> {
        let [master, slave] = self.pic;
        live.replace("cpu_common", 0, self.cpu_common)?;
        live.replace("cpu", 0, self.cpu)?;
        live.replace("apic", 0, self.apic)?;
        live.replace("kvmclock", 0, self.kvmclock)?;
        live.replace("i8259", 0, master)?;
        live.replace("i8259", 1, slave)?;
        live.replace("ioapic", 0, self.ioapic)?;
        live.replace("i8254", 0, self.pit)?;
        live.replace("globalstate", 0, self.globalstate)
    }
}

/// What a migration did.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// Pages of each RAM part: the first pass's parts, one per dirty round, and the
    /// stop-and-copy's.
    pub pages: Vec<u64>,
    /// Stream bytes.
    pub bytes: u64,
    /// From the vCPU's stop to the stream's last byte written (the destination
    /// starts the guest when it has loaded it).
    pub stopped_for: Duration,
    /// From the start of the stream to its end.
    pub total: Duration,
}

/// Live-migrates `vm` (its vCPU running on `running`) to `dest`, a QEMU started
/// with `-incoming` and the VM's machine arguments: pre-copy from the dirty log
/// while the guest runs, then stop-and-copy. `progress` sees each round. A guest
/// that came from QEMU goes back with what came with it: every RAM block, and every
/// device section, those KVM holds converted again. On a failure before the
/// stream's end the vCPU is returned running, so the guest is never stopped on
/// both sides.
pub fn migrate<W: Write>(
    vm: &mut Vm,
    running: super::Running,
    origin: Origin<'_>,
    dest: W,
    format: Format,
    progress: impl FnMut(&str),
) -> Result<Migrated, (Error, Option<super::Running>)> {
    let started = Instant::now();
    let mut running = Some(running);
    let mut stopped = None;
    let to = Stream {
        running: &mut running,
        stopped: &mut stopped,
        format,
    };
    let outcome = send(vm, to, origin, dest, progress);
    if let Some(vcpu) = stopped {
        vm.stopped(vcpu);
    }
    match outcome {
        Ok((pages, bytes, stopped_for)) => Ok(Migrated {
            pages,
            bytes,
            stopped_for,
            total: started.elapsed(),
        }),
        // The stream did not end, so QEMU does not run the guest: it runs on here.
        Err(e) => Err((e, running.or_else(|| vm.run().ok()))),
    }
}

/// Where the guest came from.
pub enum Origin<'a> {
    /// Booted by this VMM, for QEMU's machine type named.
    Booted(&'a str),
    /// From QEMU: it goes back with what came with it.
    FromQemu(&'a mut Received),
}

/// The stream's vCPU: `running` is taken and its vCPU put in `stopped` at the stop.
struct Stream<'r> {
    running: &'r mut Option<super::Running>,
    stopped: &'r mut Option<kvm_ioctls::VcpuFd>,
    format: Format,
}

/// Writes the stream to `dest`.
fn send<W: Write>(
    vm: &Vm,
    to: Stream<'_>,
    origin: Origin<'_>,
    dest: W,
    mut progress: impl FnMut(&str),
) -> Result<(Vec<u64>, u64, Duration), Error> {
    let ram = vm.ram()?;
    let (machine, kept_blocks, kept_devices) = match origin {
        Origin::FromQemu(r) => (r.machine.as_str(), Some(&r.blocks), Some(&mut r.devices)),
        Origin::Booted(machine) => (machine, None, None),
    };
    let blocks = match kept_blocks {
        Some(list) => list
            .iter()
            .map(|(name, bytes)| RamBlock {
                name,
                mem: match name.as_str() {
                    RAM_BLOCK => &ram as &dyn GuestRam,
                    _ => bytes,
                },
            })
            .collect(),
        None => vec![RamBlock {
            name: RAM_BLOCK,
            mem: &ram,
        }],
    };
    let mut live_ram = LiveRam::new(RamSaver::new(blocks)?, || Ok(vec![vm.dirty_pages()?]));
    live_ram.converged = 64;
    // The sections' shapes for the registry (or the sections as they came); the
    // state KVM holds is taken again once the guest has stopped.
    let mut shapes = Sections::shapes();
    let (bytes, stopped_for) = {
        let mut reg = Registry::new(machine).with_machine_types(vmstate_qemu::machine_types());
        reg.iterative("ram", 0, &mut live_ram);
        match kept_devices {
            Some(d) => d.register(&mut reg),
            None => shapes.register(&mut reg),
        }
        let mut live = reg.live_save(to.format, dest)?;
        let mut round = 0;
        loop {
            let done = live.iterate()?;
            round += 1;
            progress(&format!("round {round}: {} bytes sent", live.written()));
            if to.running.as_ref().is_some_and(super::Running::has_failed) {
                return Err("the guest stopped during the migration".into());
            }
            if done {
                break;
            }
        }
        let stop_at = Instant::now();
        let vcpu = to
            .stopped
            .insert(to.running.take().ok_or("no vCPU")?.stop()?);
        Sections::capture(vm, vcpu)?.replace(&mut live)?;
        (live.complete()?, stop_at.elapsed())
    };
    let pages = live_ram
        .parts()
        .iter()
        .map(|p| p.zero_pages + p.data_pages)
        .collect();
    Ok((pages, bytes, stopped_for))
}
