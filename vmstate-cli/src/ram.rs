//! What the CLI does with a stream's RAM, record by record as the decoder meets them
//! (`dump::RamParts::Summary`): write each block to a file, or digest each page for
//! `diff`. A large guest's RAM is never held as JSON, nor whole in memory.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use vmstate_runtime::dump;
use vmstate_runtime::framing::{self, UnpluggedRam};
use vmstate_runtime::io::{SliceInput, StreamInput};
use vmstate_runtime::ram::{page_index, unknown_block, Arrived, Holes, RamRecord, PAGE_SIZE};
use vmstate_runtime::stream::SectionKind;
use vmstate_runtime::unplugged::{device_path, is_block_of};
use vmstate_runtime::{printable, Error, ErrorKind, Format, Result};

const PAGE: usize = PAGE_SIZE as usize;

/// Calls `f` with every RAM record of a full tree (one with `ram` records, such as
/// `dump --json` writes).
pub fn for_each_record(
    tree: &Value,
    f: &mut dyn FnMut(&RamRecord<'_>) -> Result<()>,
) -> Result<()> {
    for sec in tree["sections"].as_array().into_iter().flatten() {
        if let Some(records) = sec.get("ram") {
            dump::ram_from_json(records)?.iter().try_for_each(&mut *f)?;
        }
    }
    Ok(())
}

/// One file per RAM block, `DIR/<block>.bin`, the pages written at their offsets
/// (later pages over earlier ones, as on a real destination).
pub struct BlockFiles {
    dir: PathBuf,
    /// Per block: its file, its length and which pages hold data so far (a zero
    /// page is written only over data: the files start as zeros). Sets, not
    /// bitmaps: they grow with the pages the stream has, not with the lengths its
    /// block list claims.
    blocks: BTreeMap<String, (File, u64, BTreeSet<u64>)>,
    /// Which pages arrived: a block with pages missing is no image of the guest's.
    arrived: Arrived,
    /// The guest address of each block whose list entry had one (`x-ignore-shared`).
    addresses: BTreeMap<String, u64>,
}

impl BlockFiles {
    /// Files in `dir`, which is created if needed.
    pub fn new(dir: &Path) -> std::io::Result<BlockFiles> {
        std::fs::create_dir_all(dir)?;
        Ok(BlockFiles {
            dir: dir.to_owned(),
            blocks: BTreeMap::new(),
            arrived: Arrived::new(),
            addresses: BTreeMap::new(),
        })
    }

    /// The blocks with pages the stream did not send.
    pub fn holes(&self) -> Vec<Holes> {
        self.arrived.holes(PAGE_SIZE)
    }

    /// What a block's holes are, for a user: a stream saved with `x-ignore-shared`
    /// sends no page of a block the destination shares with the source.
    pub fn describe(&self, h: &Holes) -> String {
        let block = printable(&h.block);
        match self.addresses.get(&h.block) {
            Some(addr) if h.missing == h.pages => format!(
                "RAM block {block} (guest address {addr:#x}) is not in the stream: it was \
                 saved with x-ignore-shared, which sends no page of memory the destination \
                 shares with the source (a memory backend with share=on); its content is \
                 in that backend's file"
            ),
            _ => format!(
                "RAM block {block}: {} of its {} pages are not in the stream",
                h.missing, h.pages
            ),
        }
    }

    /// Removes the files written: what is left of an image with holes that was
    /// not asked for as partial.
    pub fn remove(&self) {
        for (_, path, _) in self.written() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Writes one record.
    pub fn record(&mut self, r: &RamRecord<'_>) -> Result<()> {
        self.arrived.record(r);
        let io = |e: std::io::Error| Error::new(ErrorKind::Io(e.to_string()), 0);
        if let RamRecord::MemSize {
            blocks, regions, ..
        } = r
        {
            for (i, b) in blocks.iter().enumerate() {
                let (name, len) = (&b.name, &b.length);
                if let Some(addr) = b.addr {
                    self.addresses.insert(name.clone(), addr);
                }
                let path = self.dir.join(format!("{}.bin", name.replace('/', "_")));
                // Read too: an XBZRLE page changes what the file holds.
                let file = File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(io)?;
                file.set_len(*len).map_err(io)?;
                // A mapped-ram file's pages: those whose bit is set, from their slots
                // (the file is zero elsewhere, as QEMU's destination is).
                let mut held = BTreeSet::new();
                if let Some(region) = regions.get(i) {
                    region.for_each_held(*len, |offset, page| {
                        if let Some(page) = page {
                            file.write_all_at(page, offset).map_err(io)?;
                            held.insert(offset / PAGE as u64);
                        }
                        Ok(())
                    })?;
                }
                self.blocks.insert(name.clone(), (file, *len, held));
            }
            return Ok(());
        }
        let Some((block, offset)) = r.page() else {
            return Ok(());
        };
        let (file, len, data) = self
            .blocks
            .get_mut(block)
            .ok_or_else(|| unknown_block(block))?;
        let i = page_index(block, offset, *len)?;
        match r {
            RamRecord::Zero { fill, .. } => {
                let over_data = if *fill == 0 {
                    data.remove(&i)
                } else {
                    !data.insert(i)
                };
                if *fill != 0 || over_data {
                    file.write_all_at(&[*fill; PAGE], offset).map_err(io)?;
                }
            }
            RamRecord::Page { data: page, .. } => {
                file.write_all_at(page, offset).map_err(io)?;
                data.insert(i);
            }
            // The page as the file holds it, made by the encoded bytes.
            RamRecord::Encoded {
                encoding,
                data: bytes,
                ..
            } => {
                let mut page = [0u8; PAGE];
                file.read_exact_at(&mut page, offset).map_err(io)?;
                encoding.apply(bytes, &mut page, 0)?;
                file.write_all_at(&page, offset).map_err(io)?;
                data.insert(i);
            }
            RamRecord::MemSize { .. } | RamRecord::MultifdFlush => {}
        }
        Ok(())
    }

    /// Takes memory of the RAM block of the device at `device_path` that its
    /// source did not send (virtio-mem's unplugged blocks): zeros in the file, as
    /// a destination discards it, counted as arrived.
    pub fn unplugged(&mut self, device_path: &str, ram: &UnpluggedRam) -> Result<()> {
        let io = |e: std::io::Error| Error::new(ErrorKind::Io(e.to_string()), 0);
        for (name, (file, len, data)) in &mut self.blocks {
            if !is_block_of(name, device_path) || *len != ram.size {
                continue;
            }
            for r in &ram.ranges {
                let (start, end) = (r.start.min(*len), r.end.min(*len));
                let first = start / PAGE as u64;
                let pages = (end.saturating_sub(start)).div_ceil(PAGE as u64);
                for i in first..first + pages {
                    if data.remove(&i) {
                        file.write_all_at(&[0; PAGE], i * PAGE as u64).map_err(io)?;
                    }
                }
                self.arrived.pages(name, start, pages, PAGE_SIZE);
            }
        }
        Ok(())
    }

    /// The blocks written: name, file and length.
    pub fn written(&self) -> Vec<(String, PathBuf, u64)> {
        self.blocks
            .iter()
            .map(|(name, (_, len, _))| {
                let file = self.dir.join(format!("{}.bin", name.replace('/', "_")));
                (name.clone(), file, *len)
            })
            .collect()
    }
}

/// Lists the pages `holes` miss: a line per block on stderr (its first ranges),
/// and every range in `file` (`block start end`, hex byte offsets, a line each).
pub fn list_holes(holes: &[Holes], file: &Path) -> std::io::Result<()> {
    let mut all = String::new();
    for h in holes {
        let block = printable(&h.block);
        let shown: Vec<String> = h
            .ranges
            .iter()
            .take(8)
            .map(|r| format!("{:#x}-{:#x}", r.start, r.end))
            .collect();
        let more = h.ranges.len().saturating_sub(8);
        eprintln!(
            "missing: RAM block {block}: {} of its {} pages: {}{}",
            h.missing,
            h.pages,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more ranges")
            } else {
                String::new()
            }
        );
        for r in &h.ranges {
            all += &format!("{block} {:#x} {:#x}\n", r.start, r.end);
        }
    }
    std::fs::write(file, all)?;
    eprintln!("listed the missing pages in {}", file.display());
    Ok(())
}

/// What the device sections of stream `bytes` (either format) say their sources
/// did not send of their RAM blocks (virtio-mem's unplugged blocks), by device
/// path: read through the typed mirrors of the devices whose path `owns` accepts.
/// A section its mirror refuses says nothing: its block's holes stay holes.
pub fn unplugged_in(
    bytes: &[u8],
    owns: impl Fn(&str) -> bool,
) -> Result<Vec<(String, UnpluggedRam)>> {
    let converted;
    let bytes = match framing::detect(bytes) {
        Some(Format::Ber) => {
            converted = dump::convert(bytes, Format::Legacy)?;
            &converted[..]
        }
        _ => bytes,
    };
    let stream = dump::walk_legacy(bytes)?;
    let full = stream
        .sections
        .iter()
        .filter(|x| x.kind == SectionKind::Full);
    let mut out = Vec::new();
    for (m, x) in vmstate_qemu::mirrors_for_stream(&stream)
        .into_iter()
        .zip(full)
    {
        let path = device_path(&m.idstr);
        let Some(device) = m.device.as_ref().filter(|_| owns(path)) else {
            continue;
        };
        let mut input = StreamInput::Slice(SliceInput::with_base(x.body, x.body_offset));
        let Ok(staged) = device.stage_legacy(&mut input, x.ident.version) else {
            continue;
        };
        if let Some(ram) = device.unplugged_ram(staged.as_ref()) {
            out.push((path.to_owned(), ram));
        }
    }
    Ok(out)
}

/// The pages of stream `bytes` that its devices say their sources did not send
/// ([`unplugged_in`]; 0 when the stream does not read).
pub fn unplugged_pages(bytes: &[u8]) -> u64 {
    unplugged_in(bytes, |_| true)
        .unwrap_or_default()
        .iter()
        .flat_map(|(_, u)| &u.ranges)
        .map(|r| (r.end - r.start).div_ceil(PAGE_SIZE))
        .sum()
}
