//! Receiving a live migration from stock QEMU: its RAM as it arrives, its device
//! sections once they have.
//!
//! QEMU's stream names its RAM blocks in the `ram` section's START: `pc.ram` becomes
//! the VM's memory (its length must be the VM's), the others (QEMU's firmware and
//! ACPI ROM blocks) are kept in buffers as they came, to be sent back. Each RAM part
//! is loaded into them as it arrives. The device sections come after the last RAM
//! part, and a legacy device section has no length: their types come from the
//! stream's own description, which QEMU writes after them, so they are read once the
//! stream has ended (a few KiB; the guest's memory is in place by then), every
//! device as its typed mirror (`vmstate_qemu::Devices`). The VMM takes on what KVM
//! holds (`cpu`, `cpu_common`, `apic`, `kvmclock`, `i8259` x2, `ioapic`, `i8254`)
//! and keeps the others for the way back.

use super::{Error, Vm, RAM_BLOCK};
use std::io::Read;
use std::os::unix::net::UnixStream;
use vmstate_qemu::{Apic, Devices, Ioapic, KvmClock, Pic, Pit, VirtualClock, X86Cpu};
use vmstate_runtime::framing::{legacy, Command, SectionHeader, SectionId};
use vmstate_runtime::framing::{IterativeSection, Part, SectionKind, Started};
use vmstate_runtime::io::{Input, ReadInput, StreamInput, Writer};
use vmstate_runtime::kvm::{self as vkvm, VmWideState};
use vmstate_runtime::ram::{self, RamBlockMut, RamLoader, RamRecord};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{dump, Format};

/// Most bytes of RAM blocks besides `pc.ram` a stream may make this VMM allocate
/// (QEMU's PC firmware and ACPI blocks are under 1 MiB).
const OTHER_BLOCKS_MAX: u64 = 256 << 20;

/// What arrived from QEMU.
pub struct Received {
    /// The source's machine type.
    pub machine: String,
    /// Every RAM block in the source's order, `pc.ram`'s bytes empty (they are the
    /// VM's memory).
    pub blocks: Vec<(String, Vec<u8>)>,
    /// Every device section, typed, as it came.
    pub devices: Devices,
}

/// The legacy tag of a FULL section: the first device section.
const SECTION_FULL: u8 = 0x04;

/// The RAM parts after START, until the first device section.
struct RamParts<'l, 'b> {
    loader: &'l mut RamLoader<'b>,
}

impl<'i> legacy::Records<StreamInput<'i>> for RamParts<'_, '_> {
    fn take(&mut self, tag: u8) -> vmstate_runtime::Result<bool> {
        Ok(tag != SECTION_FULL)
    }

    fn command(&mut self, c: Command, at: u64) -> vmstate_runtime::Result<()> {
        // Every other command asks for what this VMM does not do (a return path,
        // postcopy): refused by QEMU's name, which fails the source's migration
        // while its guest runs on.
        match c.is_one_way() {
            true => Ok(()),
            false => Err(vmstate_runtime::Error::new(
                vmstate_runtime::ErrorKind::Unsupported {
                    what: format!("QEMU's {} command", c.name()),
                    capability: "postcopy-ram / return-path".into(),
                    remedy: "migrate to this VMM with pre-copy only".into(),
                },
                at,
            )),
        }
    }

    fn section(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        at: u64,
        r: &mut StreamInput<'i>,
    ) -> vmstate_runtime::Result<()> {
        if ident.idstr != "ram" {
            return Err(vmstate_runtime::Error::new(
                vmstate_runtime::ErrorKind::UnknownSection(format!(
                    "{}#{} (an iterative section this VMM does not take)",
                    ident.idstr, ident.instance
                )),
                at,
            ));
        }
        self.loader
            .load_part(h.kind, Part::Legacy(r), ident.version)
    }
}

/// The block list of the `ram` START whose body `r` is at (not consumed): a START
/// part is the list and EOS, a few hundred bytes.
fn block_list(r: &mut impl Input) -> Result<Vec<ram::ListedBlock>, Error> {
    for n in [4 << 10, 64 << 10] {
        let base = r.offset();
        let head = r.peek(n)?;
        if let Ok((records, _)) = ram::read_part(head, base, &mut ram::Cursor::default()) {
            return match records.into_iter().next() {
                Some(RamRecord::MemSize { blocks, .. }) => Ok(blocks),
                _ => Err("the ram section's START has no block list".into()),
            };
        }
    }
    Err("the ram section's START is not a block list".into())
}

/// Receives a migration from `conn`: `pc.ram` into `guest` (a VM's memory,
/// [`Vm::ram`]), the other RAM blocks into buffers, the devices typed. The VM's
/// vCPU and in-kernel devices are not touched: [`Received::apply`] puts them into
/// KVM.
pub fn receive(guest: &mut dyn ram::GuestRamMut, conn: &mut dyn Read) -> Result<Received, Error> {
    let mut input = StreamInput::Read(ReadInput::new(&mut *conn));
    let (configuration, _) =
        legacy::read_prelude(&mut input)?.ok_or("the stream has no configuration section")?;
    let machine = configuration.machine_type();
    let mut started = Started::default();
    let at = input.offset();
    let legacy::Record::Section(start) = legacy::read_record(&mut input)? else {
        return Err("the stream does not begin with the ram section".into());
    };
    let ident = started.resolve(&start, at)?;
    if ident.idstr != "ram" || start.kind != SectionKind::Start {
        return Err(format!("the stream begins with {}, not ram's START", ident.idstr).into());
    }
    let list = block_list(&mut input)?;
    let others: u64 = list
        .iter()
        .filter(|b| b.name != RAM_BLOCK)
        .map(|b| b.length)
        .sum();
    if others > OTHER_BLOCKS_MAX {
        return Err(format!(
            "the stream's RAM blocks besides {RAM_BLOCK} add up to {others} bytes"
        )
        .into());
    }
    let mut blocks: Vec<(String, Vec<u8>)> = list
        .iter()
        .map(|b| {
            let bytes = match b.name == RAM_BLOCK {
                true => Vec::new(),
                false => vec![0; b.length as usize],
            };
            (b.name.clone(), bytes)
        })
        .collect();
    if !list.iter().any(|b| b.name == RAM_BLOCK) {
        return Err(format!("the stream has no {RAM_BLOCK} block: not a PC machine's RAM").into());
    }
    {
        let mut guest = Some(guest);
        let mut targets: Vec<RamBlockMut<'_>> = Vec::new();
        for (name, bytes) in &mut blocks {
            let mem: &mut dyn ram::GuestRamMut = match name.as_str() {
                RAM_BLOCK => guest.take().ok_or("pc.ram is listed twice")?,
                _ => bytes,
            };
            targets.push(RamBlockMut { name, mem });
        }
        let mut loader = RamLoader::new(targets);
        IterativeSection::configure(&mut loader, Some(&configuration))?;
        loader.load_part(SectionKind::Start, Part::Legacy(&mut input), ident.version)?;
        legacy::read_footer(&mut input, start.id, &ident.idstr)?;
        legacy::read_records(
            &mut input,
            &mut started,
            &mut RamParts {
                loader: &mut loader,
            },
        )?;
        loader.check_complete(input.offset())?;
    }
    // The devices: the rest of the stream, read whole, behind the prelude.
    let mut stream = Vec::new();
    legacy::put_prelude(&mut Writer::new(&mut stream), Some(&configuration))?;
    stream.extend_from_slice(input.buffered());
    drop(input);
    conn.read_to_end(&mut stream)?;
    let walked = vmstate_runtime::dump::walk_legacy(&stream)?;
    let mut devices = Devices::for_stream(&walked)?;
    {
        let mut reg = Registry::new(&machine);
        devices.register(&mut reg);
        reg.load(&stream)?;
    }
    Ok(Received {
        machine,
        blocks,
        devices,
    })
}

impl Received {
    /// The typed section `idstr#instance`, which QEMU's KVM source always sends.
    fn section<T: Clone + 'static>(&mut self, idstr: &str, instance: u32) -> Result<T, Error> {
        self.devices
            .get_mut::<T>(idstr, instance)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "the stream has no {idstr}#{instance} to put into KVM (a source \
                     without KVM's in-kernel irqchip, or with more vCPUs, cannot move here)"
                )
                .into()
            })
    }

    /// Puts QEMU's vCPU, in-kernel devices and clock into `vm` (its vCPU stopped),
    /// as QEMU's destination puts them into KVM (`vmstate_qemu`'s `to_kvm`).
    pub fn apply(&mut self, vm: &Vm) -> Result<(), Error> {
        if self.devices.get_mut::<X86Cpu>("cpu", 1).is_some() {
            return Err("the stream has a second vCPU (cpu#1): this VMM has one".into());
        }
        let cpu: X86Cpu = self.section("cpu", 0)?;
        let apic: Apic = self.section("apic", 0)?;
        let clock: KvmClock = self.section("kvmclock", 0)?;
        let master: Pic = self.section("i8259", 0)?;
        let slave: Pic = self.section("i8259", 1)?;
        let ioapic: Ioapic = self.section("ioapic", 0)?;
        let pit: Pit = self.section("i8254", 0)?;
        vm.setup_mce(cpu.mcg_cap)?;
        let vcpu = vm.vcpu()?;
        // This host's shapes (its MSR list, its XSAVE size), QEMU's values.
        let mut state = vkvm::capture(&vm.host, vcpu)?;
        cpu.apply_to(&mut state);
        state.lapic = apic.to_kvm();
        state.sregs.apic_base = u64::from(apic.apicbase);
        let vclock = VirtualClock {
            offset: 0,
            now: super::qemu::monotonic_ns(),
        };
        vkvm::restore_vm(
            &vm.vm,
            &VmWideState {
                clock: clock.to_kvm(),
                irqchip: Some(vkvm::Irqchip {
                    pic_master: master.to_kvm(true),
                    pic_slave: slave.to_kvm(false),
                    ioapic: ioapic.to_kvm(),
                }),
                pit: Some(pit.to_kvm(vclock)),
            },
        )?;
        vkvm::restore(&vm.host, vcpu, &state)?;
        Ok(())
    }
}

/// [`receive`] of a stream of either format: a BER one (from a `vmstate bridge
/// --to ber`, or a VMM that sends vmstate's BER) is converted to QEMU's as it
/// arrives, on a thread of its own, in the bounded memory of `vmstate bridge`.
pub fn receive_any(
    guest: &mut dyn ram::GuestRamMut,
    conn: &mut (dyn Read + Send),
) -> Result<Received, Error> {
    let mut head = [0u8; 4];
    conn.read_exact(&mut head)?;
    let mut input = (&head[..]).chain(conn);
    match vmstate_runtime::framing::detect(&head) {
        Some(Format::Legacy) => receive(guest, &mut input),
        Some(Format::Ber) => {
            let (mut tx, mut rx) = UnixStream::pair()?;
            std::thread::scope(|s| {
                let converter = s.spawn(move || {
                    let r = dump::convert_live(
                        &mut input,
                        &mut tx,
                        Format::Legacy,
                        &dump::Limits::default(),
                        dump::Carrier::ONE_WAY,
                        &mut |_| {},
                    );
                    // The converted stream's end: the reader sees EOF.
                    drop(tx);
                    r
                });
                let received = receive(guest, &mut rx);
                // A receive that failed stops reading: the converter's next write
                // fails, and it ends.
                drop(rx);
                let converted = converter.join().map_err(|_| "the BER converter panicked")?;
                match (received, converted) {
                    (Ok(r), Ok(_)) => Ok(r),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e.into()),
                }
            })
        }
        None => Err(format!(
            "the stream begins with {head:02x?}: neither QEMU's format (QEVM) nor vmstate's BER"
        )
        .into()),
    }
}
