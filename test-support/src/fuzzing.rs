//! The bodies of the fuzz targets (`fuzz/fuzz_targets`), here so that the stable
//! test suite runs them too: over every committed seed and every input a campaign
//! ever found (`fuzz/regressions`), each a regression test on stable Rust. Each body
//! panics exactly when the target reports a finding.

use vmstate_runtime::dump::{self, decode_body, encode_legacy, Desc};
use vmstate_runtime::framing::Configuration;
use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::{self, xbzrle as xb, RamBlockMut, RamLoader};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{ber, legacy, Format, Result, VMState};

/// A target's body: runs one input, panics on a finding.
pub type Body = fn(&[u8]);

/// Every target: its name and its body.
pub const TARGETS: [(&str, Body); 14] = [
    ("legacy_device", legacy_device),
    ("ber_device", ber_device),
    ("registry_load", registry_load),
    ("dump_roundtrip", dump_roundtrip),
    ("stream_convert", stream_convert),
    ("ram_part", ram_part),
    ("description", description),
    ("xbzrle", xbzrle),
    ("return_path", return_path),
    ("postcopy_resume", postcopy_resume),
    ("mapped_ram", mapped_ram),
    ("multifd_channel", multifd_channel),
    ("catalog_device", catalog_device),
    ("vmm_incoming", vmm_incoming),
];

/// What the reference VMM does with a migration from QEMU
/// (`vmstate_examples::kvm_vmm::incoming::receive`): the stream's RAM into a
/// 32 MiB `pc.ram` and buffers of the blocks it lists, its device sections typed
/// from its own description. An error, or a whole stream received.
pub fn vmm_incoming(data: &[u8]) {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        let mut ram = vec![0u8; 32 << 20];
        let _ = vmstate_examples::kvm_vmm::incoming::receive(&mut ram, &mut &data[..]);
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let _ = data;
}

/// A device section's legacy body through the mirror `mirror()` gives a
/// destination, behind the trait object a registry uses: bytes 0 and 1 pick the
/// section ([`vmstate_qemu::section_names`]; a PCI address prefix when byte 2 is odd), byte 3
/// the version, the rest is the body. A load fails or consumes a body that saves
/// back as it loads.
pub fn catalog_device(data: &[u8]) {
    use vmstate_runtime::io::{SliceInput, StreamInput};
    let [a, b, pci, v, body @ ..] = data else {
        return;
    };
    let names = vmstate_qemu::section_names();
    let name = names[usize::from(u16::from_be_bytes([*a, *b])) % names.len()];
    let idstr = match pci % 2 {
        1 => format!("0000:00:04.0/{name}"),
        _ => name.to_owned(),
    };
    let Some(mut dev) = vmstate_qemu::mirror(&idstr, 0, "pc-i440fx-10.0", 1) else {
        return;
    };
    let d = dev.desc();
    let version = d.minimum_version + u32::from(*v) % (d.version - d.minimum_version + 1);
    let mut input = StreamInput::Slice(SliceInput::with_base(body, 0));
    let Ok(staged) = dev.stage_legacy(&mut input, version) else {
        return;
    };
    dev.commit(staged);
    let mut again = Vec::new();
    dev.save(vmstate_runtime::Format::Legacy, version, &mut again)
        .expect("a loaded value saves");
    let mut input = StreamInput::Slice(SliceInput::with_base(&again, 0));
    let staged = dev
        .stage_legacy(&mut input, version)
        .expect("what it saves loads");
    dev.commit(staged);
    let mut third = Vec::new();
    dev.save(vmstate_runtime::Format::Legacy, version, &mut third)
        .expect("a loaded value saves");
    assert_eq!(again, third, "save then load changed {name}");
}

/// The version a byte picks among those `T` loads (minimum to current).
fn version_of<T: VMState>(byte: u8) -> u32 {
    let d = T::DESC;
    d.minimum_version + u32::from(byte) % (d.version - d.minimum_version + 1)
}

/// Whether two values save to the same legacy bytes (bytes, not `==`: a NaN loaded
/// into an `f64` is not equal to itself).
fn same<T: VMState>(a: &T, b: &T) -> bool {
    let save = |v: &T| legacy::to_bytes(v).ok();
    save(a) == save(b)
}

/// A load either failed, leaving the target as it was, or yielded a value that
/// saves at that version and loads back to a value that saves the same.
fn check_load<T: VMState + Clone + Default>(loaded: Result<()>, target: &T, version: u32) {
    match loaded {
        Err(_) => assert!(
            same(target, &T::default()),
            "a failed load changed the target"
        ),
        Ok(()) => {
            let bytes = legacy::to_bytes_at(target, version).expect("a loaded value saves");
            let mut again = T::default();
            legacy::load_into(&mut again, &bytes, version).expect("what it saves loads");
            assert!(same(&again, target), "save then load changed the value");
        }
    }
}

fn legacy_one<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(v: u8, body: &[u8]) {
    let version = version_of::<T>(v);
    let mut dev = T::default();
    let r = legacy::load_into(&mut dev, body, version);
    check_load(r, &dev, version);
}

/// A device's legacy body: byte 0 picks the type ([`crate::catalog::DEVICES`]),
/// byte 1 the version, the rest is the body.
pub fn legacy_device(data: &[u8]) {
    if let [selector, v, body @ ..] = data {
        crate::with_device!(*selector, legacy_one, *v, body);
    }
}

fn ber_one<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(v: u8, value: &[u8]) {
    let version = version_of::<T>(v);
    fast_and_general_agree::<T>(value, version);
    let mut dev = T::default();
    let r = ber::load_into(&mut dev, value, version);
    let ok = r.is_ok();
    check_load(r, &dev, version);
    if ok {
        let again = ber::to_bytes_at(&dev, version).expect("a loaded value saves in BER");
        let mut back = T::default();
        ber::load_into(&mut back, &again, version).expect("our BER loads");
        assert!(same(&back, &dev), "BER save then load changed the value");
    }
}

/// Loads `bytes` at `version` from a slice (which takes the decoder's fast paths:
/// structs scanned in place, INTEGERs read in place) and from a reader (which has
/// nothing buffered ahead, so takes the general path for every value), and panics
/// unless both give the same value (compared as the bytes it saves to: a NaN is not
/// equal to itself) or the same error kind, path and offset.
pub fn fast_and_general_agree<T: VMState + Clone + Default>(bytes: &[u8], version: u32) {
    let key = |e: vmstate_runtime::Error| (format!("{:?}", e.kind()), e.path(), e.offset());
    let mut from_reader = T::default();
    let reader = ber::load_from(&mut from_reader, bytes, version).map(|()| from_reader);
    let mut from_slice = T::default();
    let slice = ber::load_exact(&mut from_slice, bytes, 0, version).map(|()| from_slice);
    // A reader stops after the value; a slice refuses what follows it.
    let reader = match (&slice, reader) {
        (Err(e), Ok(_)) if matches!(e.kind(), vmstate_runtime::ErrorKind::TrailingBytes(_)) => {
            Err(e.clone())
        }
        (_, r) => r,
    };
    let saved = |v: T| ber::to_bytes_at(&v, version).expect("a loaded value saves");
    assert_eq!(
        slice.map(saved).map_err(key),
        reader.map(saved).map_err(key),
        "slice (fast paths) and reader (general path) disagree on {}",
        vmstate_runtime::snapshot::hexdump(bytes)
    );
}

/// A device's BER value: byte 0 picks the type, byte 1 the version.
pub fn ber_device(data: &[u8]) {
    if let [selector, v, value @ ..] = data {
        crate::with_device!(*selector, ber_one, *v, value);
    }
}

/// A loader into the two blocks the targets give a guest: `pc.ram` and `pc.rom`.
fn two_blocks<'a>(ram: &'a mut Vec<u8>, rom: &'a mut Vec<u8>) -> RamLoader<'a> {
    RamLoader::new(vec![
        RamBlockMut {
            name: "pc.ram",
            mem: ram,
        },
        RamBlockMut {
            name: "pc.rom",
            mem: rom,
        },
    ])
}

/// A whole stream, either format, loaded by a registry of RAM (two small blocks)
/// and three devices: an error, or devices that save again.
pub fn registry_load(data: &[u8]) {
    use vmstate_examples::demo::DemoDma;
    use vmstate_qemu::{Hpet, Rtc};
    let (mut ram, mut rom) = (vec![0u8; 64 << 10], vec![0u8; 8 << 10]);
    let mut loader = two_blocks(&mut ram, &mut rom);
    let (mut rtc, mut hpet, mut demo) = (Rtc::default(), Hpet::default(), DemoDma::default());
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut loader);
    reg.device("mc146818rtc", 0, &mut rtc);
    reg.device("hpet", 0, &mut hpet);
    reg.device("demo-dma", 0, &mut demo);
    if reg.load(data).is_ok() {
        drop(reg);
        let mut again = Registry::new("pc-i440fx-7.2");
        again.device("mc146818rtc", 0, &mut rtc);
        again.device("hpet", 0, &mut hpet);
        again.device("demo-dma", 0, &mut demo);
        again.save(Format::Legacy).expect("loaded devices save");
        again.save(Format::Ber).expect("loaded devices save in BER");
    }
}

/// The generic decoder on any bytes: a tree it decodes re-encodes in both formats,
/// `convert` gives what the tree gives, and what it encodes decodes to a fixed point.
pub fn dump_roundtrip(data: &[u8]) {
    let Ok(tree) = dump::from_bytes(data) else {
        return;
    };
    for format in [Format::Legacy, Format::Ber] {
        let via_tree = dump::to_bytes(&tree, format).expect("a decoded tree re-encodes");
        let direct = dump::convert(data, format).expect("what decodes converts");
        assert!(
            via_tree == direct,
            "convert differs from the tree's encoding"
        );
        let back = dump::from_bytes(&via_tree).expect("our encoding decodes");
        let again = dump::to_bytes(&back, format).expect("and re-encodes");
        assert!(again == via_tree, "not a fixed point");
    }
}

/// Hands out a stream in reads of at most `size` octets, as a socket may.
struct Chunks<'a> {
    data: &'a [u8],
    size: usize,
}

impl std::io::Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.size.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// A stream (after a byte that picks a read size of 1 to 256 octets) converted as
/// it arrives in reads of that size converts as it does from memory, to either
/// format: the same bytes, or an error both ways. (The end of a legacy stream is
/// found as its octets arrive, so where reads end must not matter.) A live
/// conversion (carrying the return path when the size byte is odd) gives the
/// same bytes or refuses by name what its carrier cannot carry; the
/// RAM records read alone are those the conversion passed on; the names of what
/// is no stream never panic.
pub fn stream_convert(data: &[u8]) {
    let [size, stream @ ..] = data else { return };
    let _ = vmstate_runtime::framing::unknown_format(stream);
    if let Some(at) = vmstate_runtime::framing::libvirt_image_stream(stream) {
        assert!(at < stream.len(), "a libvirt image's stream inside it");
    }
    let limits = dump::Limits::default();
    let mut progress = None;
    let converted = dump::convert_stream(
        &mut &stream[..],
        &mut Vec::new(),
        Format::Ber,
        &limits,
        &mut |p| progress = Some(*p),
    );
    let mut live_out = Vec::new();
    let live = dump::convert_live(
        &mut &stream[..],
        &mut live_out,
        Format::Ber,
        &limits,
        dump::Carrier {
            return_path: size % 2 == 1,
            multifd: size % 4 >= 2,
        },
        &mut |_| {},
    );
    if live.is_ok() {
        compressed_converts_back(stream, *size, &live_out);
    }
    match (&converted, live) {
        (Ok(_), Ok(_)) | (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => assert!(
            matches!(e.kind(), vmstate_runtime::ErrorKind::Unsupported { .. }),
            "a live conversion refused what a stored one took: {e}"
        ),
        (Err(e), Ok(_)) => panic!("a live conversion took what a stored one refused: {e}"),
    }
    let mut records = 0u64;
    let read = dump::ram_records(&mut &stream[..], &limits, &mut |r| {
        records += u64::from(!matches!(
            r,
            vmstate_runtime::ram::RamRecord::MemSize { .. }
        ));
        Ok(())
    });
    if let Ok(p) = converted {
        assert_eq!(
            read.map(|r| r.pages).ok(),
            Some(p.pages),
            "the RAM read alone"
        );
        assert_eq!(records, p.pages);
        assert!(progress.is_some_and(|q| q.missing_pages == p.missing_pages));
    }
    for format in [Format::Legacy, Format::Ber] {
        let whole = dump::convert(stream, format);
        let mut out = Vec::new();
        let mut input = Chunks {
            data: stream,
            size: usize::from(*size) + 1,
        };
        let chunked = dump::convert_stream(
            &mut input,
            &mut out,
            format,
            &dump::Limits::default(),
            &mut |_| {},
        )
        .map(|_| out);
        match (whole, chunked) {
            (Ok(a), Ok(b)) => assert!(a == b, "converted in reads, other bytes"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("from memory {:?}, in reads {:?}", a.err(), b.err()),
        }
    }
}

/// `stream`, which converts live to the BER `plain`, converts with its
/// RAM compressed (a delta cache of a few slots, so that slots are taken over)
/// to a stream that converts back to what `plain` converts back to.
fn compressed_converts_back(stream: &[u8], size: u8, plain: &[u8]) {
    let c = vmstate_runtime::ram::ber::Compression {
        zstd_level: (size % 2 == 0).then_some(1),
        cache_pages: u64::from(size % 16),
    };
    let mut compressed = Vec::new();
    dump::convert_compressed(
        &mut &stream[..],
        &mut compressed,
        c,
        &dump::Limits::default(),
        &mut |_| {},
    )
    .expect("what converts plain converts compressed");
    let back = |ber: &[u8]| {
        let mut out = Vec::new();
        dump::convert_stream(
            &mut &ber[..],
            &mut out,
            Format::Legacy,
            &dump::Limits::default(),
            &mut |_| {},
        )
        .map(|_| out)
    };
    match (back(plain), back(&compressed)) {
        (Ok(a), Ok(b)) => assert!(a == b, "compressed, it converts back to other bytes"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("plain {:?}, compressed {:?}", a.err(), b.err()),
    }
}

/// One RAM part, legacy (byte 0 even) or BER (odd), into two small blocks; of a
/// stream saved with `x-ignore-shared` when bit 1 of byte 0 is set.
pub fn ram_part(data: &[u8]) {
    let [mode, part @ ..] = data else { return };
    let (mut ram, mut rom) = (vec![0u8; 64 << 10], vec![0u8; 8 << 10]);
    let mut loader = two_blocks(&mut ram, &mut rom);
    if mode & 2 != 0 {
        let c = vmstate_runtime::framing::Configuration::for_machine("pc")
            .with_capability("x-ignore-shared");
        loader.configure(Some(&c));
    }
    if mode % 2 == 0 {
        if let Ok(n) = loader.load_legacy(part, 0) {
            assert!(n <= part.len());
        }
    } else {
        let _ = loader.load_ber(part, 0);
    }
}

/// Where a `mapped_ram` input starts in its file: just below a MiB boundary, so
/// that a block's page slots (at a MiB boundary) are in reach of a small input.
pub const MAPPED_BASE: u64 = ram::mapped::ALIGNMENT - 512;

/// The configuration of a mapped-ram file.
pub fn mapped_configuration() -> Configuration {
    Configuration::for_machine("pc").with_capability("mapped-ram")
}

/// One RAM part of a mapped-ram file at [`MAPPED_BASE`], legacy (byte 0 even) or
/// BER (odd), loaded into two small blocks; a legacy part that reads writes back
/// to the same bytes, and converts to BER elements that give the same records.
pub fn mapped_ram(data: &[u8]) {
    let [mode, part @ ..] = data else { return };
    let c = mapped_configuration();
    let (mut ram, mut rom) = (vec![0u8; 16 << 10], vec![0u8; 8 << 10]);
    let mut loader = two_blocks(&mut ram, &mut rom);
    loader.configure(Some(&c));
    if mode % 2 == 1 {
        let _ = loader.load_ber(part, MAPPED_BASE);
        return;
    }
    let loaded = loader.load_legacy(part, MAPPED_BASE);
    let mut cursor = ram::Cursor::new(Some(&c));
    let Ok((records, n)) = ram::read_part(part, MAPPED_BASE, &mut cursor) else {
        return;
    };
    let mut w = Writer::at(Vec::new(), MAPPED_BASE);
    ram::write_part(&records, &mut w).expect("a part that reads writes");
    assert!(
        w.into_inner() == part[..n],
        "the part writes back differently"
    );
    let ber = ram::ber::records_to_ber(records.clone()).expect("BER elements");
    let mut elements = ram::ber::Elements::new(&ber, 0, ram::PAGE_SIZE);
    let (mut blocks, mut last, mut back) = (Vec::new(), None, Vec::new());
    let mut wire = ram::ber::Received::default();
    while let Some((e, at)) = elements.next_at().expect("its own elements read") {
        ram::ber::element_records(e, at, &mut blocks, &mut last, &mut wire, &mut |r| {
            back.push(r);
            Ok(())
        })
        .expect("its own elements convert");
    }
    assert!(back == records, "BER gives other records");
    // The loader reads what the record reader reads, where its blocks fit.
    if loaded.is_ok() {
        assert_eq!(loaded.ok(), Some(n), "the loader stops elsewhere");
    }
}

/// A multifd channel, legacy or (first octet 0x68) BER: one that reads writes
/// back to the same bytes, its BER form gives the same channel, and its packets
/// give their records in rounds (a compressed channel's, when its data
/// inflates).
pub fn multifd_channel(data: &[u8]) {
    let Ok(Some(legacy)) = ram::multifd::convert_channel(data, Format::Legacy) else {
        return;
    };
    let channel = ram::multifd::read_channel(&legacy).expect("what converts reads");
    let ber = ram::multifd::channel_to_ber(&channel);
    let back = ram::multifd::read_channel(&ber).expect("its own BER reads");
    assert!(back == channel, "the channel through BER differs");
    if data.first() != Some(&0x68) {
        assert!(legacy == data, "the channel writes back differently");
    }
    let compressed = channel.packets.iter().any(|p| p.flags() & 0x3e != 0);
    let channels = [channel];
    let mut n = 0usize;
    let loaded = ram::multifd::records(vec![], &channels, &mut |r| {
        assert!(r.page().is_some(), "a channel sends pages only");
        n += 1;
        Ok(())
    });
    // Only a compressed channel's data may fail to load (a bad zlib stream,
    // zstd), and then with a typed error.
    if loaded.is_err() && compressed {
        return;
    }
    loaded.expect("records of a channel that reads");
    let pages: usize = channels[0]
        .packets
        .iter()
        .map(|p| p.normal_pages() + p.zero_pages())
        .sum();
    assert_eq!(n, pages, "every page of every packet, once");
}

/// A vmdesc description (JSON), a NUL, a body: a body the description decodes
/// encodes back to the same bytes.
pub fn description(data: &[u8]) {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&data[..nul]) else {
        return;
    };
    let Ok(desc) = Desc::parse(&json, 0) else {
        return;
    };
    let body = &data[nul + 1..];
    if let Ok(v) = decode_body(&desc, body, 0) {
        let mut w = Writer::new(Vec::new());
        encode_legacy(&desc, &v, &mut w).expect("a decoded body encodes");
        assert!(w.into_inner() == body, "the body re-encodes differently");
    }
}

/// An XBZRLE delta, then two pages' worth of bytes: the delta is accepted exactly
/// when it applies (within the page, never a panic), and the encoder's delta
/// between the two pages is accepted and applies back to the second.
pub fn xbzrle(data: &[u8]) {
    const PAGE: usize = 4096;
    let [n, rest @ ..] = data else { return };
    let (delta, pages) = rest.split_at(usize::from(*n).min(rest.len()));
    let mut page = [0u8; PAGE];
    let checked = xb::check(delta, PAGE, 0);
    let applied = xb::apply(delta, &mut page, 0);
    assert_eq!(checked.is_ok(), applied.is_ok(), "check and apply disagree");
    if pages.is_empty() {
        return;
    }
    let page_of = |skip: usize| -> Vec<u8> {
        (0..PAGE)
            .map(|i| pages[(skip + i / 64) % pages.len()])
            .collect()
    };
    let (old, new) = (page_of(0), page_of(1));
    if let Some(d) = xb::encode(&old, &new) {
        xb::check(&d, PAGE, 0).expect("the encoder's delta is accepted");
        let mut back = old.clone();
        xb::apply(&d, &mut back, 0).expect("and applies");
        assert!(
            back == new,
            "the encoder's delta applies back to the new page"
        );
    }
}

/// A live migration's two connections, the first `data[..4]` (be32) octets of
/// the rest and what follows them: the first converted to BER, and when it
/// leaves the migration paused (cut short in postcopy), the second as the
/// connection it resumed on. Never a panic; what converts converts back with
/// the same state: the first connection to its whole records, the second to
/// the same bytes.
pub fn postcopy_resume(data: &[u8]) {
    let Some((split, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let at = (u32::from_be_bytes(*split) as usize).min(rest.len());
    let (first, second) = rest.split_at(at);
    let live = |to| {
        let carrier = dump::Carrier {
            return_path: true,
            multifd: false,
        };
        dump::LiveConversion::new(to, dump::Limits::default(), carrier)
    };
    let (mut there, mut ber) = (live(Format::Ber), [Vec::new(), Vec::new()]);
    if there
        .convert(&mut &first[..], &mut ber[0], &mut |_| {})
        .is_ok()
        || !there.paused()
    {
        return;
    }
    let resumed = there.convert(&mut &second[..], &mut ber[1], &mut |_| {});
    let mut back = live(Format::Legacy);
    let mut legacy = Vec::new();
    let e = back
        .convert(&mut &ber[0][..], &mut legacy, &mut |_| {})
        .expect_err("a first connection that paused pauses again");
    assert!(back.paused(), "the BER of a paused connection pauses: {e}");
    assert!(
        first.starts_with(&legacy),
        "the first connection back to other bytes"
    );
    if resumed.is_ok() {
        let mut again = Vec::new();
        back.convert(&mut &ber[1][..], &mut again, &mut |_| {})
            .expect("what resumed converts back");
        assert!(
            again == second,
            "the resumed connection back to other bytes"
        );
    }
}

/// A return path (byte 0 even: legacy, odd: BER): what is carried (up to a
/// message QEMU would refuse, which stops it with an error, never a panic)
/// carries back, to the same bytes from legacy, and from BER to what carries
/// over again to the same bytes (BER may spell a message more than one way);
/// a bridge's `[APPLICATION 10]` in BER is taken, not carried.
pub fn return_path(data: &[u8]) {
    use vmstate_runtime::framing::return_path::{carry, carry_taking};
    let mut delivered = Vec::new();
    let mut taken = |n| delivered.push(n);
    let [mode, channel @ ..] = data else { return };
    let (from, to) = match mode % 2 {
        0 => (Format::Legacy, Format::Ber),
        _ => (Format::Ber, Format::Legacy),
    };
    let mut there = Vec::new();
    let carried = carry_taking(&mut &channel[..], &mut there, from, to, &mut taken);
    let mut back = Vec::new();
    let n = carry(&mut &there[..], &mut back, to, from).expect("what was carried carries back");
    if from == Format::Legacy {
        assert!(delivered.is_empty(), "legacy has no [APPLICATION 10]");
        assert!(channel.starts_with(&back), "carried back to other bytes");
        if let Ok(m) = carried {
            assert_eq!(m, n);
            assert!(
                back == channel,
                "a whole channel carried back to other bytes"
            );
        }
    } else {
        let mut again = Vec::new();
        carry(&mut &back[..], &mut again, from, to).expect("and over again");
        assert!(again == there, "carried over again to other bytes");
    }
}
