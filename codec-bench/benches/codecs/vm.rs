//! Whole VMs: every mirrored device section of three QEMU 7.2 fixtures, and a 64-vCPU
//! VM (the `cpu` and `apic` of `pc-kvm-bios.mig` 64 times, its other devices once),
//! saved and loaded device by device in both formats, and with bincode (big endian,
//! fixint) through the mirrors' optional serde derives.

use bincode::Options as _;
use vmstate_runtime::{ber, legacy};
use vmstate_test_support::catalog::{self, Device, Visitor};

/// The codecs a VM is saved with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Legacy,
    Ber,
    Bincode,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Legacy, Codec::Ber, Codec::Bincode];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Legacy => "legacy",
            Codec::Ber => "BER",
            Codec::Bincode => "bincode",
        }
    }
}

/// One device value, behind a trait object so that a VM is a list of them.
pub trait AnyDevice {
    /// Its section name.
    fn idstr(&self) -> &str;
    /// Encodes it.
    fn save(&self, codec: Codec) -> Vec<u8>;
    /// Decodes `bytes` into a fresh value, checking that it equals this one.
    fn load(&self, codec: Codec, bytes: &[u8]);
    /// A copy.
    fn clone_box(&self) -> Box<dyn AnyDevice>;
}

struct Held<T> {
    idstr: String,
    value: T,
    /// Whether a default value cannot take the stream (a field `equal` to the
    /// configuration: a Q35 bus's eight interrupt lines): it is then loaded into a
    /// copy of the configured device, as a VMM loads it.
    configured: bool,
}

impl<T: Device> Held<T> {
    fn new(idstr: &str, value: &T) -> Self {
        let bytes = legacy::to_bytes(value).unwrap();
        Held {
            idstr: idstr.to_owned(),
            value: value.clone(),
            configured: legacy::from_bytes::<T>(&bytes, T::DESC.version).is_err(),
        }
    }

    /// A fresh value loaded from `bytes` with `load_into` or `from_bytes`.
    fn fresh(
        &self,
        bytes: &[u8],
        load_into: fn(&mut T, &[u8], u32) -> vmstate_runtime::Result<()>,
        from_bytes: fn(&[u8], u32) -> vmstate_runtime::Result<T>,
    ) -> T {
        let v = T::DESC.version;
        if self.configured {
            let mut t = self.value.clone();
            load_into(&mut t, bytes, v).unwrap();
            t
        } else {
            from_bytes(bytes, v).unwrap()
        }
    }
}

impl<T: Device> AnyDevice for Held<T> {
    fn idstr(&self) -> &str {
        &self.idstr
    }

    fn save(&self, codec: Codec) -> Vec<u8> {
        match codec {
            Codec::Legacy => legacy::to_bytes(&self.value).unwrap(),
            Codec::Ber => ber::to_bytes(&self.value).unwrap(),
            Codec::Bincode => crate::bincode().serialize(&self.value).unwrap(),
        }
    }

    fn load(&self, codec: Codec, bytes: &[u8]) {
        let back: T = match codec {
            Codec::Legacy => self.fresh(bytes, legacy::load_into, legacy::from_bytes),
            Codec::Ber => self.fresh(bytes, ber::load_into, ber::from_bytes),
            Codec::Bincode => crate::bincode().deserialize(bytes).unwrap(),
        };
        assert!(back == self.value, "{} round trip", self.idstr);
        std::hint::black_box(back);
    }

    fn clone_box(&self) -> Box<dyn AnyDevice> {
        Box::new(Held::new(&self.idstr, &self.value))
    }
}

/// A VM: its name and its devices.
pub struct Vm {
    pub name: String,
    pub devices: Vec<Box<dyn AnyDevice>>,
}

/// Collects the devices of a stream.
#[derive(Default)]
struct Collect(Vec<Box<dyn AnyDevice>>);

impl Visitor for Collect {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        self.0.push(Box::new(Held::new(idstr, value)));
    }
}

/// The QEMU 7.2 fixtures the comparison loads: a KVM guest at its BIOS, a TCG guest
/// after reset, a Q35 guest with devices. (The catalog's fixtures hold devices in
/// states `visit_stream` does not type, a bus's interrupt count among them.)
const FIXTURES: [&str; 3] = ["pc-kvm-bios.mig", "pc-tcg-reset.mig", "q35-tcg-devices.mig"];

/// Each of [`FIXTURES`] as a VM of its mirrored devices.
pub fn fixtures() -> Vec<Vm> {
    FIXTURES
        .iter()
        .map(|&name| {
            let mut c = Collect::default();
            catalog::visit_stream(&catalog::read_fixture(name), &mut c).unwrap();
            Vm {
                name: name.into(),
                devices: c.0,
            }
        })
        .collect()
}

/// `pc-kvm-bios.mig` with 64 vCPUs: its `cpu` and `apic` sections 64 times.
pub fn vcpus_64() -> Vm {
    let mut one = Collect::default();
    catalog::visit_stream(&catalog::read_fixture("pc-kvm-bios.mig"), &mut one).unwrap();
    let mut devices = Vec::new();
    for d in one.0 {
        let copies = if matches!(d.idstr(), "cpu" | "apic") {
            64
        } else {
            1
        };
        devices.extend((0..copies).map(|_| d.clone_box()));
    }
    Vm {
        name: "pc-kvm-bios.mig, 64 vCPUs".into(),
        devices,
    }
}
