//! Small helpers that the tests, snapshots and benches share.

/// A deterministic xorshift generator, so a failure found by random input reproduces.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random value (the seed must not be 0).
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A guest image for the benches: `size` bytes (whole 4 KiB pages), even pages
/// pseudo-random data, odd pages zero, so zero and data pages alternate (the worst
/// case for runs).
pub fn half_random_image(size: usize) -> Vec<u8> {
    let mut mem = vec![0u8; size];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for page in mem.chunks_mut(4096).step_by(2) {
        for word in page.chunks_mut(8) {
            word.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
    }
    mem
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes (0 where
/// `/proc` does not say).
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Whether `/dev/kvm` can be opened; if not, fails when `VMSTATE_REQUIRE_KVM` is set
/// (the test script sets it), else notes the skip.
pub fn kvm_available() -> bool {
    let ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("VMSTATE_REQUIRE_KVM").is_none(),
            "VMSTATE_REQUIRE_KVM is set but /dev/kvm cannot be opened"
        );
        eprintln!("note: skipping: /dev/kvm is not available");
    }
    ok
}

/// Named block memories, as RAM blocks to save.
pub fn ram_blocks(mem: &[(String, Vec<u8>)]) -> Vec<vmstate_runtime::ram::RamBlock<'_>> {
    mem.iter()
        .map(|(n, m)| vmstate_runtime::ram::RamBlock { name: n, mem: m })
        .collect()
}

/// Named block memories, as RAM blocks to load into.
pub fn ram_blocks_mut(mem: &mut [(String, Vec<u8>)]) -> Vec<vmstate_runtime::ram::RamBlockMut<'_>> {
    mem.iter_mut()
        .map(|(n, m)| vmstate_runtime::ram::RamBlockMut { name: n, mem: m })
        .collect()
}

/// Every RAM block of a legacy stream, rebuilt by [`RamLoader`] from its RAM parts:
/// `(name, memory)` in the block list's order.
///
/// [`RamLoader`]: vmstate_runtime::ram::RamLoader
pub fn ram_of(stream: &[u8]) -> vmstate_runtime::Result<Vec<(String, Vec<u8>)>> {
    use vmstate_runtime::ram::{self, RamLoader, RamRecord};
    let s = vmstate_runtime::dump::walk_legacy(stream)?;
    let parts: Vec<_> = s
        .sections
        .iter()
        .filter(|x| x.ident.idstr == "ram")
        .collect();
    let Some(first) = parts.first() else {
        return Ok(Vec::new());
    };
    let configuration = Some(&s.configuration);
    let mut cursor = ram::Cursor::new(configuration);
    let (records, _) = ram::read_part(first.body, first.body_offset, &mut cursor)?;
    let blocks = match records.first() {
        Some(RamRecord::MemSize { blocks, .. }) => blocks.clone(),
        _ => Vec::new(),
    };
    let mut mem: Vec<(String, Vec<u8>)> = blocks
        .iter()
        .map(|b| (b.name.clone(), vec![0; b.length as usize]))
        .collect();
    let mut loader = RamLoader::new(ram_blocks_mut(&mut mem));
    loader.configure(configuration);
    for p in &parts {
        loader.load_legacy(p.body, p.body_offset)?;
    }
    drop(loader);
    Ok(mem)
}

/// RAM blocks by name, as `ram_of` returns them.
pub type Ram = Vec<(String, Vec<u8>)>;

/// The VM of stream `bytes` (either format) whose sections are those of the QEMU
/// stream `like`: RAM blocks of the sizes of `shape` (filled with 0xa5 first, so a
/// page not loaded shows), and every device section in its typed mirror
/// (`vmstate_qemu::Devices`, keeping QEMU's section ids), all loaded by one
/// registry.
pub fn load_typed(
    bytes: &[u8],
    like: &vmstate_runtime::dump::LegacyStream<'_>,
    shape: &Ram,
) -> vmstate_runtime::Result<(Ram, vmstate_qemu::Devices)> {
    use vmstate_runtime::stream::Registry;
    let machine = like.machine_type();
    let mut devices = vmstate_qemu::Devices::for_stream(like).map_err(|e| {
        vmstate_runtime::Error::new(vmstate_runtime::ErrorKind::UnknownSection(e), 0)
    })?;
    let mut mem: Ram = shape
        .iter()
        .map(|(n, m)| (n.clone(), vec![0xa5; m.len()]))
        .collect();
    {
        let mut loader = vmstate_runtime::ram::RamLoader::new(ram_blocks_mut(&mut mem));
        let mut reg = Registry::new(&machine);
        reg.iterative("ram", 0, &mut loader);
        devices.register(&mut reg);
        reg.load(bytes)?;
    }
    Ok((mem, devices))
}

/// A whole stream of one device, saved by a registry in both formats: each read
/// back by the generic decoder (through its vmdesc or BER description) and by a
/// registry; the BER stream converts to the legacy one, and the legacy one to BER
/// and back unchanged; the legacy one splits by its vmdesc. Returns the
/// device's value in the legacy stream's tree.
pub fn through_streams<T>(idstr: &str, dev: &T) -> serde_json::Value
where
    T: vmstate_runtime::VMState + Clone + Default + PartialEq + std::fmt::Debug + 'static,
{
    use vmstate_runtime::dump::walk_legacy;
    use vmstate_runtime::stream::Registry;
    use vmstate_runtime::{dump, Format};
    let save = |format| {
        let mut saved = dev.clone();
        let mut reg = Registry::new("pc-i440fx-10.0");
        reg.device(idstr, 0, &mut saved);
        reg.save(format).unwrap()
    };
    let (legacy, ber) = (save(Format::Legacy), save(Format::Ber));
    for (format, stream) in [(Format::Legacy, &legacy), (Format::Ber, &ber)] {
        let tree = dump::from_bytes(stream).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let sections = tree["sections"].as_array().unwrap();
        assert!(sections.iter().any(|s| s["idstr"] == idstr), "{format:?}");
        let mut back = T::default();
        let mut reg = Registry::new("pc-i440fx-10.0");
        reg.device(idstr, 0, &mut back);
        reg.load(stream)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        drop(reg);
        assert_eq!(&back, dev, "{format:?}");
    }
    walk_legacy(&legacy).unwrap();
    assert_eq!(dump::convert(&ber, Format::Legacy).unwrap(), legacy);
    let converted = dump::convert(&legacy, Format::Ber).unwrap();
    assert_eq!(dump::convert(&converted, Format::Legacy).unwrap(), legacy);
    // The device's value in the legacy stream's tree.
    let tree = dump::from_bytes(&legacy).unwrap();
    tree["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["idstr"] == idstr)
        .unwrap()["value"]
        .clone()
}

/// A stream in memory converted to BER as a live migration through `carrier` is
/// ([`vmstate_runtime::dump::convert_live`]).
pub fn convert_live_to_ber(
    bytes: &[u8],
    carrier: vmstate_runtime::dump::Carrier,
) -> vmstate_runtime::Result<Vec<u8>> {
    let mut out = Vec::new();
    vmstate_runtime::dump::convert_live(
        &mut &bytes[..],
        &mut out,
        vmstate_runtime::Format::Ber,
        &vmstate_runtime::dump::Limits::default(),
        carrier,
        &mut |_| {},
    )?;
    Ok(out)
}

/// A legacy RAM section record as QEMU writes it, up to its records: the
/// section `kind` (START 1, PART 2, END 3), section `id`, the name `ram` and
/// version 4 when `named` (a START), then `records`; [`ram_section_end`] ends it.
pub fn ram_section(
    kind: u8,
    id: u32,
    named: bool,
    records: &[vmstate_runtime::ram::RamRecord<'_>],
) -> Vec<u8> {
    use vmstate_runtime::io::Writer;
    let mut w = Writer::new(Vec::new());
    w.put(&[kind]).unwrap();
    w.put(&id.to_be_bytes()).unwrap();
    if named {
        w.put(&[3]).unwrap();
        w.put(b"ram").unwrap();
        w.put(&0u32.to_be_bytes()).unwrap();
        w.put(&4u32.to_be_bytes()).unwrap();
    }
    for r in records {
        vmstate_runtime::ram::write_record(r, &mut w).unwrap();
    }
    w.into_inner()
}

/// The end of a RAM section record: `EOS`, then the footer of section `id`.
pub fn ram_section_end(id: u32) -> Vec<u8> {
    let mut w = vmstate_runtime::io::Writer::new(Vec::new());
    vmstate_runtime::ram::write_eos(&mut w).unwrap();
    vmstate_runtime::framing::legacy::put_footer(&mut w, id).unwrap();
    w.into_inner()
}

/// A legacy command record: QEMU's `name` with `data`.
pub fn legacy_command(name: &str, data: Vec<u8>) -> Vec<u8> {
    use vmstate_runtime::framing::{legacy, Command};
    let mut w = vmstate_runtime::io::Writer::new(Vec::new());
    let c = Command::from_name(name, data).expect("a command QEMU names");
    legacy::put_command(&mut w, &c).expect("writing into a Vec");
    w.into_inner()
}

/// `pc-tcg-reset.mig` as a postcopy stream, and its package.
pub fn postcopy_stream() -> (Vec<u8>, Vec<u8>) {
    postcopy_stream_of(&crate::catalog::read_fixture("pc-tcg-reset.mig"))
}

/// A stream `bytes` (with its trailer) as a postcopy stream, and its package.
pub fn postcopy_stream_of(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use vmstate_runtime::io::Input;
    let mut r = vmstate_runtime::io::SliceInput::new(bytes);
    vmstate_runtime::framing::legacy::read_prelude(&mut r).unwrap();
    let prelude = r.offset() as usize;
    let s = vmstate_runtime::dump::walk_legacy(bytes).unwrap();
    let full = s
        .sections
        .iter()
        .find(|x| x.kind == vmstate_runtime::framing::SectionKind::Full)
        .unwrap();
    // FULL's header: type, id, idstr, instance, version.
    let first_device = full.body_offset as usize - (1 + 4 + 1 + full.ident.idstr.len() + 8);
    let last = s.sections.last().unwrap();
    let eof = last.body_offset as usize + last.body.len() + 5;
    assert_eq!(bytes[eof], 0, "EOF after the last section");
    let package = [
        legacy_command("POSTCOPY_LISTEN", vec![]),
        bytes[first_device..eof].to_vec(),
        legacy_command("PING", 3u32.to_be_bytes().to_vec()),
        legacy_command("POSTCOPY_RUN", vec![]),
    ]
    .concat();
    let advise = [4096u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    let stream = [
        &bytes[..prelude],
        &legacy_command("OPEN_RETURN_PATH", vec![]),
        &legacy_command("PING", 1u32.to_be_bytes().to_vec()),
        &legacy_command("POSTCOPY_ADVISE", advise),
        &bytes[prelude..first_device],
        &legacy_command("PACKAGED", (package.len() as u32).to_be_bytes().to_vec()),
        &package,
        &[0],
    ]
    .concat();
    (stream, package)
}

/// The first RAM record of `kind` (its header, body and footer) of `stream`.
fn ram_record(stream: &[u8], kind: vmstate_runtime::framing::SectionKind) -> Vec<u8> {
    let s = vmstate_runtime::dump::walk_legacy(stream).unwrap();
    let part = s.sections.iter().find(|x| x.kind == kind).unwrap();
    let start = part.body_offset as usize - 5;
    stream[start..part.body_offset as usize + part.body.len() + 5].to_vec()
}

/// [`postcopy_stream`] as QEMU's postcopy recovery sends it
/// ([`postcopy_recovery_of`]).
pub fn postcopy_recovery() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    postcopy_recovery_of(&crate::catalog::read_fixture("pc-tcg-reset.mig"))
}

/// The postcopy stream of `bytes` ([`postcopy_stream_of`]) as QEMU's postcopy
/// recovery sends it, RAM open until the end as in postcopy: the stream up to
/// its package (`whole`), the first connection broken inside a RAM part after
/// it, and the resumed connection: `RECV_BITMAP` for `pc.ram`,
/// `POSTCOPY_RESUME`, the part again, RAM's `END`, EOF, with no header.
pub fn postcopy_recovery_of(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use vmstate_runtime::framing::SectionKind;
    let (stream, _) = postcopy_stream_of(bytes);
    let part = ram_record(bytes, SectionKind::Part);
    let end = ram_record(bytes, SectionKind::End);
    let at = stream
        .windows(end.len())
        .position(|w| w == end)
        .expect("RAM's END");
    let whole = [&stream[..at], &stream[at + end.len()..stream.len() - 1]].concat();
    let first = [&whole[..], &part[..part.len() / 2]].concat();
    let resumed = [
        legacy_command("RECV_BITMAP", [&[6u8][..], b"pc.ram"].concat()),
        legacy_command("POSTCOPY_RESUME", vec![]),
        part.clone(),
        end,
        vec![0],
    ]
    .concat();
    (whole, first, resumed)
}

/// A multifd channel's `MultiFDInit_t` for channel `id`.
pub fn multifd_init(id: u8) -> Vec<u8> {
    use vmstate_runtime::ram::multifd::{INIT_LEN, MAGIC, VERSION};
    let mut init = vec![0u8; INIT_LEN];
    init[..4].copy_from_slice(&MAGIC.to_be_bytes());
    init[4..8].copy_from_slice(&VERSION.to_be_bytes());
    init[24] = id;
    init
}

/// A multifd packet of `pc.ram` as QEMU 10.0 sends it: `flags`, number `num`,
/// data pages at `normal` (page `k` filled with `k + 1`) and zero pages at `zero`.
pub fn multifd_packet(flags: u32, num: u64, normal: &[u64], zero: &[u64]) -> Vec<u8> {
    use vmstate_runtime::ram::multifd::{HEADER_LEN, MAGIC, PACKET_LEN, VERSION};
    let mut p = vec![0u8; PACKET_LEN];
    let counts = [normal.len() as u32, 0, 0, 0, zero.len() as u32];
    for (at, v) in [(0, MAGIC), (4, VERSION), (8, flags), (12, 128)] {
        p[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    p[16..20].copy_from_slice(&counts[0].to_be_bytes());
    p[24..32].copy_from_slice(&num.to_be_bytes());
    p[32..36].copy_from_slice(&counts[4].to_be_bytes());
    p[64..70].copy_from_slice(b"pc.ram");
    for (i, o) in normal.iter().chain(zero).enumerate() {
        p[HEADER_LEN + 8 * i..HEADER_LEN + 8 * i + 8].copy_from_slice(&o.to_be_bytes());
    }
    p.extend((0..normal.len()).flat_map(|k| vec![k as u8 + 1; 4096]));
    p
}

/// A compressed multifd channel (id 1) as QEMU sends it, with `flags`
/// `FLAG_ZLIB` or `FLAG_ZSTD`, each packet of `pc.ram` pages at its offsets as
/// in [`multifd_packet`]: one stream across the channel's packets, each
/// packet's pages compressed and flushed (`Z_SYNC_FLUSH`, `ZSTD_e_flush`), its
/// octets counted in `next_packet_size`.
pub fn multifd_compressed_channel(flags: u32, packets: &[(u64, &[u64])]) -> Vec<u8> {
    use miniz_oxide::deflate::core::CompressorOxide;
    use miniz_oxide::{DataFormat, MZFlush};
    use vmstate_runtime::ram::multifd::{FLAG_ZLIB, PACKET_LEN};
    use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};
    let mut zlib = CompressorOxide::default();
    zlib.set_format_and_level(DataFormat::Zlib, 1);
    let mut zstd = Encoder::new(1).expect("a zstd encoder");
    let mut out = multifd_init(1);
    for &(num, normal) in packets {
        let mut p = multifd_packet(flags, num, normal, &[]);
        let pages = p.split_off(PACKET_LEN);
        let mut data = vec![0u8; 2 * pages.len() + 64];
        let len = if flags == FLAG_ZLIB {
            let r =
                miniz_oxide::deflate::stream::deflate(&mut zlib, &pages, &mut data, MZFlush::Sync);
            assert_eq!(r.bytes_consumed, pages.len());
            r.bytes_written
        } else {
            let mut input = InBuffer::around(&pages[..]);
            let mut output = OutBuffer::around(&mut data[..]);
            zstd.run(&mut input, &mut output).expect("compresses");
            assert_eq!(input.pos(), pages.len());
            while zstd.flush(&mut output).expect("flushes") > 0 {}
            output.pos()
        };
        data.truncate(len);
        p[20..24].copy_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(p);
        out.extend(data);
    }
    out
}
