//! The three device shapes of the comparison, each one Rust type carrying every
//! codec's derive (vmstate, serde for bincode, bitcode), plus the rasn type of the
//! same ASN.1 shape (a byte array as one OCTET STRING, as vmstate's BER has it).

use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;
use vmstate_runtime::VMState;

/// A shape's type with every codec's derive: vmstate's, serde's (bincode), bitcode's.
macro_rules! shape {
    ($(#[$m:meta])* pub struct $name:ident $body:tt) => {
        #[derive(
            VMState, Serialize, Deserialize, bitcode::Encode, bitcode::Decode, Clone, Debug, PartialEq,
        )]
        $(#[$m])*
        pub struct $name $body
    };
}

shape! {
    /// An RTC-like device: the 128 CMOS bytes and ten scalars (193 legacy bytes).
    #[vmstate(name = "rtc-like", version = 1)]
    pub struct Rtc {
        #[serde(with = "BigArray")]
        pub cmos_data: [u8; 128],
        pub cmos_index: u8,
        pub next_periodic_time: i64,
        pub irq_coalesced: u32,
        pub period: u32,
        pub base_rtc: u64,
        pub last_update: u64,
        pub offset: i64,
        pub next_alarm_time: u64,
        pub periodic_expiry: i64,
        pub update_expiry: i64,
    }
}

shape! {
    /// One segment register, four fields.
    #[derive(Copy, Default)]
    #[vmstate(name = "segment", version = 1)]
    pub struct Segment {
        pub selector: u32,
        pub base: u64,
        pub limit: u32,
        pub flags: u32,
    }
}

shape! {
    /// A CPU-like state: register arrays, six segments in an array and four more,
    /// MSR-like scalars (1,376 legacy bytes).
    #[derive(Default)]
    #[vmstate(name = "cpu-like", version = 1)]
    pub struct Cpu {
        pub regs: [u64; 16],
        pub rip: u64,
        pub rflags: u64,
        pub hflags: u32,
        pub hflags2: u32,
        pub segs: [Segment; 6],
        pub ldt: Segment,
        pub tr: Segment,
        pub gdt: Segment,
        pub idt: Segment,
        pub cr: [u64; 5],
        pub fpregs: [u64; 16],
        #[serde(with = "BigArray")]
        pub xmm: [u64; 32],
        #[serde(with = "BigArray")]
        pub ymmh: [u64; 32],
        pub efer: u64,
        pub star: u64,
        pub lstar: u64,
        pub cstar: u64,
        pub fmask: u64,
        pub kernel_gs_base: u64,
        pub sysenter_cs: u64,
        pub sysenter_esp: u64,
        pub sysenter_eip: u64,
        pub pat: u64,
        pub tsc: u64,
        pub tsc_aux: u64,
        pub apic_base: u64,
        pub misc_enable: u64,
        pub spec_ctrl: u64,
        pub tsc_deadline: u64,
        pub mtrr_fixed: [u64; 11],
        pub mtrr_var: [u64; 16],
    }
}

shape! {
    /// One variable-range MTRR: a base and a mask.
    #[derive(Copy, Default)]
    #[vmstate(name = "mtrr-var", version = 1)]
    pub struct MtrrVar {
        pub base: u64,
        pub mask: u64,
    }
}

shape! {
    /// A register file: long `u64` arrays (8 to 64 words: general, MMX, XMM and its
    /// upper halves, opmask, fixed MTRRs, MCE banks) beside scalars and a nested array
    /// of structs, as an x86 CPU's state is (1,888 legacy bytes).
    #[vmstate(name = "regfile-like", version = 1)]
    pub struct RegFile {
        pub regs: [u64; 16],
        pub rip: u64,
        pub rflags: u64,
        pub mmx: [u64; 8],
        #[serde(with = "BigArray")]
        pub xmm: [u64; 64],
        #[serde(with = "BigArray")]
        pub ymmh: [u64; 64],
        pub opmask: [u64; 8],
        pub mxcsr: u32,
        pub fpuc: u16,
        pub fpus: u16,
        pub mtrr_fixed: [u64; 11],
        pub mtrr_deftype: u64,
        pub mtrr_var: [MtrrVar; 8],
        pub mcg_cap: u64,
        pub mcg_status: u64,
        pub mcg_ctl: u64,
        #[serde(with = "BigArray")]
        pub mce_banks: [u64; 40],
        pub tsc: u64,
        pub pat: u64,
    }
}

/// All zero (arrays longer than 32 have no `Default`).
impl Default for RegFile {
    fn default() -> Self {
        RegFile {
            regs: [0; 16],
            rip: 0,
            rflags: 0,
            mmx: [0; 8],
            xmm: [0; 64],
            ymmh: [0; 64],
            opmask: [0; 8],
            mxcsr: 0,
            fpuc: 0,
            fpus: 0,
            mtrr_fixed: [0; 11],
            mtrr_deftype: 0,
            mtrr_var: [MtrrVar::default(); 8],
            mcg_cap: 0,
            mcg_status: 0,
            mcg_ctl: 0,
            mce_banks: [0; 40],
            tsc: 0,
            pat: 0,
        }
    }
}

impl Default for Rtc {
    fn default() -> Self {
        Rtc {
            cmos_data: [0; 128],
            cmos_index: 0,
            next_periodic_time: 0,
            irq_coalesced: 0,
            period: 0,
            base_rtc: 0,
            last_update: 0,
            offset: 0,
            next_alarm_time: 0,
            periodic_expiry: 0,
            update_expiry: 0,
        }
    }
}

/// A running RTC's values.
pub fn rtc() -> Rtc {
    let mut cmos_data = [0u8; 128];
    for (i, b) in cmos_data.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    Rtc {
        cmos_data,
        cmos_index: 0x0c,
        next_periodic_time: 1_234_567_890_123,
        irq_coalesced: 3,
        period: 1024,
        base_rtc: 1_764_480_000,
        last_update: 98_765_432_100,
        offset: 500_000_000,
        next_alarm_time: 0,
        periodic_expiry: -1,
        update_expiry: 98_766_432_100,
    }
}

/// A running 64-bit guest's CPU values: small and large numbers, zeros where a
/// guest has them.
pub fn cpu() -> Cpu {
    let seg = |selector: u32, base: u64| Segment {
        selector,
        base,
        limit: 0xffff_ffff,
        flags: 0x00a0_9b00,
    };
    Cpu {
        regs: pattern(0x1234_5678_9abc),
        rip: 0xffff_ffff_8100_0000,
        rflags: 0x246,
        hflags: 0x0040_80b7,
        hflags2: 0x1c,
        segs: [
            seg(0x10, 0),
            seg(0x08, 0),
            seg(0x18, 0),
            seg(0x18, 0),
            seg(0, 0x7f12_3456_7000),
            seg(0, 0xffff_8881_3fc0_0000),
        ],
        ldt: seg(0, 0),
        tr: seg(0x40, 0xfffffe0000003000),
        gdt: seg(0, 0xfffffe0000001000),
        idt: seg(0, 0xfffffe0000000000),
        cr: [0x8005_0033, 0, 0x7f12_3456_8000, 0x1_0b8a_2000, 0x0036_06f0],
        fpregs: pattern(0x0101_0101),
        xmm: pattern(0x0fed_cba9_8765_4321),
        ymmh: [0; 32],
        efer: 0xd01,
        star: 0x0023_0010_0000_0000,
        lstar: 0xffff_ffff_8160_0080,
        cstar: 0xffff_ffff_8160_1740,
        fmask: 0x47700,
        kernel_gs_base: 0,
        sysenter_cs: 0x10,
        sysenter_esp: 0xfffffe0000003000,
        sysenter_eip: 0xffff_ffff_8160_1a20,
        pat: 0x0407_0504_0007_0106,
        tsc: 123_456_789_012_345,
        tsc_aux: 1,
        apic_base: 0xfee0_0900,
        misc_enable: 1,
        spec_ctrl: 0,
        tsc_deadline: 123_456_790_000_000,
        mtrr_fixed: [0x0606_0606_0606_0606; 11],
        mtrr_var: pattern(0x8000_0000),
    }
}

/// A running guest's register file: arrays of large and small numbers, zeros where
/// a guest has them.
pub fn regfile() -> RegFile {
    RegFile {
        regs: pattern(0x1234_5678_9abc),
        rip: 0xffff_ffff_8100_0000,
        rflags: 0x246,
        mmx: pattern(0x0101_0101_0101),
        xmm: pattern(0x0fed_cba9_8765_4321),
        ymmh: pattern(0x7f7f_0000_1234),
        opmask: [0; 8],
        mxcsr: 0x1f80,
        fpuc: 0x37f,
        fpus: 0,
        mtrr_fixed: [0x0606_0606_0606_0606; 11],
        mtrr_deftype: 0xc06,
        mtrr_var: std::array::from_fn(|i| MtrrVar {
            base: (0x8000_0000 + ((i as u64) << 28)) | 6,
            mask: 0xff_f000_0800,
        }),
        mcg_cap: 0x0100_0c0a,
        mcg_status: 0,
        mcg_ctl: u64::MAX,
        mce_banks: pattern(0x9c00_0000_0001),
        tsc: 123_456_789_012_345,
        pat: 0x0407_0504_0007_0106,
    }
}

/// Small and large numbers: `i * mul`, rotated by `5 i` bits.
fn pattern<const N: usize>(mul: u64) -> [u64; N] {
    std::array::from_fn(|i| (i as u64).wrapping_mul(mul).rotate_left(i as u32 * 5))
}

/// rasn's types of the same ASN.1 shapes: SEQUENCEs with automatic tags, the CMOS
/// bytes one OCTET STRING.
pub mod asn {
    use super::{
        Cpu as VmCpu, MtrrVar as VmMtrrVar, RegFile as VmRegFile, Rtc as VmRtc,
        Segment as VmSegment,
    };
    use rasn::prelude::*;

    /// A field's value in rasn's type.
    pub trait ToAsn {
        type Asn;
        fn to_asn(&self) -> Self::Asn;
    }

    macro_rules! same {
        ($($t:ty),*) => {$(
            impl ToAsn for $t {
                type Asn = $t;
                fn to_asn(&self) -> $t {
                    *self
                }
            }
        )*};
    }
    same!(
        u8, u16, u32, u64, i64, [u64; 5], [u64; 8], [u64; 11], [u64; 16], [u64; 32], [u64; 40],
        [u64; 64]
    );

    impl ToAsn for [u8; 128] {
        type Asn = FixedOctetString<128>;
        fn to_asn(&self) -> Self::Asn {
            (*self).into()
        }
    }

    /// Arrays of structs: each element converted.
    macro_rules! structs {
        ($($src:ty => [$t:ident; $n:literal]),*) => {$(
            impl ToAsn for [$src; $n] {
                type Asn = [$t; $n];
                fn to_asn(&self) -> Self::Asn {
                    self.each_ref().map(ToAsn::to_asn)
                }
            }
        )*};
    }
    structs!(VmSegment => [Segment; 6], VmMtrrVar => [MtrrVar; 8]);

    /// rasn's SEQUENCE (automatic tags) of the fields of vmstate's `$src`, and the
    /// conversion from it: each field named once.
    macro_rules! mirror {
        ($(#[$m:meta])* $name:ident from $src:ty { $($f:ident: $t:ty),* $(,)? }) => {
            $(#[$m])*
            #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
            #[rasn(automatic_tags)]
            pub struct $name {
                $(pub $f: <$t as ToAsn>::Asn,)*
            }

            impl ToAsn for $src {
                type Asn = $name;
                fn to_asn(&self) -> $name {
                    $name {
                        $($f: self.$f.to_asn(),)*
                    }
                }
            }
        };
    }

    mirror!(Rtc from VmRtc {
        cmos_data: [u8; 128], cmos_index: u8, next_periodic_time: i64, irq_coalesced: u32,
        period: u32, base_rtc: u64, last_update: u64, offset: i64, next_alarm_time: u64,
        periodic_expiry: i64, update_expiry: i64,
    });

    mirror!(#[derive(Copy)] Segment from VmSegment { selector: u32, base: u64, limit: u32, flags: u32 });

    mirror!(Cpu from VmCpu {
        regs: [u64; 16], rip: u64, rflags: u64, hflags: u32, hflags2: u32,
        segs: [VmSegment; 6], ldt: VmSegment, tr: VmSegment, gdt: VmSegment, idt: VmSegment,
        cr: [u64; 5], fpregs: [u64; 16], xmm: [u64; 32], ymmh: [u64; 32],
        efer: u64, star: u64, lstar: u64, cstar: u64, fmask: u64, kernel_gs_base: u64,
        sysenter_cs: u64, sysenter_esp: u64, sysenter_eip: u64, pat: u64, tsc: u64,
        tsc_aux: u64, apic_base: u64, misc_enable: u64, spec_ctrl: u64, tsc_deadline: u64,
        mtrr_fixed: [u64; 11], mtrr_var: [u64; 16],
    });

    mirror!(#[derive(Copy)] MtrrVar from VmMtrrVar { base: u64, mask: u64 });

    mirror!(RegFile from VmRegFile {
        regs: [u64; 16], rip: u64, rflags: u64, mmx: [u64; 8], xmm: [u64; 64],
        ymmh: [u64; 64], opmask: [u64; 8], mxcsr: u32, fpuc: u16, fpus: u16,
        mtrr_fixed: [u64; 11], mtrr_deftype: u64, mtrr_var: [VmMtrrVar; 8], mcg_cap: u64,
        mcg_status: u64, mcg_ctl: u64, mce_banks: [u64; 40], tsc: u64, pat: u64,
    });
}
