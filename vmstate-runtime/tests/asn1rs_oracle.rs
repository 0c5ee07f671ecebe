//! asn1-rs as an independent in-process oracle of our BER (issue 12): every
//! encoding the derive, the registry and `dump` produce parses with asn1-rs's BER
//! parser into the same tree of TLVs our decoder walks (class, form, tag number,
//! contents length, definite or indefinite), and bytes asn1-rs rejects as malformed
//! BER our decoder rejects too.

use asn1_rs::{Any, FromBer};
use vmstate_runtime::ber::{Class, Decoder, Length, Options};
use vmstate_runtime::io::{Input, SliceInput};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{ber, dump, Format};
use vmstate_test_support::catalog::{self, fixture_streams, read_fixture, Device, Visitor};
use vmstate_test_support::testing::Rng;

/// One TLV: class (0-3), constructed, tag number, contents length, indefinite, and
/// its children when constructed.
#[derive(Debug, PartialEq)]
struct Node {
    class: u8,
    constructed: bool,
    number: u32,
    len: usize,
    indefinite: bool,
    children: Vec<Node>,
}

/// The TLVs of `bytes` as asn1-rs parses them.
fn theirs(mut bytes: &[u8]) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (rest, any) = Any::from_ber(bytes).ok()?;
        let h = &any.header;
        let children = if h.is_constructed() {
            theirs(any.data)?
        } else {
            Vec::new()
        };
        out.push(Node {
            class: h.class() as u8,
            constructed: h.is_constructed(),
            number: h.tag().0,
            len: any.data.len(),
            indefinite: h.length() == asn1_rs::Length::Indefinite,
            children,
        });
        bytes = rest;
    }
    Some(out)
}

/// The TLVs of `bytes` as our decoder walks them.
fn ours(bytes: &[u8]) -> Option<Vec<Node>> {
    let mut input = SliceInput::new(bytes);
    let mut d = Decoder::new(&mut input, Options::LENIENT);
    // The input as one frame, so that its end ends the walk.
    d.enter_contents(bytes.len() as u64).ok()?;
    let nodes = walk(&mut d)?;
    d.leave(None).ok()?;
    d.input().remaining().is_empty().then_some(nodes)
}

fn walk(d: &mut Decoder<'_, SliceInput<'_>>) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    while let Some(h) = d.peek_header().ok()? {
        d.input().skip(h.header_len).ok()?;
        let start = d.offset();
        let indefinite = h.length == Length::Indefinite;
        let children = if h.tag.constructed {
            d.enter(&h).ok()?;
            let c = walk(d)?;
            d.leave(None).ok()?;
            c
        } else {
            let Length::Definite(n) = h.length else {
                return None;
            };
            d.input().skip(usize::try_from(n).ok()?).ok()?;
            Vec::new()
        };
        // Contents without the end-of-contents octets of an indefinite length.
        let len = (d.offset() - start) as usize - if indefinite { 2 } else { 0 };
        out.push(Node {
            class: match h.tag.class {
                Class::Universal => 0,
                Class::Application => 1,
                Class::Context => 2,
                Class::Private => 3,
            },
            constructed: h.tag.constructed,
            number: h.tag.number,
            len,
            indefinite,
            children,
        });
    }
    Some(out)
}

fn agree(what: &str, bytes: &[u8]) {
    let t = theirs(bytes).unwrap_or_else(|| panic!("{what}: asn1-rs rejects our BER"));
    let o = ours(bytes).unwrap_or_else(|| panic!("{what}: our walker rejects our BER"));
    assert_eq!(o, t, "{what}: the TLV trees differ");
}

struct Every(usize);

impl Visitor for Every {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        for version in T::DESC.minimum_version..=T::DESC.version {
            let bytes = ber::to_bytes_at(value, version).unwrap();
            agree(&format!("{idstr} v{version}"), &bytes);
            self.0 += 1;
        }
    }
}

/// Every example device at every version, in the derive's BER.
#[test]
fn asn1_rs_parses_every_device_as_we_do() {
    let mut every = Every(0);
    catalog::visit_all(&mut every);
    assert!(every.0 > 20, "{}", every.0);
}

/// Whole streams: a registry's (indefinite `[APPLICATION 0]`, definite items), one
/// whose RAM part is written open (indefinite section and `ram`), and every QEMU
/// fixture of both releases converted to BER by `dump`.
#[test]
fn asn1_rs_parses_whole_streams_as_we_do() {
    let (mut rtc, mut demo) = (
        vmstate_qemu::Rtc::default(),
        vmstate_examples::demo::sample(),
    );
    let mut reg = Registry::new("pc-i440fx-10.0");
    reg.device("mc146818rtc", 0, &mut rtc);
    reg.device("demo-dma", 0, &mut demo);
    agree("registry stream", &reg.save(Format::Ber).unwrap());
    drop(reg);
    // 12 MiB of data pages: more than a part is held before it is written open.
    let ram: Vec<u8> = (0..12u32 << 20).map(|i| (i / 4096) as u8 | 1).collect();
    let mem = [("pc.ram".to_owned(), ram)];
    let mut saver =
        vmstate_runtime::ram::RamSaver::new(vmstate_test_support::testing::ram_blocks(&mem))
            .unwrap();
    let mut reg = Registry::new("pc-i440fx-10.0");
    reg.iterative("ram", 0, &mut saver);
    reg.device("mc146818rtc", 0, &mut rtc);
    let open = dump::convert(&reg.save(Format::Legacy).unwrap(), Format::Ber).unwrap();
    assert!(open.windows(2).any(|w| w == [0x64, 0x80]), "no open record");
    agree("open RAM part", &open);
    for (_, name, _) in fixture_streams() {
        let ber = dump::convert(&read_fixture(&name), Format::Ber).unwrap();
        agree(&name, &ber);
    }
}

/// Bytes asn1-rs rejects as malformed BER our walker rejects too (corrupted device
/// encodings; the converse need not hold: we are stricter about lengths).
#[test]
fn what_asn1_rs_rejects_we_reject() {
    let mut rng = Rng(0x5eed_1234);
    struct Collect(Vec<Vec<u8>>);
    impl Visitor for Collect {
        fn visit<T: Device>(&mut self, _: &str, _: u32, value: &T) {
            self.0.push(ber::to_bytes(value).unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    catalog::visit_all(&mut c);
    let mut rejected = 0;
    for good in &c.0 {
        for _ in 0..300 {
            let mut bad = good.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let i = (rng.next_u64() % bad.len() as u64) as usize;
                bad[i] = rng.next_u64() as u8;
            }
            if theirs(&bad).is_none() {
                rejected += 1;
                assert!(
                    ours(&bad).is_none(),
                    "asn1-rs rejects {bad:02x?}, we accept it"
                );
            }
        }
    }
    assert!(rejected > 100, "{rejected} rejected inputs");
}
