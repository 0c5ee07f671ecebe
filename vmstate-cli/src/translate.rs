//! `vmstate translate`: rewrites a stream so that another QEMU release loads it,
//! across the breaks of QEMU's own device descriptions between 7.2 and 10.0 where
//! the state maps, and refuses, naming the device and the reason, where it does
//! not. It works on the stream's tree (`dump`), value and description together,
//! so the output carries a vmdesc that describes what it holds.
//!
//! | break | 7.2 -> 10.0 | 10.0 -> 7.2 |
//! |---|---|---|
//! | ESP SCSI (`esp` in `pciespscsi`, `sysbusespscsi`): 10.0 reads `drq_state`, which 7.2 never sent; `data_in_ready`, `ti_cmd` renamed | adds `drq_state` false (the DRQ line is low: PCI ESP DMA never raises it); refuses 7.2's `esp/pdma` subsection (a PDMA transfer in flight, which 10.0 carries otherwise) | drops `drq_state` when false; refuses it raised |
//! | machine types | all of 7.2's exist in 10.0 | refuses machine types newer than 7.2 |
//! | `SWITCHOVER_START` | — | only 10.0 machine types send it (refused above) |
//! | padding of once-named fields (`sb16`) | the same bytes | refused: 7.2 would load zeros as the card's irq, dma and port |
//! | `sd-card`'s `enable`, padding in 10.0 (which writes 0) | the same bytes | sets it: 7.2 would load the 0 as a disabled card, which no 10.0 card is |

use crate::verify::Release;
use serde_json::{json, Value};

/// What a translation did, or why it cannot be done.
pub type Outcome = Result<Vec<String>, String>;

/// Rewrites `tree` (a stream's `dump` tree) for `to`, the release it was not
/// written for: a line per change made.
pub fn translate(tree: &mut Value, to: Release) -> Outcome {
    let machine = tree["configuration"]["machine_type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if to == Release::Qemu7_2 && Release::of_machine(&machine) == Some(Release::Qemu10_0) {
        return Err(format!(
            "machine type {machine}: QEMU 7.2 does not have it; save the VM on a pc-*-7.2 machine type to move it to 7.2"
        ));
    }
    let mut vmdesc: Value = match &tree["vmdesc"] {
        Value::String(s) => serde_json::from_str(s).map_err(|e| format!("vmdesc: {e}"))?,
        _ => return Err("the stream has no vmdesc: translate needs its description".into()),
    };
    let mut changes = Vec::new();
    let sections = tree["sections"].as_array_mut().ok_or("no sections")?;
    let entries = vmdesc["devices"]
        .as_array_mut()
        .ok_or("vmdesc without devices")?;
    let mut used = vec![false; entries.len()];
    for section in sections.iter_mut().filter(|s| s["type"] == "full") {
        let (idstr, instance) = (section["idstr"].clone(), section["instance_id"].clone());
        let Some(i) = (0..entries.len()).find(|i| {
            !used[*i] && entries[*i]["name"] == idstr && entries[*i]["instance_id"] == instance
        }) else {
            continue;
        };
        used[i] = true;
        let entry = &mut entries[i];
        let name = format!("{}#{}", idstr.as_str().unwrap_or_default(), instance);
        match entry["vmsd_name"].as_str() {
            Some("pciespscsi" | "sysbusespscsi") => {
                esp(&mut section["value"]["esp"], esp_field(entry)?, to)
                    .map_err(|why| format!("{name}: {why}"))?;
                changes.push(format!(
                    "{name}: the ESP's state as QEMU {} describes it",
                    to.name()
                ));
            }
            Some("sd-card") if to == Release::Qemu7_2 => {
                sd_card_enabled(&mut section["value"], entry)
                    .map_err(|why| format!("{name}: {why}"))?;
                changes.push(format!("{name}: enabled, as QEMU 10.0's cards all are"));
            }
            Some("sb16") if to == Release::Qemu7_2 => {
                return Err(format!(
                    "{name}: QEMU 10.0 sends the Sound Blaster's irq, dma, hdma, port and version as zeros; 7.2 would load them as the card's resources"
                ));
            }
            _ => {}
        }
    }
    if to == Release::Qemu7_2 {
        sections.retain(|s| s["command"] != "SWITCHOVER_START");
    }
    // In QEMU's own style, so that an untouched stream comes back byte for byte.
    let mut j = vmstate_runtime::json::JsonWriter::compact();
    j.value(None, &vmdesc);
    tree["vmdesc"] = Value::String(j.finish());
    Ok(changes)
}

/// An SD card of QEMU 10.0 as 7.2 has it: its last byte, 10.0's padding
/// (`unused[1]`), is 7.2's `enable`, true (10.0 has no disabled card), and the
/// 512-byte padding before it is 7.2's `unused`.
fn sd_card_enabled(value: &mut Value, entry: &mut Value) -> Result<(), String> {
    let obj = value
        .as_object_mut()
        .ok_or("the card's value is not a struct")?;
    if obj.remove("unused[1]").is_none() {
        return Err("already in QEMU 7.2's form".into());
    }
    obj.insert("enable".into(), true.into());
    let fields = entry["fields"]
        .as_array_mut()
        .ok_or("the card's description has no fields")?;
    for f in fields.iter_mut().filter(|f| f["name"] == "unused[1]") {
        *f = json!({"name": "enable", "type": "bool", "size": 1});
    }
    rename(obj, fields, &[("unused[0]", "unused")]);
    Ok(())
}

/// The `esp` struct field's description in a vmdesc entry.
fn esp_field(entry: &mut Value) -> Result<&mut Value, String> {
    entry["fields"]
        .as_array_mut()
        .and_then(|f| f.iter_mut().find(|f| f["name"] == "esp"))
        .ok_or_else(|| "no `esp` field in its description".to_owned())
}

/// The ESP's value and its field's description (`size`, `struct`), from one
/// release's form to the other's.
fn esp(value: &mut Value, field: &mut Value, to: Release) -> Result<(), String> {
    let size = field["size"]
        .as_u64()
        .ok_or("the ESP's description has no size")?;
    field["size"] = match to {
        Release::Qemu10_0 => size + 1,
        Release::Qemu7_2 => size.saturating_sub(1),
    }
    .into();
    let desc = &mut field["struct"];
    let has_pdma = desc["subsections"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["vmsd_name"] == "esp/pdma"));
    let obj = value
        .as_object_mut()
        .ok_or("the ESP's value is not a struct")?;
    let fields = desc["fields"]
        .as_array_mut()
        .ok_or("the ESP's description has no fields")?;
    let renames = [("data_in_ready", "data_ready"), ("ti_cmd", "mig_ti_cmd")];
    match to {
        Release::Qemu10_0 => {
            if has_pdma {
                return Err("saved during a PDMA transfer (QEMU 7.2's `esp/pdma` subsection), which QEMU 10.0 carries otherwise: migrate once the guest's transfer ended".into());
            }
            if obj.contains_key("drq_state") {
                return Err("already in QEMU 10.0's form".into());
            }
            rename(obj, fields, &renames);
            obj.insert("drq_state".into(), false.into());
            fields.push(json!({"name": "drq_state", "type": "bool", "size": 1}));
            desc["version"] = 7.into();
        }
        Release::Qemu7_2 => {
            match obj.get("drq_state") {
                Some(Value::Bool(false)) => {}
                Some(_) => {
                    return Err(
                        "its DRQ line is raised (`drq_state`), which QEMU 7.2 does not keep".into(),
                    )
                }
                None => return Err("already in QEMU 7.2's form".into()),
            }
            obj.remove("drq_state");
            fields.retain(|f| f["name"] != "drq_state");
            let back: Vec<(&str, &str)> = renames.iter().map(|(a, b)| (*b, *a)).collect();
            rename(obj, fields, &back);
            desc["version"] = 6.into();
        }
    }
    Ok(())
}

/// Renames struct fields in the value and its description, keeping their order.
fn rename(obj: &mut serde_json::Map<String, Value>, fields: &mut [Value], pairs: &[(&str, &str)]) {
    for (from, to) in pairs {
        if let Some(f) = fields.iter_mut().find(|f| f["name"] == *from) {
            f["name"] = (*to).into();
        }
    }
    let old = std::mem::take(obj);
    for (k, v) in old {
        let k = pairs
            .iter()
            .find(|(f, _)| *f == k)
            .map_or(k, |(_, t)| (*t).to_owned());
        obj.insert(k, v);
    }
}
