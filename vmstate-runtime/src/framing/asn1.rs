//! The ASN.1 of the BER stream framing ([`super::ber`]), rendered from the same
//! constants the records are written with, as a [`Preamble`] of a [`Module`]: with
//! it, an ASN.1 tool decodes a whole stream with one module.

use super::ber::{
    COMMAND, CONFIGURATION, DESCRIPTION, HEADER, MULTIFD_CHANNEL, RESUMED, SECTION, STREAM,
};
use super::return_path::{ReturnMessage, DELIVERED, MAX_BITMAP, MESSAGE};
use super::{Command, Configuration, SectionKind};
use crate::ber::asn1::{Module, Preamble};
use crate::VMState;

/// The type references the framing defines.
const NAMES: &[&str] = &[
    "VMState-Stream",
    "VMState-Resumed",
    "VMState-Stream-Item",
    "VMState-Section",
    "VMState-Command",
    "VMState-Device",
    "VMState-Ram",
    "VMState-Ram-Element",
    "VMState-Ram-Block",
    "VMState-Ram-Mapped",
    "VMState-Return-Message",
    "VMState-Delivered",
    "VMState-Multifd-Channel",
    "VMState-Multifd-Packet",
];

impl Module {
    /// Adds the framing of a whole BER stream (`VMState-Stream`, its sections and
    /// RAM elements) and the configuration section's type, so that an ASN.1 tool
    /// decodes a stream with this module alone: the stream as `VMState-Stream`,
    /// then each section's device value as the type of its `idstr`. Call it before
    /// adding types.
    #[must_use]
    pub fn with_stream(self) -> Module {
        self.with_preamble(Preamble {
            names: NAMES,
            render,
        })
        .with::<Configuration>()
    }
}

/// The framing's definitions. Device values are `ANY`: the `idstr` of a section
/// names its type, which the same module defines (two untagged device types could
/// not be told apart in a CHOICE).
fn render(m: &Module) -> String {
    let kinds: Vec<String> = SectionKind::ALL
        .iter()
        .map(|k| format!("{}({})", k.name(), k.ber_number()))
        .collect();
    let commands: Vec<String> = Command::all()
        .map(|c| {
            format!(
                "{}({})",
                c.name().to_lowercase().replace('_', "-"),
                c.number
            )
        })
        .collect();
    let messages: Vec<String> = ReturnMessage::kinds()
        .map(|kind| {
            let m = ReturnMessage::new(kind, vec![]);
            format!("{}({kind})", m.name().to_lowercase().replace('_', "-"))
        })
        .collect();
    format!(
        "\
-- A BER migration stream: header and configuration, then the sections in stream
-- order, the description before the first device section (the order is the
-- writer's; the schema cannot say it). A RAM part too large to hold while it is
-- converted has indefinite lengths (its section and its ram), each element definite.
VMState-Stream ::= [APPLICATION {stream}] SEQUENCE OF VMState-Stream-Item

-- The rest of a postcopy migration, on the connection its source resumed it on
-- after the first one broke (QEMU's postcopy recovery): the items that follow,
-- from recv-bitmap and postcopy-resume on, with no header.
VMState-Resumed ::= [APPLICATION {resumed}] SEQUENCE OF VMState-Stream-Item

VMState-Stream-Item ::= CHOICE {{
    header [APPLICATION {header}] SEQUENCE {{ stream-version INTEGER (0..4294967295) }},
    -- The vmdesc JSON of the stream's devices, with each field's BER tag.
    description [APPLICATION {description}] UTF8String,
    configuration [APPLICATION {configuration}] {configuration_type},
    section [APPLICATION {section}] VMState-Section,
    command [APPLICATION {command}] VMState-Command
}}

-- The return path, the other way on the same connection: the destination's
-- messages (QEMU's MIG_RP_MSG_*) one after another, with no header or end.
VMState-Return-Message ::= [APPLICATION {message}] SEQUENCE {{
    type [0] ENUMERATED {{ {messages} }},
    data [1] OCTET STRING (SIZE (0..65535)) OPTIONAL,
    -- recv-bitmap: the pages the destination has of the block data names, one bit
    -- each (little-endian 64-bit words), which QEMU sends after the message
    bitmap [2] OCTET STRING (SIZE (0..{max_bitmap})) OPTIONAL
}}

-- On the way back of a compressed leg, between the messages: how many octets of
-- QEMU's stream the bridge that writes it handed its destination so far (flow
-- control between two vmstate bridges; never passed on to QEMU).
VMState-Delivered ::= [APPLICATION {delivered}] SEQUENCE {{
    octets INTEGER (0..MAX)
}}

-- A multifd channel (QEMU's MultiFDInit_t as sent, then its packets): the other
-- connections of a multifd migration. offsets: the normal pages', the zero pages'
-- (QEMU 9.0+), and the unused entries QEMU left, up to the last that is not zero.
VMState-Multifd-Channel ::= [APPLICATION {channel}] SEQUENCE {{
    init OCTET STRING (SIZE (64)),
    packets SEQUENCE OF VMState-Multifd-Packet
}}

VMState-Multifd-Packet ::= SEQUENCE {{
    flags INTEGER (0..4294967295),
    pages-alloc INTEGER (0..4294967295),
    next-packet-size INTEGER (0..4294967295),
    packet-num INTEGER (0..MAX),
    block UTF8String (SIZE (0..255)),
    normal SEQUENCE (SIZE (0..128)) OF INTEGER (0..MAX),
    zero SEQUENCE (SIZE (0..128)) OF INTEGER (0..MAX),
    unused SEQUENCE (SIZE (0..128)) OF INTEGER (0..MAX),
    -- the normal pages, in order; with zlib or zstd (flags) their compressed
    -- octets, a piece of the channel's one stream
    data OCTET STRING
}}

-- A QEMU command record between sections (QEMU 10.0 writes switchover-start).
-- package: what follows PACKAGED in a postcopy migration, the device state as a
-- nested legacy stream in QEMU's bytes (QEMU sends no vmdesc to describe it).
VMState-Command ::= SEQUENCE {{
    number [0] ENUMERATED {{ {commands} }},
    data [1] OCTET STRING (SIZE (0..65535)) OPTIONAL,
    package [2] OCTET STRING (SIZE (0..16777216)) OPTIONAL
}}

VMState-Section ::= SEQUENCE {{
    kind [0] ENUMERATED {{ {kinds} }},
    section-id [1] INTEGER (0..4294967295),
    idstr [2] UTF8String OPTIONAL,
    instance-id [3] INTEGER (0..4294967295) OPTIONAL,
    version [4] INTEGER (0..4294967295) OPTIONAL,
    -- full: the device's value, of the type this module gives its idstr.
    device [5] VMState-Device OPTIONAL,
    -- start, part, end: RAM.
    ram [6] VMState-Ram OPTIONAL
}}

VMState-Device ::= SEQUENCE {{ value ANY }}

VMState-Ram ::= SEQUENCE OF VMState-Ram-Element

-- Runs of pages (vmstate_runtime::ram::ber). `continued` keeps a legacy stream's
-- CONTINUE choice where it differs from the writer's rule.
VMState-Ram-Element ::= CHOICE {{
    mem-size [0] SEQUENCE {{
        total INTEGER (0..MAX),
        blocks SEQUENCE OF VMState-Ram-Block,
        page-size INTEGER (1..MAX) OPTIONAL  -- absent: 4096
    }},
    zero-run [1] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        pages INTEGER (0..MAX),
        fill INTEGER (0..255),
        continued BOOLEAN OPTIONAL
    }},
    data-run [2] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        data OCTET STRING,
        continued BOOLEAN OPTIONAL
    }},
    -- A bit per page, set for a zero page; the other pages' data in order.
    mixed-run [3] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        zero BIT STRING,
        data OCTET STRING,
        continued BOOLEAN OPTIONAL
    }},
    -- A page sent again as the bytes that changed (QEMU's XBZRLE encoding).
    xbzrle [4] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        delta OCTET STRING (SIZE (0..4096)),
        continued BOOLEAN OPTIONAL
    }},
    -- A page deflated with zlib (QEMU 9.0 and older's compress capability).
    zlib [5] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        zlib OCTET STRING (SIZE (0..4110)),
        continued BOOLEAN OPTIONAL
    }},
    -- A multifd main channel's sync point (QEMU's RAM_SAVE_FLAG_MULTIFD_FLUSH).
    multifd-flush [6] SEQUENCE {{ }},
    -- Compression (a vmstate bridge that compresses): from here on the reader keeps
    -- this many 4 KiB pages, each data page in slot (FNV-1a of its block name +
    -- page index) mod pages; a zero page or a QEMU-encoded one drops its copy.
    delta-cache [7] SEQUENCE {{
        pages INTEGER (1..65536)
    }},
    -- A page sent again as XBZRLE from the copy the delta cache holds of it.
    delta [8] SEQUENCE {{
        block UTF8String,
        offset INTEGER (0..MAX),
        delta OCTET STRING (SIZE (0..4096)),
        continued BOOLEAN OPTIONAL
    }},
    -- Elements compressed together: a zstd frame whose contents, octets long,
    -- are VMState-Ram-Elements (none of them a zstd group).
    zstd [9] SEQUENCE {{
        octets INTEGER (0..8388608),
        zstd OCTET STRING
    }}
}}

-- address: the block's guest address, sent when the configuration lists
-- x-ignore-shared. mapped: the block's region of a mapped-ram file, when the
-- configuration lists mapped-ram (vmstate_runtime::ram::mapped).
VMState-Ram-Block ::= SEQUENCE {{
    name UTF8String,
    length INTEGER (0..MAX),
    address INTEGER (0..MAX) OPTIONAL,
    -- a hugepage-backed block's page size, sent in postcopy
    page-size [1] INTEGER (0..MAX) OPTIONAL,
    mapped [0] VMState-Ram-Mapped OPTIONAL
}}

-- QEMU's MappedRamHeader (the offsets are the legacy file's), its bitmap (a bit
-- per page, set for a page the file holds, in 8-octet host words), and the runs
-- of page slots that are not zero (a slot whose bit is clear may hold an old page).
VMState-Ram-Mapped ::= SEQUENCE {{
    version INTEGER (0..4294967295),
    page-size INTEGER (0..MAX),
    bitmap-offset INTEGER (0..MAX),
    pages-offset INTEGER (0..MAX),
    bitmap OCTET STRING,
    runs SEQUENCE OF SEQUENCE {{ offset INTEGER (0..MAX), data OCTET STRING }}
}}

",
        stream = STREAM.number,
        header = HEADER.number,
        description = DESCRIPTION.number,
        configuration = CONFIGURATION.number,
        configuration_type = m.type_name(Configuration::DESC).unwrap_or("Configuration"),
        section = SECTION.number,
        command = COMMAND.number,
        message = MESSAGE.number,
        delivered = DELIVERED.number,
        max_bitmap = MAX_BITMAP,
        resumed = RESUMED.number,
        channel = MULTIFD_CHANNEL.number,
        messages = messages.join(", "),
        kinds = kinds.join(", "),
        commands = commands.join(", "),
    )
}
