//! `vmstate verify`: whether a QEMU release will load a stream, decided before
//! `-incoming` by the rules QEMU's load applies. Per device section: its
//! description exists in that release at a version range that takes the section's
//! version, with the subsections the section brings (the release's own
//! `-dump-vmstate`, embedded); its typed mirror loads the body as that release
//! would (every `equal`, `validate`, version and subsection rule), consumes it
//! exactly, and saves it back to the same bytes. Per stream: the release has the
//! machine type, and knows the commands the stream sends.
//!
//! The destination is taken to be configured as the stream's description shows
//! its source was (ports, possible vCPUs, memory slots), as a VMM operator starts
//! it with the source's command line.

use vmstate_qemu::{machine_version, mirrors_for_stream, SectionMirror};
use vmstate_runtime::dump::LegacyStream;
use vmstate_runtime::framing::Command;
use vmstate_runtime::io::{SliceInput, StreamInput};
use vmstate_runtime::Format;

/// A QEMU release `verify` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Release {
    /// QEMU 7.2 (Debian bookworm).
    #[value(name = "7.2")]
    Qemu7_2,
    /// QEMU 10.0.
    #[value(name = "10.0")]
    Qemu10_0,
}

impl Release {
    fn version(self) -> (u32, u32) {
        match self {
            Release::Qemu7_2 => (7, 2),
            Release::Qemu10_0 => (10, 0),
        }
    }

    /// `7.2` or `10.0`.
    pub fn name(self) -> &'static str {
        match self {
            Release::Qemu7_2 => "7.2",
            Release::Qemu10_0 => "10.0",
        }
    }

    /// The release's x86 `-dump-vmstate` (for `pc-i440fx-<release>`), as the
    /// fixtures hold it (`test-support/fixtures`), zstd-compressed in the crate.
    fn dump(self) -> serde_json::Value {
        let packed: &[u8] = match self {
            Release::Qemu7_2 => include_bytes!("../data/qemu-7.2.vmstate.json.zst"),
            Release::Qemu10_0 => include_bytes!("../data/qemu-10.0.vmstate.json.zst"),
        };
        zstd::decode_all(packed)
            .ok()
            .and_then(|text| serde_json::from_slice(&text).ok())
            .unwrap_or_default()
    }

    /// The release whose machine type `machine` is (`pc-q35-7.2` -> 7.2).
    pub fn of_machine(machine: &str) -> Option<Release> {
        match machine_version(machine)? {
            (7, 2) => Some(Release::Qemu7_2),
            (10, 0) => Some(Release::Qemu10_0),
            _ => None,
        }
    }
}

/// The verdict: a line per section and per stream-level rule, and whether the
/// release loads the stream.
pub struct Verdict {
    /// The report.
    pub lines: Vec<String>,
    /// Whether every section is typed, loads, and saves back to its bytes, and
    /// the stream-level rules hold.
    pub loads: bool,
}

/// Checks the legacy stream `bytes` (walked as `stream`) against `release`.
pub fn verify(stream: &LegacyStream<'_>, release: Release) -> Verdict {
    let mut v = Verdict {
        lines: Vec::new(),
        loads: true,
    };
    let refuse = |v: &mut Verdict, line: String| {
        v.lines.push(line);
        v.loads = false;
    };
    let machine = stream.machine_type();
    match machine_version(&machine) {
        Some(m) if m > release.version() => refuse(
            &mut v,
            format!(
                "refused  machine type {machine}: QEMU {} does not have it",
                release.name()
            ),
        ),
        _ => v.lines.push(format!("machine  {machine}")),
    }
    if release == Release::Qemu7_2 {
        for c in &stream.commands {
            if c.command.number > Command::LAST_IN_QEMU_7_2 {
                refuse(
                    &mut v,
                    format!(
                        "refused  command {} at byte {}: QEMU 7.2 does not know it (a 10.0 machine type sends SWITCHOVER_START)",
                        c.command.number, c.offset
                    ),
                );
            }
        }
    }
    let dump = release.dump();
    let vmdesc: serde_json::Value = serde_json::from_str(stream.vmdesc).unwrap_or_default();
    let entries = vmdesc["devices"].as_array().map_or(&[][..], Vec::as_slice);
    let mut used = vec![false; entries.len()];
    let bodies: Vec<_> = stream
        .sections
        .iter()
        .filter(|s| s.kind == vmstate_runtime::stream::SectionKind::Full)
        .collect();
    for (m, section) in mirrors_for_stream(stream).into_iter().zip(bodies) {
        let name = format!("{}#{}", m.idstr, m.instance);
        let entry = entries
            .iter()
            .enumerate()
            .find(|(i, e)| {
                !used[*i] && e["name"] == m.idstr.as_str() && e["instance_id"] == m.instance
            })
            .map(|(i, e)| {
                used[i] = true;
                e
            });
        let version = section.ident.version;
        if let Some(why) = entry.and_then(|e| described_refusal(&dump, e, version, release)) {
            refuse(&mut v, format!("refused  {name} v{version}: {why}"));
            continue;
        }
        match typed(m, section.body, section.body_offset, version, release) {
            Ok(ty) => v.lines.push(format!(
                "ok       {name} v{version} ({ty}, {} bytes)",
                section.body.len()
            )),
            Err(why) => refuse(&mut v, why),
        }
    }
    let summary = format!(
        "QEMU {} {} this stream",
        release.name(),
        if v.loads { "loads" } else { "refuses" }
    );
    v.lines.push(summary);
    v
}

/// Why `release` refuses a section its vmdesc `entry` describes at `version`, by
/// the release's own description of it (`None`: it takes it, or the release
/// registers the section in code and its dump does not list it).
fn described_refusal(
    dump: &serde_json::Value,
    entry: &serde_json::Value,
    version: u32,
    release: Release,
) -> Option<String> {
    let vmsd = entry["vmsd_name"].as_str()?;
    let descs: Vec<&serde_json::Value> = dump
        .as_object()?
        .values()
        .filter_map(|d| d.get("Description"))
        .filter(|d| d["name"] == vmsd)
        .collect();
    if descs.is_empty() {
        return None;
    }
    let takes = |d: &&serde_json::Value| {
        let (max, min) = (d["version_id"].as_u64()?, d["minimum_version_id"].as_u64()?);
        (u64::from(version) >= min && u64::from(version) <= max).then_some(())
    };
    let Some(desc) = descs.iter().find(|d| takes(d).is_some()) else {
        let d = descs[0];
        return Some(format!(
            "QEMU {} loads {vmsd} at versions {} to {}",
            release.name(),
            d["minimum_version_id"],
            d["version_id"]
        ));
    };
    let known: Vec<&str> = desc["Subsections"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    entry["subsections"]
        .as_array()?
        .iter()
        .filter_map(|s| s["vmsd_name"].as_str())
        .find(|s| !known.contains(s))
        .map(|s| format!("QEMU {} does not know its subsection {s}", release.name()))
}

/// Loads a section's `body` (at `offset` in the stream) into its mirror as a
/// destination would, and saves it back: the mirror's type name, or the refusal.
fn typed(
    m: SectionMirror,
    body: &[u8],
    offset: u64,
    version: u32,
    release: Release,
) -> Result<String, String> {
    let name = format!("{}#{}", m.idstr, m.instance);
    let Some(mut device) = m.device else {
        return Err(format!("no mirror {name}: no typed mirror covers it"));
    };
    let refused = |e: vmstate_runtime::Error| format!("refused  {name} v{version}: {e}");
    device
        .desc()
        .check_version(version, offset)
        .map_err(refused)?;
    let mut input = StreamInput::Slice(SliceInput::with_base(body, offset));
    let staged = device.stage_legacy(&mut input, version).map_err(refused)?;
    if let StreamInput::Slice(s) = &input {
        s.expect_end().map_err(refused)?;
    }
    device.commit(staged);
    let mut again = Vec::with_capacity(body.len());
    device
        .save(Format::Legacy, version, &mut again)
        .map_err(refused)?;
    if again != body {
        let at = again
            .iter()
            .zip(body)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(body.len()));
        return Err(format!(
            "refused  {name} v{version}: loads, but saves back otherwise from byte {}",
            offset + at as u64
        ));
    }
    if let Some(why) = breaks_in(device.as_mut(), release) {
        return Err(format!("refused  {name} v{version}: {why}"));
    }
    Ok(device.desc().name.to_owned())
}

/// Why `release` refuses a loaded section whose layout its own load reads
/// otherwise than its source wrote it, at the same section version (QEMU's own
/// breaks between releases).
fn breaks_in(
    device: &mut dyn vmstate_runtime::stream::SectionDevice,
    release: Release,
) -> Option<String> {
    let esp = device
        .as_any_mut()
        .downcast_mut::<vmstate_qemu::PciEspScsi>()?;
    let written = esp.mig_version_id;
    (release == Release::Qemu10_0 && written < vmstate_qemu::ESP_VERSION).then(|| {
        format!(
            "QEMU 10.0 reads esp.drq_state, which ESP state of version {written} (QEMU 7.2's) does not have; `vmstate translate --release 10.0` adds it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::Release;

    /// The dumps `verify` carries are the fixtures' own.
    #[test]
    fn the_embedded_dumps_are_the_fixtures() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-support/fixtures");
        for (release, file) in [
            (Release::Qemu7_2, "qemu-7.2/pc-i440fx-7.2.vmstate.json"),
            (Release::Qemu10_0, "qemu-10.0/pc-i440fx-10.0.vmstate.json"),
        ] {
            let text = std::fs::read(fixtures.join(file)).unwrap();
            let fixture: serde_json::Value = serde_json::from_slice(&text).unwrap();
            assert_eq!(release.dump(), fixture, "{file}");
        }
    }
}
