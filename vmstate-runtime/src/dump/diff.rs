//! Field-level differences between two stream trees: what a person debugging a failed
//! migration wants to see (device, field path, both values), RAM by page
//! (`vmstate diff`).
//!
//! ```
//! use vmstate_runtime::dump::diff::{diff, PageDigests};
//! // Two trees (`dump::from_bytes` of two streams; RAM records go to the digests).
//! let a = serde_json::json!({"sections": [{"type": "full", "idstr": "uart", "instance_id": 0,
//!     "version": 1, "value": {"lcr": 3}}]});
//! let mut b = a.clone();
//! b["sections"][0]["value"]["lcr"] = 7.into();
//! let (mut ra, mut rb) = (PageDigests::default(), PageDigests::default());
//! assert_eq!(diff(&a, &b, &mut ra, &mut rb), ["uart#0.lcr: 3 -> 7"]);
//! ```

use super::unhex;
use crate::error::Result;
use crate::ram::{page_index, unknown_block, RamRecord, PAGE_SIZE};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

const PAGE: usize = PAGE_SIZE as usize;

/// Bytes listed individually before the rest of a buffer's differences are counted.
const SHOWN_BYTES: usize = 8;
/// Pages listed individually per RAM block.
const SHOWN_PAGES: usize = 8;

/// The differences, one line each; empty when the streams hold the same state.
/// `ram_a` and `ram_b` are the streams' RAM pages, digested.
pub fn diff(a: &Value, b: &Value, ram_a: &mut PageDigests, ram_b: &mut PageDigests) -> Vec<String> {
    let mut out = Vec::new();
    values(
        "configuration",
        &a["configuration"],
        &b["configuration"],
        &mut out,
    );
    let devices = |t: &Value| -> Vec<(String, Value)> {
        t["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == "full")
            .map(|s| {
                (
                    format!("{}#{}", s["idstr"].as_str().unwrap_or(""), s["instance_id"]),
                    s.clone(),
                )
            })
            .collect()
    };
    let (da, db) = (devices(a), devices(b));
    for (key, sa) in &da {
        match db.iter().find(|(k, _)| k == key) {
            None => out.push(format!("{key}: only in the first stream")),
            Some((_, sb)) => {
                if sa["version"] != sb["version"] {
                    out.push(format!(
                        "{key}: version {} -> {}",
                        sa["version"], sb["version"]
                    ));
                }
                values(key, &sa["value"], &sb["value"], &mut out);
            }
        }
    }
    for (key, _) in db.iter().filter(|(k, _)| !da.iter().any(|(ka, _)| ka == k)) {
        out.push(format!("{key}: only in the second stream"));
    }
    // QEMU's command records (10.0's SWITCHOVER_START), in stream order.
    let commands = |t: &Value| -> Vec<Value> {
        t["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == "command")
            .cloned()
            .collect()
    };
    let (ca, cb) = (commands(a), commands(b));
    if ca != cb {
        let names = |c: &[Value]| -> String {
            let n: Vec<&str> = c
                .iter()
                .map(|x| x["command"].as_str().unwrap_or("?"))
                .collect();
            if n.is_empty() {
                "none".into()
            } else {
                n.join(", ")
            }
        };
        out.push(format!("commands: {} -> {}", names(&ca), names(&cb)));
    }
    ram(ram_a, ram_b, &mut out);
    out
}

fn values(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(oa), Value::Object(ob)) => {
            for (k, va) in oa {
                match ob.get(k) {
                    Some(vb) => values(&format!("{path}.{k}"), va, vb, out),
                    None => out.push(format!("{path}.{k}: only in the first stream")),
                }
            }
            for k in ob.keys().filter(|k| !oa.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in the second stream"));
            }
        }
        (Value::Array(la), Value::Array(lb)) if la.len() == lb.len() => {
            for (i, (va, vb)) in la.iter().zip(lb).enumerate() {
                values(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        (Value::String(sa), Value::String(sb)) if sa.len() == sb.len() => {
            match (unhex(sa), unhex(sb)) {
                (Some(ba), Some(bb)) => bytes(path, &ba, &bb, out),
                _ => out.push(format!("{path}: {a} -> {b}")),
            }
        }
        _ => out.push(format!("{path}: {a} -> {b}")),
    }
}

fn bytes(path: &str, a: &[u8], b: &[u8], out: &mut Vec<String>) {
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    for &i in differing.iter().take(SHOWN_BYTES) {
        out.push(format!("{path}[{i:#x}]: {:#04x} -> {:#04x}", a[i], b[i]));
    }
    if differing.len() > SHOWN_BYTES {
        out.push(format!(
            "{path}: {} more bytes differ",
            differing.len() - SHOWN_BYTES
        ));
    }
}

fn ram(a: &mut PageDigests, b: &mut PageDigests, out: &mut Vec<String>) {
    let zero = a.zero();
    let (ra, rb) = (&a.blocks, &b.blocks);
    for (name, (len_a, pa)) in ra {
        let Some((len_b, pb)) = rb.get(name) else {
            out.push(format!("ram {name}: only in the first stream"));
            continue;
        };
        if len_a != len_b {
            out.push(format!("ram {name}: {len_a} bytes -> {len_b} bytes"));
            continue;
        }
        // Pages either stream sent; a page one of them never sent is zero.
        let sent: std::collections::BTreeSet<u64> = pa.keys().chain(pb.keys()).copied().collect();
        let pages: Vec<u64> = sent
            .into_iter()
            .filter(|i| pa.get(i).unwrap_or(&zero) != pb.get(i).unwrap_or(&zero))
            .map(|i| i * 4096)
            .collect();
        if !pages.is_empty() {
            let shown: Vec<String> = pages
                .iter()
                .take(SHOWN_PAGES)
                .map(|p| format!("{p:#x}"))
                .collect();
            let more = if pages.len() > SHOWN_PAGES {
                ", ..."
            } else {
                ""
            };
            out.push(format!(
                "ram {name}: {} pages differ: {}{more}",
                pages.len(),
                shown.join(", ")
            ));
        }
    }
    for name in rb.keys().filter(|k| !ra.contains_key(*k)) {
        out.push(format!("ram {name}: only in the second stream"));
    }
}

/// The SHA-256 of every page a stream sends, as a destination would end up with
/// them: what `diff` compares. Per block, its length and the digests of the pages
/// sent (a page never sent is zero); they grow with the stream, not with the
/// lengths its block list claims.
///
/// A page sent encoded on its previous content (an XBZRLE delta) cannot be made
/// from a digest: such pages are listed in [`PageDigests::unresolved`], and a
/// second pass over the same stream with [`PageDigests::keeping`] them keeps
/// their content from the records before, so that every page is resolved.
#[derive(Default)]
pub struct PageDigests {
    /// Per block, its length and each sent page's digest by page index.
    pub blocks: BTreeMap<String, (u64, BTreeMap<u64, [u8; 32]>)>,
    /// The digest of a page filled with each byte met so far.
    fills: BTreeMap<u8, [u8; 32]>,
    /// The pages whose content is kept (block, page index), and their content
    /// (absent: zero).
    kept: BTreeMap<(String, u64), Option<Vec<u8>>>,
    /// Pages an encoded record changed whose previous content was not kept.
    pub unresolved: BTreeSet<(String, u64)>,
}

impl PageDigests {
    /// Digests that keep the content of `pages` (a first pass's
    /// [`PageDigests::unresolved`]).
    pub fn keeping(pages: BTreeSet<(String, u64)>) -> Self {
        PageDigests {
            kept: pages.into_iter().map(|p| (p, None)).collect(),
            ..Self::default()
        }
    }

    /// Takes one record.
    pub fn record(&mut self, r: &RamRecord<'_>) -> Result<()> {
        if let RamRecord::MemSize {
            blocks, regions, ..
        } = r
        {
            for (i, b) in blocks.iter().enumerate() {
                let mut pages = BTreeMap::new();
                // A mapped-ram file's pages: those held, from their slots.
                if let Some(region) = regions.get(i) {
                    region.for_each_held(b.length, |offset, page| {
                        let digest = match page {
                            Some(page) => Sha256::digest(page).into(),
                            None => self.zero(),
                        };
                        pages.insert(offset / PAGE_SIZE, digest);
                        Ok(())
                    })?;
                }
                self.blocks.insert(b.name.clone(), (b.length, pages));
            }
            return Ok(());
        }
        let Some((block, offset)) = r.page() else {
            return Ok(());
        };
        let (len, pages) = self
            .blocks
            .get_mut(block)
            .ok_or_else(|| unknown_block(block))?;
        let i = page_index(block, offset, *len)?;
        // A page whose content a second pass keeps for a later delta.
        let kept = if self.kept.is_empty() {
            None
        } else {
            self.kept.get_mut(&(block.to_owned(), i))
        };
        let digest = match r {
            RamRecord::Zero { fill, .. } => {
                if let Some(kept) = kept {
                    *kept = (*fill != 0).then(|| vec![*fill; PAGE]);
                }
                let fill = *fill;
                Some(
                    *self
                        .fills
                        .entry(fill)
                        .or_insert_with(|| Sha256::digest([fill; PAGE]).into()),
                )
            }
            RamRecord::Page { data, .. } => {
                if let Some(kept) = kept {
                    *kept = Some(data.to_vec());
                }
                Some(Sha256::digest(data).into())
            }
            RamRecord::Encoded { encoding, data, .. } => match kept {
                Some(kept) => {
                    let page = kept.get_or_insert_with(|| vec![0; PAGE]);
                    encoding.apply(data, page, 0)?;
                    Some(Sha256::digest(page).into())
                }
                None => encoding
                    .whole_page(data, PAGE)
                    .map(|page| Sha256::digest(page).into()),
            },
            RamRecord::MemSize { .. } | RamRecord::MultifdFlush => None,
        };
        match digest {
            Some(d) => {
                pages.insert(i, d);
            }
            // Made from a content this pass did not keep: the second pass's.
            None => {
                pages.remove(&i);
                self.unresolved.insert((block.to_owned(), i));
            }
        }
        Ok(())
    }

    /// The digest of a page filled with zeros.
    pub fn zero(&mut self) -> [u8; 32] {
        *self
            .fills
            .entry(0)
            .or_insert_with(|| Sha256::digest([0u8; PAGE]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ram::Encoding;

    /// Two streams whose page 0 ends different only through an XBZRLE delta: the
    /// first pass leaves the page unresolved, the second keeps its content and
    /// tells them apart.
    #[test]
    fn pages_changed_by_xbzrle_are_compared_after_a_second_pass() {
        let old = vec![1u8; PAGE];
        let stream = |changed: u8| {
            let mut new = old.clone();
            new[100] = changed;
            vec![
                RamRecord::MemSize {
                    total: PAGE_SIZE,
                    blocks: vec![crate::ram::ListedBlock::new("pc.ram", PAGE_SIZE)],
                    regions: vec![],
                },
                RamRecord::Page {
                    block: "pc.ram".into(),
                    offset: 0,
                    data: old.clone().into(),
                    continued: false,
                },
                RamRecord::Encoded {
                    block: "pc.ram".into(),
                    offset: 0,
                    encoding: Encoding::Xbzrle,
                    data: crate::ram::xbzrle::encode(&old, &new).unwrap().into(),
                    continued: true,
                },
            ]
        };
        let digests = |records: &[RamRecord<'_>]| {
            let mut first = PageDigests::default();
            records.iter().try_for_each(|r| first.record(r)).unwrap();
            assert_eq!(first.unresolved.len(), 1);
            let mut second = PageDigests::keeping(first.unresolved);
            records.iter().try_for_each(|r| second.record(r)).unwrap();
            assert!(second.unresolved.is_empty());
            second
        };
        let tree = serde_json::json!({"sections": []});
        let (mut a, mut b) = (digests(&stream(7)), digests(&stream(8)));
        assert_eq!(
            diff(&tree, &tree, &mut a, &mut b),
            ["ram pc.ram: 1 pages differ: 0x0"]
        );
        let (mut a, mut b) = (digests(&stream(7)), digests(&stream(7)));
        assert!(diff(&tree, &tree, &mut a, &mut b).is_empty());
    }
}
