//! The main demonstration: describe a device once, save it for today's and for older
//! peers in both formats, read it back, see what a hostile stream gets, see the ASN.1
//! schema the derive generated, and read real QEMU 7.2 state.
//!
//! `cargo run --release --example demo`

use vmstate_examples::demo::{sample, DemoDma};
use vmstate_qemu::Rtc;
use vmstate_runtime::ber::{self, asn1::Module};
use vmstate_runtime::{dump, legacy, VMState};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = sample();
    println!(
        "== {} (version {}, reads from {})",
        DemoDma::DESC.name,
        DemoDma::DESC.version,
        DemoDma::DESC.minimum_version
    );
    for version in DemoDma::DESC.minimum_version..=DemoDma::DESC.version {
        let bytes = legacy::to_bytes_at(&dev, version)?;
        println!("v{version}: {:3} bytes  {}", bytes.len(), hex(&bytes));
        let back: DemoDma = legacy::from_bytes(&bytes, version)?;
        println!(
            "    loads back: mode {:?}, {} in flight, error {}",
            back.mode,
            back.ring.len(),
            back.error.code
        );
    }
    println!("\nvmdesc: {}", legacy::vmdesc_json(&dev, "demo-dma", 0, 3));

    let mut bytes = legacy::to_bytes(&dev)?;
    bytes[17] = 17; // `pending`: more than the ring's bound
    let err = legacy::from_bytes::<DemoDma>(&bytes, 3).unwrap_err();
    println!("\na corrupted stream: {err}");

    println!("\n== the same device in BER (self-describing; DER-style lengths)");
    for version in DemoDma::DESC.minimum_version..=DemoDma::DESC.version {
        let bytes = ber::to_bytes_at(&dev, version)?;
        let form = if ber::is_blob::<DemoDma>(version) {
            ", a legacy blob (ber_blob_until = 1)"
        } else {
            ""
        };
        println!("v{version}: {:3} bytes{form}", bytes.len());
        let back: DemoDma = ber::from_bytes(&bytes, version)?;
        assert_eq!(
            legacy::to_bytes_at(&back, version)?,
            legacy::to_bytes_at(&dev, version)?
        );
    }
    let bytes = ber::to_bytes(&dev)?;
    print!("{}", ber::annotate(&bytes, Some(DemoDma::DESC))?);
    let mut wrong = bytes.clone();
    wrong[2] |= 0x20; // `mode` sent constructed: BER tells, legacy could not
    println!(
        "a mistyped BER value: {}",
        ber::from_bytes::<DemoDma>(&wrong, 3).unwrap_err()
    );
    let module = Module::new("Demo").with::<DemoDma>().render()?;
    let start = module.find("DemoDma ::=").unwrap_or(0);
    let end = module[start..]
        .find("\n\n")
        .map_or(module.len(), |e| start + e);
    println!(
        "\nits ASN.1 type (the whole module compiles with asn1tools and asn1c):\n{}",
        &module[start..end]
    );

    let fixture = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test-support/fixtures/qemu-7.2/pc-kvm-bios.mig"
        )
        .to_owned()
    });
    match std::fs::read(&fixture) {
        Ok(data) => {
            let s = dump::walk_legacy(&data)?;
            let sec = s.device("mc146818rtc", 0).ok_or("no RTC section")?;
            let mut rtc = Rtc::default();
            dump::load_section(&mut rtc, sec)?;
            println!(
                "\nQEMU 7.2 ({}) RTC at byte {}: CMOS seconds={:02x} minutes={:02x} hours={:02x}, status B={:02x}; re-encoded identically: {}",
                s.machine_type(),
                sec.body_offset,
                rtc.cmos_data[0],
                rtc.cmos_data[2],
                rtc.cmos_data[4],
                rtc.cmos_data[0x0b],
                legacy::to_bytes_at(&rtc, sec.ident.version)? == sec.body
            );
        }
        Err(e) => println!("\n(no QEMU fixture at {fixture}: {e})"),
    }
    Ok(())
}
