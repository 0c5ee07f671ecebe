//! An optional subsection whose shape is the destination's configuration (QEMU's
//! CPU hotplug state: an entry per possible vCPU, a count never sent) is made by
//! its `new` hook from the parent when the stream brings it.

use vmstate_runtime::{legacy, ErrorKind, VMState};

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pm/cpuhp", version = 1)]
struct CpuHotplug {
    selector: u32,
    #[vmstate(skip)]
    count: u32,
    #[vmstate(len = count, max = 64)]
    devs: Vec<u8>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pm", version = 1)]
struct Pm {
    sts: u16,
    #[vmstate(subsection, new = |s: &Pm| CpuHotplug {
        count: s.possible_cpus,
        devs: vec![0; s.possible_cpus as usize],
        ..CpuHotplug::default()
    })]
    cpuhp: Option<CpuHotplug>,
    #[vmstate(skip)]
    possible_cpus: u32,
}

fn source(cpus: u32) -> Pm {
    Pm {
        sts: 1,
        cpuhp: Some(CpuHotplug {
            selector: 2,
            count: cpus,
            devs: (0..cpus as u8).collect(),
        }),
        possible_cpus: cpus,
    }
}

#[test]
fn a_subsection_the_stream_brings_is_made_as_the_destination_is_configured() {
    let bytes = legacy::to_bytes(&source(4)).unwrap();
    let mut dest = Pm {
        possible_cpus: 4,
        ..Pm::default()
    };
    legacy::load_into(&mut dest, &bytes, 1).unwrap();
    assert_eq!(dest, source(4));
    // A destination with fewer possible vCPUs reads fewer entries, and the rest
    // two entries are left over, refused as QEMU refuses them (its footer check).
    let mut small = Pm {
        possible_cpus: 2,
        ..Pm::default()
    };
    let e = legacy::load_into(&mut small, &bytes, 1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TrailingBytes(2)), "{e:?}");
    // Without the subsection on the wire, none is made.
    let plain = legacy::to_bytes(&Pm {
        sts: 3,
        ..Pm::default()
    })
    .unwrap();
    let mut dest = Pm {
        possible_cpus: 4,
        ..Pm::default()
    };
    legacy::load_into(&mut dest, &plain, 1).unwrap();
    assert_eq!(dest.cpuhp, None);
}
