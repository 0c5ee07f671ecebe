//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`): every
//! example device at every version it loads, in both codecs, behind its selector
//! bytes; small whole streams of both formats (RAM, devices, QEMU 10.0's command);
//! RAM parts; descriptions with bodies.
//!
//! `cargo run -p vmstate-test-support --bin fuzz-seeds -- fuzz/corpus`

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use vmstate_runtime::framing::{put_command, Command};
use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::{self, xbzrle, Encoding, Pages, RamBlock, RamRecord, RamSaver};
use vmstate_runtime::stream::{MachineTypes, Registry};
use vmstate_runtime::{ber, legacy, Format};
use vmstate_test_support::catalog::{self, Device, Visitor};

struct Seeds {
    dir: PathBuf,
    n: usize,
}

impl Seeds {
    fn write(&mut self, target: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("creates the corpus folder");
        std::fs::write(dir.join(format!("seed-{:04}", self.n)), bytes).expect("writes a seed");
        self.n += 1;
    }
}

/// Seeds of each device type once (its first section visited).
struct DeviceSeeds<'s> {
    seeds: &'s mut Seeds,
    seen: HashSet<String>,
}

impl Visitor for DeviceSeeds<'_> {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        let name = idstr.rsplit('/').next().unwrap_or_default();
        let Some(selector) = catalog::selector_of(name) else {
            return;
        };
        if !self.seen.insert(name.to_owned()) {
            return;
        }
        let d = T::DESC;
        for version in d.minimum_version..=d.version {
            let v = (version - d.minimum_version) as u8;
            let head = [selector, v];
            let l = legacy::to_bytes_at(value, version).expect("saves");
            self.seeds.write("legacy_device", &[&head[..], &l].concat());
            let b = ber::to_bytes_at(value, version).expect("saves in BER");
            self.seeds.write("ber_device", &[&head[..], &b].concat());
            // A description with a body, as a stream's vmdesc holds it.
            let desc = legacy::vmdesc_json(value, idstr, 0, version);
            self.seeds
                .write("description", &[desc.as_bytes(), &[0], &l].concat());
        }
    }
}

fn streams(seeds: &mut Seeds) {
    // Small guests keep the whole-stream targets fast: a few pages show every kind
    // of record and run.
    let mut guest = vec![0u8; 16 << 10];
    guest[4096..8192].fill(0x5a);
    guest[12000] = 1;
    let rom = vec![0xffu8; 4 << 10];
    for (machine, format) in [
        ("pc-i440fx-7.2", Format::Legacy),
        ("pc-i440fx-7.2", Format::Ber),
        ("pc-i440fx-10.0", Format::Legacy),
        ("pc-i440fx-10.0", Format::Ber),
    ] {
        let blocks = vec![
            RamBlock {
                name: "pc.ram",
                mem: &guest,
            },
            RamBlock {
                name: "pc.rom",
                mem: &rom,
            },
        ];
        let mut saver = RamSaver::new(blocks).expect("blocks");
        let (mut rtc, mut hpet) = (vmstate_qemu::Rtc::default(), vmstate_qemu::Hpet::default());
        let mut demo = vmstate_examples::demo::sample();
        let table = MachineTypes::new().machine("pc-i440fx-7.2", &[("demo-dma", 1)]);
        let mut reg = Registry::new(machine).with_machine_types(table);
        reg.iterative("ram", 0, &mut saver);
        reg.device("mc146818rtc", 0, &mut rtc);
        reg.device("hpet", 0, &mut hpet);
        reg.device("demo-dma", 0, &mut demo);
        let bytes = reg.save(format).expect("saves");
        seeds.write("registry_load", &bytes);
        seeds.write("dump_roundtrip", &bytes);
        seeds.write("stream_convert", &[&[7], &bytes[..]].concat());
        compressed_seed(seeds, &bytes);
        if (machine, format) == ("pc-i440fx-7.2", Format::Legacy) {
            hugepage_package_seed(seeds, &bytes);
            postcopy_resume_seed(seeds, &bytes);
        }
        drop(reg);
        // RAM parts on their own.
        let saver = RamSaver::new(vec![
            RamBlock {
                name: "pc.ram",
                mem: &guest,
            },
            RamBlock {
                name: "pc.rom",
                mem: &rom,
            },
        ])
        .expect("blocks");
        let mode = [u8::from(format == Format::Ber)];
        let mut w = Writer::new(Vec::new());
        saver.write_setup(format, &mut w).expect("setup");
        saver.write_part(format, Pages::All, &mut w).expect("part");
        seeds.write("ram_part", &[&mode[..], &w.into_inner()].concat());
    }
    // A stream with a command QEMU 10.0 would refuse in a one-way stream.
    let mut ping = Vec::new();
    put_command(
        &mut ping,
        Format::Legacy,
        &Command::from_name("PING", vec![0, 0, 0, 1]).unwrap(),
    )
    .expect("a command");
    seeds.write("dump_roundtrip", &ping);
    xbzrle_seeds(seeds);
    ignore_shared_seeds(seeds);
    return_path_seeds(seeds);
    postcopy_seeds(seeds);
    mapped_seeds(seeds);
    multifd_seeds(seeds);
}

/// A multifd channel: its `MultiFDInit_t`, a packet of two data pages and a zero
/// page of `pc.ram`, then a `SYNC` packet (as QEMU 10.0 sends them); a zlib and
/// a zstd channel; the fixtures' captured channels.
fn multifd_seeds(seeds: &mut Seeds) {
    use vmstate_test_support::testing::{multifd_init, multifd_packet};
    let channel = [
        multifd_init(0),
        multifd_packet(0, 0, &[0x1000, 0x3000], &[0x2000]),
        multifd_packet(vmstate_runtime::ram::multifd::FLAG_SYNC, 1, &[], &[]),
    ]
    .concat();
    let parsed = vmstate_runtime::ram::multifd::read_channel(&channel).expect("a channel");
    seeds.write(
        "multifd_channel",
        &vmstate_runtime::ram::multifd::channel_to_ber(&parsed),
    );
    seeds.write("multifd_channel", &channel);
    // A zlib channel (one stream across its packets), and QEMU's own channels.
    use vmstate_runtime::ram::multifd::{FLAG_ZLIB, FLAG_ZSTD};
    for flags in [FLAG_ZLIB, FLAG_ZSTD] {
        let packets: [(u64, &[u64]); 2] = [(0, &[0x1000, 0x2000]), (1, &[0x5000])];
        let channel = vmstate_test_support::testing::multifd_compressed_channel(flags, &packets);
        seeds.write("multifd_channel", &channel);
    }
    for (_, _, entry) in vmstate_test_support::catalog::fixture_streams() {
        for c in entry["channels"].as_array().into_iter().flatten() {
            let bytes = vmstate_test_support::catalog::read_fixture(c.as_str().unwrap_or(""));
            // The smaller ones: a seed of hundreds of KiB slows every run.
            if bytes.len() <= 128 << 10 {
                seeds.write("multifd_channel", &bytes);
            }
        }
    }
}

/// A mapped-ram block list at `MAPPED_BASE`: `pc.ram` (16 KiB) with its header,
/// bitmap (pages 1 and 3 held) and slots (page 2 an old page whose bit is clear),
/// in both formats.
fn mapped_seeds(seeds: &mut Seeds) {
    use vmstate_runtime::ram::{mapped, ListedBlock, MappedRegion};
    use vmstate_test_support::fuzzing::MAPPED_BASE;
    let block = ListedBlock::new("pc.ram", 16 << 10);
    // The MEM_SIZE word, the entry (name and length), the header.
    let bitmap_offset = MAPPED_BASE + 8 + (1 + 6 + 8) + mapped::HEADER_LEN;
    let page = |b: u8| vec![b; 4096];
    let region = MappedRegion {
        version: mapped::VERSION,
        page_size: 4096,
        bitmap_offset,
        pages_offset: mapped::ALIGNMENT,
        bitmap: vec![0b1010, 0, 0, 0, 0, 0, 0, 0].into(),
        runs: vec![(4096, [page(1), page(2), page(3)].concat().into())],
    };
    let records = [RamRecord::MemSize {
        total: block.length,
        blocks: vec![block],
        regions: vec![region],
    }];
    let mut w = Writer::at(Vec::new(), MAPPED_BASE);
    ram::write_part(&records, &mut w).expect("a mapped-ram part");
    seeds.write("mapped_ram", &[&[0][..], &w.into_inner()].concat());
    let ber = ram::ber::records_to_ber(records.to_vec()).expect("BER elements");
    seeds.write("mapped_ram", &[&[1][..], &ber].concat());
}

/// A postcopy stream's commands: the return path opened, postcopy advised, a
/// package (`POSTCOPY_LISTEN`, `PING`, `POSTCOPY_RUN`), EOF without a vmdesc;
/// converted live with the return path carried (size byte odd).
fn postcopy_seeds(seeds: &mut Seeds) {
    use vmstate_runtime::framing::{legacy, Command, Configuration};
    let command = |name: &str, data: Vec<u8>| Command::from_name(name, data).expect("QEMU's");
    let mut package = Writer::new(Vec::new());
    for c in [
        command("POSTCOPY_LISTEN", vec![]),
        command("PING", vec![0, 0, 0, 3]),
        command("POSTCOPY_RUN", vec![]),
    ] {
        legacy::put_command(&mut package, &c).expect("a command");
    }
    let package = package.into_inner();
    let mut packaged = command("PACKAGED", (package.len() as u32).to_be_bytes().to_vec());
    packaged.package = package;
    let mut w = Writer::new(Vec::new());
    legacy::put_prelude(&mut w, Some(&Configuration::for_machine("pc-i440fx-7.2")))
        .expect("a prelude");
    let advise = [4096u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    for c in [
        command("OPEN_RETURN_PATH", vec![]),
        command("POSTCOPY_ADVISE", advise),
        packaged,
    ] {
        legacy::put_command(&mut w, &c).expect("a command");
    }
    w.put(&[0]).expect("EOF");
    let stream = w.into_inner();
    seeds.write("stream_convert", &[&[9], &stream[..]].concat());
    seeds.write("dump_roundtrip", &stream);
}

/// A registry's stream `bytes` made a postcopy one (with its trailer, so that a
/// tree reads the package, and as QEMU sends it, without): `POSTCOPY_ADVISE` announcing 2 MiB pages, `pc.ram`'s
/// block list entry with its page size, the device sections moved into a
/// `PACKAGED` package (`POSTCOPY_LISTEN` first, `POSTCOPY_RUN` last).
fn hugepage_package_seed(seeds: &mut Seeds, bytes: &[u8]) {
    use vmstate_runtime::framing::{legacy as records, SectionKind};
    let s = vmstate_runtime::dump::walk_legacy(bytes).expect("a stream");
    let command = vmstate_test_support::testing::legacy_command;
    let full = s
        .sections
        .iter()
        .find(|x| x.kind == SectionKind::Full)
        .expect("devices");
    let first_device = full.body_offset as usize - (1 + 4 + 1 + full.ident.idstr.len() + 8);
    let last = s.sections.last().expect("sections");
    let eof = last.body_offset as usize + last.body.len() + 5;
    let package = [
        command("POSTCOPY_LISTEN", vec![]),
        bytes[first_device..eof].to_vec(),
        command("POSTCOPY_RUN", vec![]),
    ]
    .concat();
    let mut r = vmstate_runtime::io::SliceInput::new(bytes);
    records::read_prelude(&mut r).expect("a prelude");
    let prelude = vmstate_runtime::io::Input::offset(&r) as usize;
    let entry = bytes
        .windows(7)
        .position(|w| w == b"\x06pc.ram")
        .expect("pc.ram")
        + 7
        + 8;
    let advise = [0x20_1000u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    let stream = [
        &bytes[..prelude],
        &command("OPEN_RETURN_PATH", vec![]),
        &command("POSTCOPY_ADVISE", advise),
        &bytes[prelude..entry],
        &0x20_0000u64.to_be_bytes(),
        &bytes[entry..first_device],
        &command("PACKAGED", (package.len() as u32).to_be_bytes().to_vec()),
        &package,
        &bytes[eof..],
    ]
    .concat();
    // With the trailer the tree reads the package, then refuses the trailer (as
    // the converter does); without it, as QEMU sends it, it converts.
    seeds.write("dump_roundtrip", &stream);
    let trailer = s.vmdesc.len() + 5;
    let sent = &stream[..stream.len() - trailer];
    vmstate_runtime::dump::convert(sent, Format::Ber).expect("the seed converts");
    seeds.write("stream_convert", &[&[9], sent].concat());
}

/// A registry's stream `bytes` as a postcopy migration's first connection,
/// broken after its package, and the connection it resumed on, the split where
/// the target reads it.
fn postcopy_resume_seed(seeds: &mut Seeds, bytes: &[u8]) {
    let (_, first, resumed) = vmstate_test_support::testing::postcopy_recovery_of(bytes);
    let split = (first.len() as u32).to_be_bytes();
    seeds.write("postcopy_resume", &[&split[..], &first, &resumed].concat());
}

/// The messages of a return path, in both formats: PONG, a page request with
/// its block, SWITCHOVER_ACK, recovery's RECV_BITMAP (its bitmap) and
/// RESUME_ACK, SHUT.
fn return_path_seeds(seeds: &mut Seeds) {
    use vmstate_runtime::framing::return_path::ReturnMessage;
    let messages = [
        (2, vec![0, 0, 0, 1]),
        (3, [&[0u8; 8][..], &[0, 0, 16, 0], &[6], b"pc.ram"].concat()),
        (
            4,
            [&[0u8, 0, 0, 0, 0, 1, 0, 0][..], &[0, 0, 16, 0]].concat(),
        ),
        (7, vec![]),
        (5, [&[6u8][..], b"pc.ram"].concat()),
        (6, vec![0, 0, 0, 1]),
        (1, vec![0; 4]),
    ];
    for (mode, format) in [(0u8, Format::Legacy), (1, Format::Ber)] {
        let mut w = Writer::new(vec![mode]);
        for (kind, data) in &messages {
            let mut m = ReturnMessage::new(*kind, data.clone());
            if *kind == 5 {
                m.bitmap = vec![0xff, 0x0f, 0, 0, 0, 0, 0, 0x80];
            }
            m.write(&mut w, format).expect("a message");
        }
        let mut channel = w.into_inner();
        if format == Format::Ber {
            // What a far bridge says it delivered, between the messages.
            vmstate_runtime::framing::return_path::put_delivered(&mut channel, 5 << 20);
        }
        seeds.write("return_path", &channel);
    }
}

/// `bytes` converted to BER with its RAM compressed (zstd groups, a delta
/// cache), for the readers of `stream_convert` and `dump_roundtrip`.
fn compressed_seed(seeds: &mut Seeds, bytes: &[u8]) {
    let c = vmstate_runtime::ram::ber::Compression {
        zstd_level: Some(1),
        cache_pages: 64,
    };
    let limits = vmstate_runtime::dump::Limits::default();
    let mut ber = Vec::new();
    vmstate_runtime::dump::convert_compressed(&mut &bytes[..], &mut ber, c, &limits, &mut |_| {})
        .expect("converts compressed");
    seeds.write("stream_convert", &[&[8], &ber[..]].concat());
    seeds.write("dump_roundtrip", &ber);
}

/// A block list of a stream saved with `x-ignore-shared` (each entry with its
/// guest address) and a page, in both formats (`ram_part`'s mode bit 1).
fn ignore_shared_seeds(seeds: &mut Seeds) {
    let listed = |name: &str, length, addr| vmstate_runtime::ram::ListedBlock {
        addr: Some(addr),
        ..vmstate_runtime::ram::ListedBlock::new(name, length)
    };
    let records = [
        RamRecord::MemSize {
            total: (64 << 10) + (8 << 10),
            blocks: vec![
                listed("pc.ram", 64 << 10, 0),
                listed("pc.rom", 8 << 10, 0xc0000),
            ],
            regions: vec![],
        },
        RamRecord::Page {
            block: "pc.rom".into(),
            offset: 4096,
            data: vec![0x5a; 4096].into(),
            continued: false,
        },
    ];
    let mut w = Writer::new(Vec::new());
    ram::write_part(&records, &mut w).expect("a legacy part");
    seeds.write("ram_part", &[&[2][..], &w.into_inner()].concat());
    let ber = ram::ber::records_to_ber(records.to_vec()).expect("BER elements");
    seeds.write("ram_part", &[&[3][..], &ber].concat());
}

/// A page sent, then sent again as an XBZRLE delta, and a zlib page (`compress`):
/// the RAM parts in both formats, and the delta with the two pages for the
/// `xbzrle` target.
fn xbzrle_seeds(seeds: &mut Seeds) {
    let old: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let mut new = old.clone();
    new[4..8].copy_from_slice(&[1, 2, 3, 4]);
    new[300..340].fill(0xee);
    let delta = xbzrle::encode(&old, &new).expect("fits a page");
    let records = [
        RamRecord::MemSize {
            total: 8192,
            blocks: vec![vmstate_runtime::ram::ListedBlock::new("pc.ram", 8192)],
            regions: vec![],
        },
        RamRecord::Page {
            block: "pc.ram".into(),
            offset: 4096,
            data: old.clone().into(),
            continued: false,
        },
        RamRecord::Encoded {
            block: "pc.ram".into(),
            offset: 4096,
            encoding: Encoding::Xbzrle,
            data: delta.clone().into(),
            continued: true,
        },
        RamRecord::Encoded {
            block: "pc.ram".into(),
            offset: 0,
            encoding: Encoding::Zlib,
            data: Encoding::deflate(&new).into(),
            continued: true,
        },
    ];
    let mut w = Writer::new(Vec::new());
    ram::write_part(&records, &mut w).expect("a legacy part");
    seeds.write("ram_part", &[&[0][..], &w.into_inner()].concat());
    let ber = ram::ber::records_to_ber(records.to_vec()).expect("BER elements");
    seeds.write("ram_part", &[&[1][..], &ber].concat());
    let pages: Vec<u8> = old
        .iter()
        .step_by(64)
        .chain(new.iter().step_by(64))
        .copied()
        .collect();
    seeds.write(
        "xbzrle",
        &[&[delta.len() as u8][..], &delta, &pages].concat(),
    );
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let mut seeds = Seeds {
        dir: Path::new(&dir).to_owned(),
        n: 0,
    };
    let mut devices = DeviceSeeds {
        seeds: &mut seeds,
        seen: HashSet::new(),
    };
    catalog::visit_all(&mut devices);
    // The devices that pc-kvm-bios.mig does not have, after its seeds (whose
    // numbers stay): Q35, USB, NICs, audio, virtio, user networking.
    for fixture in [
        "q35-tcg-devices.mig",
        "pc-i440fx-10.0-tcg-devices.mig",
        "pc-q35-10.0-kvm-devices.mig",
    ] {
        catalog::visit_stream(&catalog::read_fixture(fixture), &mut devices)
            .expect("the fixture decodes");
    }
    streams(&mut seeds);
    catalog_device_seeds(&mut seeds);
    // What QEMU 10.0 sends the reference VMM, on both machine types' releases.
    for fixture in ["pc-i440fx-10.0-kvm-bios.mig", "pc-i440fx-7.2-kvm-bios.mig"] {
        seeds.write("vmm_incoming", &catalog::read_fixture(fixture));
    }
    println!("{} seeds in {dir}", seeds.n);
}

/// `catalog_device`: the first section of each mirrored device in the fixtures
/// (of each release), with its selector, PCI-ness and version.
fn catalog_device_seeds(seeds: &mut Seeds) {
    use vmstate_runtime::stream::SectionKind;
    let names = vmstate_qemu::section_names();
    let mut seen = HashSet::new();
    for (_, fixture, _) in catalog::fixture_streams() {
        let fixture = fixture.as_str();
        let bytes = catalog::read_fixture(fixture);
        let s = vmstate_runtime::dump::walk_legacy(&bytes).expect("the fixture walks");
        for x in s.sections.iter().filter(|x| x.kind == SectionKind::Full) {
            let (at, name) = match x.ident.idstr.rsplit_once('/') {
                Some((at, name)) => (Some(at), name),
                None => (None, x.ident.idstr.as_str()),
            };
            let Some(i) = names.iter().position(|n| *n == name) else {
                continue;
            };
            if !seen.insert((name.to_owned(), fixture.contains("7.2"))) {
                continue;
            }
            let Some(dev) = vmstate_qemu::mirror(&x.ident.idstr, 0, "pc-i440fx-10.0", 1) else {
                continue;
            };
            let v = (x.ident.version - dev.desc().minimum_version) as u8;
            let mut seed = (i as u16).to_be_bytes().to_vec();
            seed.extend([u8::from(at.is_some()), v]);
            seed.extend_from_slice(x.body);
            seeds.write("catalog_device", &seed);
        }
    }
}
