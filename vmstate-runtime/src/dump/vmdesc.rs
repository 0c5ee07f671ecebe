//! A stream's description (a legacy stream's vmdesc trailer, a BER stream's
//! description item), parsed once into the one model every reader asks: a device
//! section's layout ([`Desc`]), whose [`Desc::wire_len`] is its length on the
//! legacy wire.

use super::{bad, Desc, Limits};
use crate::error::Result;
use crate::framing::SectionId;
use serde_json::Value;
use std::collections::HashMap;

/// The description of each device, by `(idstr, instance_id)` and, where QEMU
/// sends a device section more than once (7.2's `slirp#0`, once per user
/// network), by its order among them, as the vmdesc lists them.
///
/// A device whose layout this reader cannot model (a QEMU array with NULL
/// elements, say) does not make the whole description unreadable: its error is
/// kept and returned when that device's section is read, so the sections around
/// it can still be walked and loaded.
#[derive(Debug, Clone)]
pub(crate) struct Descriptions {
    /// Each device in description order: its name, instance and layout.
    pub devices: Vec<(String, u64, Result<Desc>)>,
    /// Where each (idstr, instance) is in `devices`, each occurrence in order:
    /// one lookup per section.
    index: HashMap<(String, u64), Vec<usize>>,
}

impl Descriptions {
    /// Parses the description's JSON text, within `limits`' budgets.
    pub(crate) fn parse(vmdesc: &str, limits: &Limits) -> Result<Descriptions> {
        #[cfg(test)]
        crate::tally::note(crate::tally::Work::Description);
        let v: Value =
            serde_json::from_str(vmdesc).map_err(|e| bad(format!("vmdesc JSON: {e}")))?;
        // QEMU's is an object, and a legacy trailer is found by its `{`.
        if !v.is_object() {
            return Err(bad("the vmdesc is not a JSON object"));
        }
        let mut devices = Vec::new();
        let mut index = HashMap::new();
        for d in v
            .get("devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // A section is found by both.
            let name = d
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a vmdesc device without a name"))?
                .to_owned();
            let inst = d
                .get("instance_id")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(format!("vmdesc device {name} without an instance_id")))?;
            index
                .entry((name.clone(), inst))
                .or_insert_with(Vec::new)
                .push(devices.len());
            let layout = Desc::parse(d, 0).map_err(|e| e.in_device(&name));
            devices.push((name, inst, layout));
        }
        // Budgets over the whole description, not per device: a stream of many
        // devices must not get around them.
        let layouts = || devices.iter().filter_map(|(_, _, d)| d.as_ref().ok());
        let expanded = layouts()
            .map(Desc::expanded)
            .fold(0u64, u64::saturating_add);
        Limits::check("described_elements", expanded, limits.described_elements, 0)?;
        let padding = layouts()
            .map(Desc::padding_bytes)
            .fold(0u64, u64::saturating_add);
        Limits::check("described_padding", padding, limits.described_padding, 0)?;
        Ok(Descriptions { devices, index })
    }

    /// The tree's vmdesc text and its descriptions.
    pub(crate) fn of_tree(tree: &Value) -> Result<(&str, Descriptions)> {
        let vmdesc = tree
            .get("vmdesc")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the tree has no vmdesc"))?;
        Ok((vmdesc, Descriptions::parse(vmdesc, &Limits::default())?))
    }

    /// The layout of the device section `ident` (its occurrence among the
    /// sections of its idstr and instance).
    pub(crate) fn get(&self, ident: &SectionId) -> Result<&Desc> {
        let (idstr, instance) = (&ident.idstr, u64::from(ident.instance));
        let each = self
            .index
            .get(&(idstr.clone(), instance))
            .ok_or_else(|| bad(format!("section {idstr} ({instance}) is not in the vmdesc")))?;
        let i = each.get(ident.occurrence as usize).ok_or_else(|| {
            bad(format!(
                "section {idstr} ({instance}) is sent {} times; the vmdesc describes it {} times",
                ident.occurrence + 1,
                each.len()
            ))
        })?;
        self.devices[*i].2.as_ref().map_err(Clone::clone)
    }
}
