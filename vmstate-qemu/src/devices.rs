//! A whole machine's device sections as typed mirrors: [`mirror`] gives the mirror
//! of a section by its name, [`Devices`] holds one per section of a VM and registers
//! them in a [`Registry`], which then loads and saves the VM's whole stream with
//! every device typed.

use crate::*;
use vmstate_runtime::dump::LegacyStream;
use vmstate_runtime::stream::{Registry, SectionDevice, SectionKind};

/// The typed mirror of device section `idstr#instance` as a fresh destination of
/// `machine_type` with `cpus` vCPUs has it, or `None` if no mirror covers the
/// section.
///
/// A PCI function's idstr is its address then its description's name
/// (`0000:00:01.0/PIIX3`); the name decides.
pub fn mirror(
    idstr: &str,
    instance: u32,
    machine_type: &str,
    cpus: u32,
) -> Option<Box<dyn SectionDevice>> {
    let vmsd = idstr.rsplit('/').next()?;
    let destination = Destination {
        instance,
        machine_type,
        cpus,
    };
    match HAND_MIRRORS.iter().find(|(name, _)| *name == vmsd) {
        Some((_, make)) => Some(make(&destination)),
        None => generated(idstr, vmsd),
    }
}

/// Every section name [`mirror`] has a mirror for: the hand-written ones, then
/// the generated ones (a name two generated descriptions share, once).
pub fn section_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = HAND_MIRRORS.iter().map(|(n, _)| *n).collect();
    for m in crate::catalog::GENERATED_MIRRORS {
        if !names.contains(&m.name) {
            names.push(m.name);
        }
    }
    names
}

/// What a mirror's constructor knows of the destination it is built for.
pub(crate) struct Destination<'a> {
    /// The section's instance id.
    pub instance: u32,
    /// The machine type.
    pub machine_type: &'a str,
    /// vCPUs.
    pub cpus: u32,
}

/// Builds a mirror as a destination has it.
pub(crate) type MakeMirror = fn(&Destination<'_>) -> Box<dyn SectionDevice>;

/// The hand-written mirrors: each section's description name and its mirror as a
/// destination builds it (the generated ones are `catalog::GENERATED_MIRRORS`).
pub(crate) const HAND_MIRRORS: &[(&str, MakeMirror)] = &[
    ("timer", |_| Box::<Timers>::default()),
    ("cpu_common", |_| Box::<CpuCommon>::default()),
    ("cpu", |_| Box::<X86Cpu>::default()),
    ("kvm-tpr-opt", |_| Box::<KvmTprOpt>::default()),
    ("apic", |_| Box::<Apic>::default()),
    ("kvmclock", |_| Box::<KvmClock>::default()),
    ("fw_cfg", |_| Box::<FwCfg>::default()),
    ("PCIHost", |_| Box::<PciHost>::default()),
    // Instance 0 is the machine's root bus, registered first, the only one
    // QEMU gives interrupt lines (`pci_register_root_bus`): eight on the Q35,
    // four on the i440FX. A bridge's or expander's bus has none of its own.
    ("PCIBUS", |d| {
        let q35 = d.machine_type.contains("q35");
        Box::new(PciBus::new(match (d.instance, q35) {
            (0, true) => 8,
            (0, false) => 4,
            _ => 0,
        }))
    }),
    ("I440FX", |_| Box::<I440fx>::default()),
    ("pcie-root-port", |_| Box::<PcieRootPort>::default()),
    ("pci_bridge", |_| Box::<PciBridgeDev>::default()),
    ("pcie-pci-bridge", |_| Box::<PciePciBridge>::default()),
    ("ioh-3240-express-root-port", |_| Box::<Ioh3420>::default()),
    ("xio3130-express-downstream-port", |_| {
        Box::<Xio3130Downstream>::default()
    }),
    ("xio3130-express-upstream-port", |_| {
        Box::<Xio3130Upstream>::default()
    }),
    ("PIIX3", |_| Box::<Piix3>::default()),
    ("ide", |_| Box::<PciIde>::default()),
    ("piix4_pm", |_| Box::<Piix4Pm>::default()),
    ("mch", |_| Box::<Mch>::default()),
    ("ICH9LPC", |_| Box::<Ich9Lpc>::default()),
    ("ich9_smb", |_| Box::<Ich9Smb>::default()),
    ("ich9_ahci", |_| Box::<Ich9Ahci>::default()),
    ("sysbus-ahci", |_| Box::<SysbusAhci>::default()),
    ("uhci", |_| Box::<Uhci>::default()),
    ("ehci", |_| Box::<EhciPci>::default()),
    ("xhci", |_| Box::<XhciPci>::default()),
    ("e1000", |_| Box::<E1000>::default()),
    ("eeprom", |_| Box::<Eeprom93xx>::default()),
    ("virtio-rng", |_| Box::<VirtioRng>::default()),
    ("virtio-balloon", |d| {
        Box::new(VirtioBalloon::for_machine(d.machine_type))
    }),
    ("virtio-net", |_| Box::<VirtioNet>::default()),
    // A queue per vCPU, QEMU's default.
    ("virtio-blk", |d| Box::new(VirtioBlk::with_queues(d.cpus))),
    ("virtio-scsi", |d| Box::new(VirtioScsi::with_queues(d.cpus))),
    ("virtio-input", |_| Box::<VirtioInput>::default()),
    ("virtio-9p", |_| Box::<Virtio9p>::default()),
    ("virtio-gpu", |d| {
        Box::new(VirtioGpu::for_machine(d.machine_type))
    }),
    ("virtio-iommu", |_| Box::<VirtioIommu>::default()),
    ("vhost-user-blk", |d| {
        Box::new(VhostUserBlk::with_queues(d.cpus))
    }),
    ("virtio-vhost_scsi", |d| {
        Box::new(VhostScsi::with_queues(d.cpus))
    }),
    ("virtio-vhost_vsock", |_| Box::<VhostVsock>::default()),
    ("vhost-user-fs", |_| Box::<VhostUserFs>::default()),
    ("virtio-mem", |d| {
        Box::new(VirtioMem::for_machine(d.machine_type))
    }),
    ("virtio-mem-device-early", |_| {
        Box::<VirtioMemDeviceEarly>::default()
    }),
    ("pciespscsi", |_| Box::<PciEspScsi>::default()),
    ("sysbusespscsi", |_| Box::<SysBusEspScsi>::default()),
    ("scsi-disk", |_| Box::<ScsiDisk>::default()),
    // scsi-generic's section is the bare SCSI device state.
    ("SCSIDevice", |_| Box::<ScsiDevice>::default()),
    ("virtio-console", |_| Box::<VirtioSerial>::default()),
    ("slirp", |_| Box::<Slirp>::default()),
    ("e1000e", |d| Box::new(E1000e::for_machine(d.machine_type))),
    ("intel-hda", |_| Box::<IntelHda>::default()),
    ("sb16", |_| Box::<Sb16>::default()),
    ("hda-audio", |_| Box::<HdaAudio>::default()),
    ("usb-ptr", |_| Box::<UsbPtr>::default()),
    ("usb-redir", |_| Box::<UsbRedir>::default()),
    ("sd-card", |_| Box::<SdCard>::default()),
    ("uefi-vars-sysbus", |_| Box::<UefiVarsSysbus>::default()),
    ("vmbus-bridge", |_| Box::<VmbusBridge>::default()),
    ("xen_evtchn", |_| Box::<XenEvtchn>::default()),
    ("xen_gnttab", |_| Box::<XenGnttab>::default()),
    ("dma", |_| Box::<Dma>::default()),
    ("i8259", |_| Box::<Pic>::default()),
    ("ioapic", |_| Box::<Ioapic>::default()),
    ("hpet", |_| Box::<Hpet>::default()),
    ("mc146818rtc", |_| Box::<Rtc>::default()),
    ("i8254", |_| Box::<Pit>::default()),
    ("pcspk", |_| Box::<PcSpk>::default()),
    ("fdc", |_| Box::<IsaFdc>::default()),
    ("ps2kbd", |_| Box::<Ps2Kbd>::default()),
    ("ps2mouse", |_| Box::<Ps2Mouse>::default()),
    ("pckbd", |_| Box::<IsaKbd>::default()),
    ("vmmouse", |_| Box::<Vmmouse>::default()),
    ("port92", |_| Box::<Port92>::default()),
    ("ipmi-bmc-sim", |_| Box::<IpmiBmcSim>::default()),
    ("i2c_bus", |_| Box::<I2cBus>::default()),
    ("serial", |_| Box::<IsaSerial>::default()),
    ("acpi_build", |_| Box::<AcpiBuild>::default()),
    ("globalstate", |_| Box::<GlobalState>::default()),
];

/// The generated mirror of description `vmsd` (`crate::catalog`) for section
/// `idstr`: of two descriptions of one name (`ne2000` of `ne2k_isa` and of
/// `ne2k_pci`), the PCI function's when the idstr begins with a PCI address.
fn generated(idstr: &str, vmsd: &str) -> Option<Box<dyn SectionDevice>> {
    let pci = idstr
        .split_once('/')
        .is_some_and(|(at, _)| is_pci_address(at));
    let mut named = crate::catalog::GENERATED_MIRRORS
        .iter()
        .filter(|m| m.name == vmsd)
        .peekable();
    let first = named.peek().map(|m| m.new);
    named
        .find(|m| m.pci.is_some() == pci)
        .map(|m| m.new)
        .or(first)
        .map(|new| new())
}

/// `0000:00:04.0`: a PCI function's address as QEMU's idstrs begin with it.
fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// A device section of a stream and its mirror, if one covers it.
pub struct SectionMirror {
    /// The section's idstr.
    pub idstr: String,
    /// The instance id.
    pub instance: u32,
    /// QEMU's section id.
    pub section_id: u32,
    /// The mirror, configured as the stream's vmdesc shows its source was.
    pub device: Option<Box<dyn SectionDevice>>,
}

/// Each device section of `stream` in order, with its mirror configured as the
/// stream's vmdesc shows its source was.
pub fn mirrors_for_stream(stream: &LegacyStream<'_>) -> Vec<SectionMirror> {
    let full: Vec<_> = stream
        .sections
        .iter()
        .filter(|x| x.kind == SectionKind::Full)
        .collect();
    let machine = stream.machine_type();
    let cpus = vcpu_count(full.iter().map(|x| x.ident.idstr.as_str()));
    let vmdesc: serde_json::Value = serde_json::from_str(stream.vmdesc).unwrap_or_default();
    let entries = vmdesc["devices"].as_array().map_or(&[][..], Vec::as_slice);
    // The nth vmdesc entry of a name and instance describes the nth section of them.
    let mut used = vec![false; entries.len()];
    full.iter()
        .map(|x| {
            let (idstr, instance) = (x.ident.idstr.as_str(), x.ident.instance);
            let mut device = mirror(idstr, instance, &machine, cpus);
            let entry = entries
                .iter()
                .enumerate()
                .find(|(i, e)| !used[*i] && e["name"] == idstr && e["instance_id"] == instance);
            if let Some((i, e)) = entry {
                used[i] = true;
                if let Some(d) = device.as_mut() {
                    crate::destination::configure(d.as_mut(), e);
                }
            }
            let idstrs = full.iter().map(|y| y.ident.idstr.as_str());
            if crate::destination::behind_express_port(idstr, idstrs) {
                if let Some(d) = device.as_mut() {
                    crate::destination::make_express(d.as_mut());
                }
            }
            SectionMirror {
                idstr: idstr.to_owned(),
                instance,
                section_id: x.section_id,
                device,
            }
        })
        .collect()
}

/// The vCPUs of a VM whose device sections are named `idstrs`: one `cpu` section
/// each (what [`mirror`] needs for devices sized by them, as virtio-blk's queues).
pub fn vcpu_count<'s>(idstrs: impl IntoIterator<Item = &'s str>) -> u32 {
    idstrs.into_iter().filter(|idstr| *idstr == "cpu").count() as u32
}

/// One device section of a VM: its idstr, instance id, QEMU's section id, and its
/// typed state.
pub struct DeviceSection {
    /// The section's idstr.
    pub idstr: String,
    /// The instance id.
    pub instance: u32,
    /// The section id QEMU gives it (its handler's registration order), if known.
    pub section_id: Option<u32>,
    /// The mirror.
    pub device: Box<dyn SectionDevice>,
}

/// Every device section of a VM, each a typed mirror, in QEMU's save order.
pub struct Devices {
    /// The sections.
    pub sections: Vec<DeviceSection>,
}

impl Devices {
    /// The mirrors of `sections` (idstr, instance id, section id), as a fresh
    /// destination of `machine_type` has them, with a vCPU per `cpu` section.
    /// Fails naming the first section no mirror covers: a VM is typed whole or not
    /// at all.
    pub fn new<'s>(
        machine_type: &str,
        sections: impl IntoIterator<Item = (&'s str, u32, Option<u32>)>,
    ) -> Result<Devices, String> {
        let sections: Vec<_> = sections.into_iter().collect();
        let cpus = vcpu_count(sections.iter().map(|(idstr, _, _)| *idstr));
        let sections = sections
            .into_iter()
            .map(|(idstr, instance, section_id)| {
                let device = mirror(idstr, instance, machine_type, cpus)
                    .ok_or_else(|| format!("no typed mirror of section {idstr}"))?;
                Ok(DeviceSection {
                    idstr: idstr.to_owned(),
                    instance,
                    section_id,
                    device,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Devices { sections })
    }

    /// The mirrors of every device section of `stream`, each configured as the
    /// stream's description (its vmdesc) shows its source was where QEMU never
    /// sends the configuration itself (an xHCI controller's ports, slots and
    /// interrupters, possible vCPUs and memory slots of ACPI hotplug). Fails naming
    /// the first section no mirror covers.
    pub fn for_stream(stream: &LegacyStream<'_>) -> Result<Devices, String> {
        let sections = mirrors_for_stream(stream)
            .into_iter()
            .map(|s| {
                let device = s
                    .device
                    .ok_or_else(|| format!("no typed mirror of section {}", s.idstr))?;
                Ok(DeviceSection {
                    idstr: s.idstr,
                    instance: s.instance,
                    section_id: Some(s.section_id),
                    device,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Devices { sections })
    }

    /// The mirror of section `idstr#instance`, if it is a `T`.
    pub fn get_mut<T: 'static>(&mut self, idstr: &str, instance: u32) -> Option<&mut T> {
        self.sections
            .iter_mut()
            .find(|s| s.idstr == idstr && s.instance == instance)?
            .device
            .as_any_mut()
            .downcast_mut()
    }

    /// Registers every section in `reg`, under its section id where it has one.
    pub fn register<'a>(&'a mut self, reg: &mut Registry<'a>) {
        for s in &mut self.sections {
            match s.section_id {
                Some(id) => reg.device_with_section_id(&s.idstr, s.instance, id, s.device.as_mut()),
                None => reg.device(&s.idstr, s.instance, s.device.as_mut()),
            }
        }
    }
}
