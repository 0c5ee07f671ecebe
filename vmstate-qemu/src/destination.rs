//! What a destination QEMU is configured with and its stream never says (a
//! controller's port count, whether a virtio function sits on PCI Express), taken
//! from the stream's own description where that shows it. QEMU sizes these from
//! its command line; a stream written by a source with other properties fails to
//! load there, and the mirror built for it must fail the same way, so only what
//! the vmdesc describes is taken, within each mirror's bounds.

use crate::*;
use serde_json::Value;
use vmstate_runtime::stream::SectionDevice;

/// Elements of field `name` that a vmdesc `fields` list describes: the sum of its
/// entries' `array_len` (QEMU 7.2 lists some arrays element by element, with an
/// `index`; 10.0 folds equal runs).
pub(crate) fn described_len(fields: &[Value], name: &str) -> Option<u32> {
    let n: u64 = fields
        .iter()
        .filter(|f| f["name"] == name)
        .map(|f| f["array_len"].as_u64().unwrap_or(1))
        .sum();
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// The fields of struct field `name` in a vmdesc `fields` list.
fn struct_fields<'v>(fields: &'v [Value], name: &str) -> Option<&'v [Value]> {
    fields
        .iter()
        .find(|f| f["name"] == name)?
        .get("struct")?
        .get("fields")?
        .as_array()
        .map(Vec::as_slice)
}

/// The fields of subsection `name` in a vmdesc entry (an object with `fields` and
/// `subsections`).
fn subsection_fields<'v>(entry: &'v Value, name: &str) -> Option<&'v [Value]> {
    entry["subsections"]
        .as_array()?
        .iter()
        .find(|s| s["vmsd_name"] == name)?
        .get("fields")?
        .as_array()
        .map(Vec::as_slice)
}

/// The hotplug slots an ACPI hotplug subsection `name` of `entry` describes (its
/// controller's `devs`), if the stream sent it.
fn hotplug_slots(entry: &Value, name: &str, controller: &str) -> Option<u32> {
    described_len(
        struct_fields(subsection_fields(entry, name)?, controller)?,
        "devs",
    )
}

/// The descriptions of PCI Express ports: a virtio function behind one is a PCI
/// Express function (QEMU's `virtio_pci_dc_realize`: on an Express bus that is
/// not a root bus).
const EXPRESS_PORTS: [&str; 3] = [
    "pcie-root-port",
    "ioh-3240-express-root-port",
    "xio3130-express-downstream-port",
];

/// Whether the PCI function of section `idstr` sits behind a PCI Express port,
/// by its path (`0000:00:02.2:00.0/virtio-net`: slot 0 behind `0000:00:02.2`) and
/// the sections of the stream (`idstrs`) that say what that parent is.
pub(crate) fn behind_express_port<'s>(
    idstr: &str,
    mut idstrs: impl Iterator<Item = &'s str>,
) -> bool {
    let Some((path, _)) = idstr.rsplit_once('/') else {
        return false;
    };
    // The parent's path: the device's address less its last `:slot.function`.
    let Some((parent, _)) = path.rsplit_once(':').filter(|(p, _)| p.len() > 7) else {
        return false;
    };
    idstrs.any(|other| {
        other
            .strip_prefix(parent)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| EXPRESS_PORTS.contains(&name))
    })
}

/// The virtio transport of `$any` if it is one of the virtio mirrors `$t`.
macro_rules! virtio_transport {
    ($any:expr; $($t:ty),+ $(,)?) => {
        if false {
            None
        }
        $(else if let Some(x) = $any.downcast_mut::<$t>() {
            Some(&mut x.virtio.0.transport)
        })+
        else {
            None
        }
    };
}

/// Makes a virtio function a PCI Express one (its 4096-byte configuration space).
pub(crate) fn make_express(device: &mut dyn SectionDevice) {
    let any = device.as_any_mut();
    let transport: Option<&mut crate::virtio::VirtioPciTransport> = virtio_transport!(any;
        VirtioNet, VirtioBlk, VirtioSerial, VirtioBalloon, VirtioRng, VirtioScsi,
        VirtioInput, Virtio9p, VirtioGpu, VirtioIommu, VirtioMem, VhostUserBlk, VhostScsi,
        VhostVsock, VhostUserFs,
    );
    if let Some(t) = transport {
        t.pci.express = true;
    }
}

/// Bounds of the counts taken from a vmdesc: the mirrors' own `max`.
const MAX_POSSIBLE_CPUS: u32 = 4096;
const MAX_MEMORY_SLOTS: u32 = 256;

/// The size of the PCI configuration space a vmdesc `fields` list describes (its
/// first field the `PCIDevice` struct): 4096 bytes for a PCI Express function,
/// 256 for a conventional one.
fn pci_config_size(fields: &[Value]) -> Option<u64> {
    let pci = fields.first()?.get("struct")?;
    if pci["vmsd_name"] != "PCIDevice" {
        return None;
    }
    pci["fields"]
        .as_array()?
        .iter()
        .find(|f| f["type"] == "pci config")?["size"]
        .as_u64()
}

/// Configures `device` as the vmdesc `entry` of its section describes it.
pub(crate) fn configure(device: &mut dyn SectionDevice, entry: &Value) {
    let fields = entry["fields"].as_array().map_or(&[][..], Vec::as_slice);
    // A generated PCI function is Express exactly when its source's was: a
    // destination with the same properties (vmxnet3's `x-disable-pcie`, which old
    // machine types set) builds it the same way.
    if let Some(size) = pci_config_size(fields) {
        let name = device.desc().name;
        for m in crate::catalog::GENERATED_MIRRORS
            .iter()
            .filter(|m| m.name == name)
        {
            if let Some(pci) = m.pci.and_then(|pci| pci(&mut *device)) {
                pci.express = size == 4096;
                break;
            }
        }
    }
    let any = device.as_any_mut();
    if let Some(x) = any.downcast_mut::<XhciPci>() {
        if let Some(core) = struct_fields(fields, "xhci") {
            x.xhci.configure(
                described_len(core, "ports"),
                described_len(core, "slots"),
                described_len(core, "intr"),
            );
        }
    } else if let Some(card) = any.downcast_mut::<SdCard>() {
        // The bitmap's bytes: a word per 64 write-protect groups.
        let bytes = fields.iter().find(|f| f["name"] == "wp_group_bmap");
        if let Some(bits) = bytes.and_then(|f| f["size"].as_u64()).map(|b| b * 8) {
            card.wp_group_bits = u32::try_from(bits).unwrap_or(u32::MAX);
        }
    } else if let Some(evtchn) = any.downcast_mut::<XenEvtchn>() {
        let words = described_len(fields, "pirq_inuse_bitmap");
        if let Some(w) = words.and_then(|w| u16::try_from(w).ok()) {
            evtchn.nr_pirq_inuse_words = w;
        }
    } else if let Some(pm) = any.downcast_mut::<Piix4Pm>() {
        let cpus = hotplug_slots(entry, "piix4_pm/cpuhp", "cpuhp_state");
        let slots = hotplug_slots(entry, "piix4_pm/memhp", "acpi_memory_hotplug");
        configure_hotplug(&mut pm.possible_cpus, &mut pm.memory_slots, cpus, slots);
    } else if let Some(lpc) = any.downcast_mut::<Ich9Lpc>() {
        // The PM state is a struct field whose description has its subsections.
        if let Some(pm_entry) = fields
            .iter()
            .find(|f| f["name"] == "pm")
            .map(|f| &f["struct"])
        {
            let cpus = hotplug_slots(pm_entry, "ich9_pm/cpuhp", "cpuhp_state");
            let slots = hotplug_slots(pm_entry, "ich9_pm/memhp", "acpi_memory_hotplug");
            let pm = &mut lpc.pm;
            configure_hotplug(&mut pm.possible_cpus, &mut pm.memory_slots, cpus, slots);
        }
    }
}

/// Sets the possible vCPUs and memory slots a stream's ACPI hotplug state shows.
fn configure_hotplug(
    possible_cpus: &mut u32,
    memory_slots: &mut u32,
    cpus: Option<u32>,
    slots: Option<u32>,
) {
    if let Some(n) = cpus.filter(|n| *n <= MAX_POSSIBLE_CPUS) {
        *possible_cpus = n;
    }
    if let Some(n) = slots.filter(|n| *n <= MAX_MEMORY_SLOTS) {
        *memory_slots = n;
    }
}

impl Xhci {
    /// Sizes the controller as a destination with these counts has it (QEMU's
    /// `p2` + `p3` ports, slots, interrupters); a count beyond the mirror's bound
    /// is left as it was, so that the load refuses the stream by name.
    pub fn configure(&mut self, ports: Option<u32>, slots: Option<u32>, intrs: Option<u32>) {
        if let Some(n) = ports.filter(|n| *n <= XHCI_MAXPORTS) {
            self.numports = n;
            self.ports = vec![XhciPort::default(); n as usize];
        }
        if let Some(n) = slots.filter(|n| *n <= XHCI_MAXSLOTS) {
            self.numslots = n;
            self.slots = vec![XhciSlot::default(); n as usize];
        }
        if let Some(n) = intrs.filter(|n| *n <= XHCI_MAXINTRS) {
            self.numintrs = n;
            self.intr = vec![XhciIntr::default(); n as usize];
        }
    }
}
