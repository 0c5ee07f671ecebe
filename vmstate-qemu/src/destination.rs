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

/// Bounds of the counts taken from a vmdesc: the mirrors' own `max`.
const MAX_POSSIBLE_CPUS: u32 = 4096;
const MAX_MEMORY_SLOTS: u32 = 256;

/// Configures `device` as the vmdesc `entry` of its section describes it.
pub(crate) fn configure(device: &mut dyn SectionDevice, entry: &Value) {
    let fields = entry["fields"].as_array().map_or(&[][..], Vec::as_slice);
    let any = device.as_any_mut();
    if let Some(x) = any.downcast_mut::<XhciPci>() {
        if let Some(core) = struct_fields(fields, "xhci") {
            x.xhci.configure(
                described_len(core, "ports"),
                described_len(core, "slots"),
                described_len(core, "intr"),
            );
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
