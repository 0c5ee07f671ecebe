//! Generates `vmstate-qemu`'s catalog of device mirrors from QEMU's C sources and
//! its `-dump-vmstate` output, and the catalog's index (`docs/CATALOG.md`).
//!
//! ```text
//! cargo run -p vmstate-gen-mirrors -- -- QEMU_10_0_SOURCE_TREE
//! ```
//!
//! For each device description in QEMU 10.0's x86 dump that no hand-written mirror
//! covers, it reads the description's C initialiser (the authority: the dump lacks
//! element types and counts), types each `VMSTATE_*` field whose wire form follows
//! from its arguments, checks names and versions against the dump, and writes a
//! `#[derive(VMState)]` struct per description. A description with a field it
//! cannot type (a test function, a custom `VMStateInfo`, a count the destination
//! sets) is left for a hand-written mirror, and the index says why.

mod c_text;
mod emit;
mod field;
mod vmsd;

use emit::Gen;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use vmsd::{Tree, Vmsd};

/// Nested descriptions whose shape depends on the destination (a FIFO's capacity),
/// so a generated field of them would be wrong for all but one device.
const CONFIGURED: &[&str] = &["Fifo8", "fifo32"];

/// Nested descriptions that hand-written mirrors already type, by C variable.
const HAND_NESTED: &[(&str, &str)] = &[
    ("vmstate_pci_device", "PciDevice"),
    ("vmstate_usb_device", "UsbDevice"),
    ("vmstate_serial", "Serial"),
    ("vmstate_kbd", "KbdState"),
    ("vmstate_xhci", "Xhci"),
    ("vmstate_memory_hotplug", "MemHotplug"),
    ("vmstate_cpu_hotplug", "CpuHotplug"),
    ("vmxstate_vmxnet3_mcast_list", "Vmxnet3McastList"),
];

/// Field tests that read the device's state, as `exists` hooks on a field the
/// generated struct gains (not sent: the destination's configuration).
struct StateTest {
    /// The C description.
    vmsd: &'static str,
    /// The C test function.
    test: &'static str,
    /// The hook.
    closure: &'static str,
    /// The struct field it reads: name, type and doc comment.
    field: (&'static str, &'static str, &'static str),
}

const STATE_TESTS: &[StateTest] = &[StateTest {
    vmsd: "vmstate_pvscsi",
    test: "pvscsi_vmstate_test_pci_device",
    closure: "|s, _| s.disable_pcie",
    // hw/scsi/vmw_pvscsi.c: PVSCSI_COMPAT_DISABLE_PCIE, the `x-disable-pcie`
    // property, on for machine types before 2.5 (hw/core/machine.c's compat lists).
    field: (
        "disable_pcie",
        "bool",
        "`x-disable-pcie` (machine types before 2.5): the PCI state in the main section, not in `pvscsi/pcie`.",
    ),
}];

/// Optional subsections a load makes from their parent's state when the stream
/// brings them (the derive's `new`): (C variable, the hook).
const SUBSECTION_NEW: &[(&str, &str)] = &[(
    "vmxstate_vmxnet3_mcast_list",
    "|s: &Vmxnet3| Vmxnet3McastList::sized(s.mcast_list_buff_size)",
)];

/// The count of a variable array that is not on the wire: what the destination
/// allocated, which is what the source sends.
const DESTINATION_COUNTS: &[(&str, &str, usize)] = &[
    // hw/display/vmware_vga.c, vmsvga_init: SVGA_SCRATCH_SIZE words.
    ("vmstate_vmware_vga_internal", "scratch_size", 0x8000),
    // hw/block/pflash_cfi01.c, pflash_cfi01_realize: 1 << cfi_table[0x2A], which is 8
    // for the PC's flash (hw/i386/pc_sysfw.c: width 1, one device).
    ("vmstate_pflash_blk_write", "writeblock_size", 256),
    // hw/sd/sdhci.c, sdhci_common_realize: 1 << (9 + MAXBLOCKLENGTH) of the `capareg`
    // property, whose default SDHC_CAPAB_REG_DEFAULT has MAXBLOCKLENGTH 0.
    ("sdhci_vmstate", "buf_maxsz", 512),
];

/// MSI-X vectors of the devices whose state has `VMSTATE_MSIX`, by description
/// name (their `msix_init` calls; a property's default where one sets it):
/// the MSI-X state is the table and pending bits of that many vectors.
const MSIX_VECTORS: &[(&str, u32)] = &[
    ("megasas", 15),
    ("megasas-gen2", 15),
    ("vmxnet3", 25),
    ("igb", 10),
    // ivshmem-pci.c: the `vectors` property, 1 by default.
    ("ivshmem-doorbell", 1),
];

/// Devices whose PCI function is PCI Express wherever it sits (their QOM type's
/// only PCI interface is `INTERFACE_PCIE_DEVICE`): a fresh one has the 4096-byte
/// configuration space.
///
/// vmxnet3 and PVSCSI (whose PCI state is in its `pvscsi/pcie` subsection) are
/// Express unless their `x-disable-pcie` compat property is on, which only
/// machine types before 2.5 set (`vmxnet3_realize`, `pvscsi_realize`).
const EXPRESS_DEVICES: &[&str] = &["igb", "megasas-gen2", "vmxnet3", "pvscsi/pcie"];

/// MSI-X sizes the hand-written `pci.rs` declares (`msix!`).
const MSIX_BY_HAND: &[u32] = &[1, 5, 16];

/// What a destination sets in fields the stream must repeat (`_EQUAL`), which QEMU
/// never sends on its own: C variable, field, value (from the C source's init).
pub const DESTINATION_VALUES: &[(&str, &str, &str)] = &[
    // hw/display/vga.c, vga_common_init.
    ("vmstate_vga_common", "is_vbe_vmstate", "1"),
    // hw/display/qxl.c, qxl_realize_common: NUM_MEMSLOTS (include/ui/spice-display.h).
    ("qxl_vmstate", "num_memslots", "8"),
    // hw/display/qxl.c, qxl_properties: `surfaces` defaults to 1024.
    ("qxl_vmstate", "ssd.num_surfaces", "1024"),
    // hw/display/vmware_vga.c, vmsvga_init.
    ("vmstate_vmware_vga_internal", "new_depth", "32"),
];

/// A row of the catalog's index: a description's name, the QOM types that use it,
/// and its Rust type and C file, or why it is not typed.
type IndexRow = (String, Vec<String>, Result<(String, PathBuf), String>);

/// How the catalog is made, for its index.
const CATALOG_HOW: &str = "## How it is made\n\n\
`vmstate-gen-mirrors` (`cargo run -p vmstate-gen-mirrors -- QEMU_10_0_SOURCE_TREE`, \
QEMU's tree from `apt-get source` of bookworm-backports' `qemu`) reads every \
`VMStateDescription` initialiser of QEMU's C sources, with the integer constants, \
enumerators and `VMSTATE_*` macros of its headers (a device's own macro is expanded \
as the preprocessor would). Each description of the dump is matched to its C \
initialiser by name and first field; each field's `VMSTATE_*` use gives its type \
(counts evaluated from the constants, a `VMSTATE_BUFFER`'s size from the dump), \
its version, `equal` and, for a test of the version alone (`return version_id == 2`), \
its condition; names, versions, tests and nesting are checked against the dump \
before a line is written. What the C does not say is a table in the generator with \
its source: the destination's value of an `_EQUAL` field, the length of a variable \
array whose count is the destination's (VMware SVGA's scratch registers, QXL's \
surfaces: a fixed array of that length), a device's MSI-X vectors, the functions \
that are always PCI Express, nested descriptions the hand-written mirrors type. \
A description with a field it cannot type (a test that reads the \
device's state, a custom `VMStateInfo`, a count the destination sets) is left for a \
hand-written mirror, and the table below says why. `vmstate-qemu/tests/qemu_fixtures.rs` \
checks every mirror against both releases' dumps; `tests/whole_streams.rs` loads \
and saves the fixtures' VMs whole through them, byte for byte.\n\n\
## The destination's configuration\n\n\
QEMU never sends what its command line configures: a bus's interrupt lines, an \
xHCI controller's ports, possible vCPUs and memory hotplug slots, MSI-X vectors, \
whether a function is PCI Express. `Devices::for_stream` (and `vmstate verify`) \
take them from the stream where it shows them: the vmdesc's array lengths (xHCI \
ports, slots, interrupters; the CPU and memory hotplug entries), the topology of \
the section ids (a virtio function behind a PCI Express port is Express; a \
bridge's `PCIBUS` has no lines of its own), the machine type (virtio-balloon's \
vectors); a `Devices::new` or a mirror's constructor sets them for a VMM that \
builds its destination itself.\n\n";

/// The outcome for one description.
enum Outcome {
    Generated(String),
    Hand(String),
    Refused(String),
}

struct Generator<'a> {
    tree: &'a Tree,
    /// Hand-written mirrors: description name -> Rust type.
    hand: HashMap<String, String>,
    /// The sections `mirror()` names: description name -> Rust type.
    hand_sections: HashMap<String, String>,
    /// Generated or refused, by C variable.
    done: HashMap<String, Outcome>,
    /// Generated, in order.
    gens: Vec<(PathBuf, Gen)>,
    /// Rust type names taken.
    taken: HashMap<String, String>,
    /// MSI-X sizes the generated code declares.
    msix_sizes: std::collections::BTreeSet<u32>,
}

impl Generator<'_> {
    /// Generates `v` (matched to the dump's `desc`), returning its Rust type or why
    /// it cannot be generated.
    fn generate(&mut self, v: &Vmsd, desc: &Value) -> Result<String, String> {
        if let Some(o) = self.done.get(&v.cname) {
            return match o {
                Outcome::Generated(t) | Outcome::Hand(t) => Ok(t.clone()),
                Outcome::Refused(why) => Err(why.clone()),
            };
        }
        if let Some((_, t)) = HAND_NESTED.iter().find(|(c, _)| *c == v.cname) {
            self.done
                .insert(v.cname.clone(), Outcome::Hand(t.to_string()));
            return Ok(t.to_string());
        }
        if let Some(t) = self.hand.get(&v.name) {
            return Err(format!(
                "{} shares its name with the hand-written {t}: say in HAND_NESTED whether it is that type",
                v.cname
            ));
        }
        // Recursion guard: a description nests itself only through a pointer.
        self.done
            .insert(v.cname.clone(), Outcome::Refused("recursive".into()));
        let r = self.generate_new(v, desc);
        let o = match &r {
            Ok(t) => Outcome::Generated(t.clone()),
            Err(why) => Outcome::Refused(why.clone()),
        };
        self.done.insert(v.cname.clone(), o);
        r
    }

    fn generate_new(&mut self, v: &Vmsd, desc: &Value) -> Result<String, String> {
        if CONFIGURED.contains(&v.name.as_str()) {
            return Err(format!("`{}`'s size is the destination's", v.name));
        }
        if v.unmigratable {
            return Err("unmigratable".into());
        }
        for (key, ours) in [
            ("version_id", v.version),
            ("minimum_version_id", v.minimum_version),
        ] {
            if desc[key] != ours {
                return Err(format!("{key} {ours} in C, {} in the dump", desc[key]));
            }
        }
        let dfields = desc["Fields"].as_array().cloned().unwrap_or_default();
        let mut fields = Vec::new();
        let cfields: Vec<&String> = v
            .fields
            .iter()
            .filter(|f| !f.contains("END_OF_LIST"))
            .collect();
        if cfields.len() != dfields.len() {
            return Err(format!(
                "{} fields in C, {} in the dump",
                cfields.len(),
                dfields.len()
            ));
        }
        let mut nested = Vec::new();
        for (text, d) in cfields.into_iter().zip(&dfields) {
            let mut f =
                field::parse(text, &self.tree.consts, d)?.ok_or("end of list inside the list")?;
            if f.equal {
                let (_, _, value) = DESTINATION_VALUES
                    .iter()
                    .find(|(c, n, _)| *c == v.cname && *n == f.name)
                    .ok_or_else(|| {
                        format!(
                            "the destination's {} is unknown (DESTINATION_VALUES)",
                            f.name
                        )
                    })?;
                f.destination = Some(value.to_string());
            }
            if d["field"] != f.name.as_str() || d["version_id"] != f.version {
                return Err(format!(
                    "field {} v{} in C, {} v{} in the dump",
                    f.name, f.version, d["field"], d["version_id"]
                ));
            }
            if d["field_exists"] != f.exists.is_some() {
                return Err(format!(
                    "field {}: a test in the dump, none read from C, or the reverse",
                    f.name
                ));
            }
            if f.ty == field::Ty::Vmsd("vmstate_msix".into()) {
                let (_, n) = MSIX_VECTORS
                    .iter()
                    .find(|(d, _)| *d == v.name)
                    .ok_or_else(|| {
                        format!("{}: its MSI-X vectors are unknown (MSIX_VECTORS)", f.name)
                    })?;
                f.ty = field::Ty::Named(format!("Msix{n}"));
                if !MSIX_BY_HAND.contains(n) {
                    self.msix_sizes.insert(*n);
                }
            }
            if let field::Ty::Counted { of, count } = &f.ty {
                // The stream has as many elements as the destination allocated: a
                // count that is not on the wire, or one that must equal the
                // destination's (`_EQUAL`).
                let equal = fields
                    .iter()
                    .find(|g: &&field::Field| g.name == *count)
                    .and_then(|g| g.destination.as_ref()?.parse().ok());
                let allocated = DESTINATION_COUNTS
                    .iter()
                    .find(|(c, n, _)| *c == v.cname && n == count)
                    .map(|b| b.2);
                let n = equal.or(allocated).ok_or_else(|| {
                    format!(
                        "{}: the destination's count {count} is unknown (DESTINATION_COUNTS)",
                        f.name
                    )
                })?;
                f.ty = field::Ty::Array(of.clone(), n);
            }
            if let Some(c) = inner_vmsd(&f.ty) {
                nested.push((c.to_owned(), d["Description"].clone(), f.name.clone()));
            }
            fields.push(f);
        }
        for (c, d, fname) in nested {
            let inner = self
                .tree
                .by_cname(&c, &v.file)
                .cloned()
                .ok_or_else(|| format!("{fname}: description {c} not found"))?;
            self.generate(&inner, &d)
                .map_err(|why| format!("{fname} ({}): {why}", inner.name))?;
        }
        let dsubs = desc["Subsections"].as_array().cloned().unwrap_or_default();
        if dsubs.len() != v.subsections.len() {
            return Err(format!(
                "{} subsections in C, {} in the dump",
                v.subsections.len(),
                dsubs.len()
            ));
        }
        let mut subsections = Vec::new();
        for (c, d) in v.subsections.iter().zip(&dsubs) {
            let inner = self
                .tree
                .by_cname(c, &v.file)
                .cloned()
                .ok_or_else(|| format!("subsection {c} not found"))?;
            if d["name"] != inner.name.as_str() {
                return Err(format!(
                    "subsection {} in C, {} in the dump",
                    inner.name, d["name"]
                ));
            }
            self.generate(&inner, d)
                .map_err(|why| format!("subsection {}: {why}", inner.name))?;
            subsections.push((c.clone(), inner.name.clone()));
        }
        // Descriptions that share a name (`vga` is the ISA card's and the common
        // state's) are told apart by their C variables.
        let clash = |t: &String| {
            self.taken.get(t).is_some_and(|c| c != &v.cname) || self.hand.values().any(|h| h == t)
        };
        let mut rust = emit::type_name(&v.name);
        if clash(&rust) {
            rust = emit::type_name(v.cname.trim_start_matches("vmstate_"));
        }
        if clash(&rust) {
            return Err(format!("type name {rust} taken twice"));
        }
        self.taken.insert(rust.clone(), v.cname.clone());
        if EXPRESS_DEVICES.contains(&v.name.as_str()) {
            let pci = fields
                .iter_mut()
                .find(|f| f.ty == field::Ty::Vmsd("vmstate_pci_device".into()))
                .ok_or_else(|| format!("{} has no PCI function to make Express", v.name))?;
            pci.destination = Some("PciDevice::express()".into());
        }
        let configured = STATE_TESTS
            .iter()
            .filter(|t| t.vmsd == v.cname)
            .map(|t| t.field)
            .collect();
        self.gens.push((
            v.file.clone(),
            Gen {
                vmsd: v.clone(),
                fields,
                configured,
                subsections,
                rust: rust.clone(),
            },
        ));
        Ok(rust)
    }

    fn resolve(&self, cname: &str) -> String {
        match self.done.get(cname) {
            Some(Outcome::Generated(t) | Outcome::Hand(t)) => t.clone(),
            _ => panic!("{cname} referenced but not generated"),
        }
    }
}

fn inner_vmsd(ty: &field::Ty) -> Option<&str> {
    match ty {
        field::Ty::Vmsd(c) => Some(c),
        field::Ty::Array(t, _) => inner_vmsd(t),
        _ => None,
    }
}

/// The hand-written mirrors' description names and types, read from the crate's
/// sources: `#[vmstate(name = "...")]` before `pub struct T`, and the sections
/// `mirror()` in `devices.rs` names (`"name" => Box::<T>...`, mirrors a macro declares).
fn hand_written(src: &Path) -> HashMap<String, String> {
    // `mirror()`'s choice wins where two types share a name (`serial`).
    let mut out = declared(src);
    out.extend(mirrored_sections(src));
    out
}

/// The sections `mirror()` in `devices.rs` names, with their types.
fn mirrored_sections(src: &Path) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let devices = std::fs::read_to_string(src.join("devices.rs")).expect("devices.rs");
    // `HAND_MIRRORS`' entries: `("name", |d| Box::<T>...` or `Box::new(T::...`,
    // the type on the entry's first line or a later one.
    let table = devices
        .split_once("HAND_MIRRORS: &[(&str, MakeMirror)] = &[")
        .and_then(|(_, t)| t.split_once("\n];"))
        .map(|(t, _)| t)
        .expect("devices.rs has HAND_MIRRORS");
    for entry in table.split("\n    (\"").skip(1) {
        let Some((name, rest)) = entry.split_once('"') else {
            continue;
        };
        let ty = ["Box::<", "Box::new("].iter().find_map(|open| {
            let at = rest.find(open)? + open.len();
            let t: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (!t.is_empty()).then_some(t)
        });
        if let Some(ty) = ty {
            out.insert(name.to_owned(), ty);
        }
    }
    out
}

/// `#[vmstate(name = "...")]` before `pub struct T` in the crate's own files.
fn declared(src: &Path) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(src).expect("vmstate-qemu/src") {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut name: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("#[vmstate(name = \"") {
                name = rest.split('"').next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("pub struct ") {
                let t: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if let Some(n) = name.take() {
                    out.entry(n).or_insert(t);
                }
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [qemu] = args.as_slice() else {
        eprintln!("usage: gen-mirrors QEMU_10_0_SOURCE_TREE");
        std::process::exit(2);
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tree = Tree::read(
        Path::new(qemu),
        &[
            "hw",
            "net",
            "target/i386",
            "system",
            "backends",
            "util",
            "migration",
            "include",
            "audio",
            "ui",
            "chardev",
            "cpu-target.c",
        ],
    )
    .expect("reading the QEMU tree");
    let mut tree = tree;
    for t in STATE_TESTS {
        tree.consts.add_state_test(t.test, t.closure);
    }
    let tree = tree;
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join("test-support/fixtures/qemu-10.0/pc-i440fx-10.0.vmstate.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut g = Generator {
        tree: &tree,
        hand: hand_written(&root.join("vmstate-qemu/src")),
        hand_sections: mirrored_sections(&root.join("vmstate-qemu/src")),
        done: HashMap::new(),
        gens: Vec::new(),
        taken: HashMap::new(),
        msix_sizes: Default::default(),
    };
    // Each device description of the dump once, with the QOM types that use it.
    // Each device description of the dump once (by name and first field: QOM types
    // share a name, as `ne2k_isa`'s and `ne2k_pci`'s `ne2000`), with its QOM types.
    let mut devices: BTreeMap<(String, String), (Vec<String>, Value)> = BTreeMap::new();
    for (qom, entry) in dump.as_object().unwrap() {
        if let Some(d) = entry.get("Description") {
            let name = d["name"].as_str().unwrap().to_owned();
            let first = d["Fields"][0]["field"].as_str().unwrap_or("").to_owned();
            devices
                .entry((name, first))
                .or_insert_with(|| (Vec::new(), d.clone()))
                .0
                .push(qom.clone());
        }
    }
    let mut index: Vec<IndexRow> = Vec::new();
    for ((name, first), (qoms, d)) in &devices {
        let outcome = match tree.by_name(name, Some(first)).cloned() {
            _ if g.hand.contains_key(name) => Ok((g.hand[name].clone(), PathBuf::new())),
            None => Err("no C description of that name".to_owned()),
            Some(v) => g.generate(&v, d).map(|t| (t, v.file.clone())),
        };
        index.push((name.clone(), qoms.clone(), outcome));
    }
    let out_dir = root.join("vmstate-qemu/src/catalog");
    write_catalog(&g, &out_dir, &index);
    let generated = index.iter().filter(|(_, _, o)| o.is_ok()).count();
    eprintln!(
        "{} device descriptions: {generated} typed, {} left",
        index.len(),
        index.len() - generated
    );
}

/// The file of `vmstate-qemu/src` that declares type `t` (`pub struct T`, or `T,`
/// as a declaring macro's argument).
fn declaring_file(src: &Path, t: &str) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
        .iter()
        .find(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.contains(&format!("pub struct {t} "))
                || text.contains(&format!("pub struct {t}("))
                || text.contains(&format!("\n    {t},\n"))
                || text.contains(&format!("\n    {t}, "))
        })
        .map_or_else(
            || "vmstate-qemu/src/".to_owned(),
            |p| {
                format!(
                    "vmstate-qemu/src/{}",
                    p.file_name().unwrap().to_string_lossy()
                )
            },
        )
}

/// The Rust module name for C file `file`.
fn module_of(file: &Path) -> String {
    let stem = file
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace('-', "_");
    match stem.as_str() {
        "mod" | "type" | "core" | "std" => format!("{stem}_"),
        _ => stem,
    }
}

fn write_catalog(g: &Generator, out_dir: &Path, index: &[IndexRow]) {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir).unwrap();
    let resolve = |c: &str| g.resolve(c);
    let mut files: BTreeMap<String, (PathBuf, Vec<&Gen>)> = BTreeMap::new();
    for (file, gen) in &g.gens {
        files
            .entry(module_of(file))
            .or_insert_with(|| (file.clone(), Vec::new()))
            .1
            .push(gen);
    }
    let header = "// Generated by `cargo run -p vmstate-gen-mirrors --` from QEMU\n// 10.0.2's sources and -dump-vmstate; edit the generator, not this file.\n";
    let mut module = String::from(header);
    module.push_str("\n//! Mirrors generated from QEMU's C descriptions (see `docs/CATALOG.md`).\n\nuse vmstate_runtime::stream::SectionDevice;\n\n/// A generated device mirror in [`GENERATED_MIRRORS`].\npub struct GeneratedMirror {\n    /// Its description's name (the last part of its section's idstr).\n    pub name: &'static str,\n    /// A PCI function's configuration: its `PCIDevice` state in a mirror of this\n    /// entry (`None` for other devices, and for another type's mirror).\n    pub pci: Option<fn(&mut dyn SectionDevice) -> Option<&mut crate::PciDevice>>,\n    /// A mirror as a fresh destination has it.\n    pub new: fn() -> Box<dyn SectionDevice>,\n}\n\n");
    for (m, (file, gens)) in &files {
        let mut s = String::from(header);
        s.push_str(&format!("\n//! From QEMU's `{}`.\n\n#[allow(unused_imports)]\nuse crate::*;\n#[allow(unused_imports)]\nuse vmstate_runtime::{{Timer, Unused, VMState}};\n\n", file.display()));
        for gen in gens {
            let new_hook = |c: &str| SUBSECTION_NEW.iter().find(|(v, _)| *v == c).map(|h| h.1);
            s.push_str(&emit::write(
                gen,
                &resolve,
                &new_hook,
                &file.display().to_string(),
            ));
        }
        std::fs::write(
            out_dir.join(format!("{m}.rs")),
            s.trim_end().to_owned() + "\n",
        )
        .unwrap();
        module.push_str(&format!("mod {m};\npub use {m}::*;\n"));
    }
    for n in &g.msix_sizes {
        module.push_str(&format!(
            "\ncrate::pci::msix!(\n    /// The MSI-X state of a function with {n} vectors.\n    Msix{n},\n    MsixState{n},\n    {n}\n);\n"
        ));
    }
    module.push_str(
        "\n/// Each generated device section: its description's name and a mirror as a fresh\n/// destination has it. Descriptions of one name are told apart by `pci`: whether\n/// the device is a PCI function (its idstr then begins with its PCI address).\n",
    );
    module.push_str("pub const GENERATED_MIRRORS: &[GeneratedMirror] = &[\n");
    for (name, _, o) in index {
        if let Ok((t, _)) = o {
            if g.hand.contains_key(name) {
                continue;
            }
            let pci_field = g.gens.iter().find_map(|(_, x)| {
                x.fields
                    .first()
                    .filter(|f| {
                        &x.rust == t && f.ty == field::Ty::Vmsd("vmstate_pci_device".into())
                    })
                    .map(|f| emit::field_name(&f.name))
            });
            let pci = match pci_field {
                Some(f) => {
                    format!("Some(|d| d.as_any_mut().downcast_mut::<{t}>().map(|x| &mut x.{f}))")
                }
                None => "None".to_owned(),
            };
            module.push_str(&format!(
                "    GeneratedMirror {{ name: {name:?}, pci: {pci}, new: || Box::<{t}>::default() }},\n"
            ));
        }
    }
    module.push_str("];\n");
    std::fs::write(out_dir.join("mod.rs"), module).unwrap();
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(
            std::fs::read_dir(out_dir)
                .unwrap()
                .map(|e| e.unwrap().path()),
        )
        .status()
        .expect("rustfmt");
    assert!(status.success(), "rustfmt failed");
    let mut doc = String::from("# The device catalog\n\n<!-- Generated by `cargo run -p vmstate-gen-mirrors --`; edit the generator. -->\n\n");
    doc.push_str("Every device description QEMU 10.0's x86 `-dump-vmstate` lists, the QOM types that use it, and its typed mirror in `vmstate-qemu`: written by hand (`vmstate-qemu/src/*.rs`), generated from QEMU's C source (`vmstate-qemu/src/catalog/`), or why not (the generic path dumps and converts any section).\n\n");
    let typed = index.iter().filter(|(_, _, o)| o.is_ok()).count();
    let unmigratable = index
        .iter()
        .filter(|(_, _, o)| matches!(o, Err(why) if why == "unmigratable"))
        .count();
    let left = match index.len() - typed - unmigratable {
        0 => "none is left".to_owned(),
        n => format!("{n} are left, each with its reason below"),
    };
    doc.push_str(&format!(
        "Of its {} descriptions, {typed} are typed, {unmigratable} are QEMU's `unmigratable` ones (QEMU refuses to migrate a VM that has one), and {left}.\n\n",
        index.len(),
    ));
    doc.push_str(CATALOG_HOW);
    let src = out_dir.join("..");
    doc.push_str("| description | QOM types | Rust type | file |\n|---|---|---|---|\n");
    for (name, qoms, o) in index {
        let (ty, file) = match o {
            Ok((t, _)) if g.hand.contains_key(name) => (
                format!("`{t}` (by hand)"),
                format!("`{}`", declaring_file(&src, t)),
            ),
            Ok((t, f)) => (
                format!("`{t}`"),
                format!("`catalog/{}.rs` (QEMU `{}`)", module_of(f), f.display()),
            ),
            Err(why) => (
                format!("not typed: {}", why.replace('|', "\\|")),
                String::new(),
            ),
        };
        doc.push_str(&format!(
            "| `{name}` | {} | {ty} | {file} |\n",
            qoms.iter()
                .map(|q| format!("`{q}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    doc.push_str("\n## Sections outside QEMU 10.0's dump\n\nQEMU registers most of these in code (`vmstate_register`, `register_savevm_live`), so `-dump-vmstate` does not list them; `sysbus-ahci` is a description only QEMU 7.2's x86 build has. Their mirrors are written by hand and proven on the fixtures' streams or, where no PC machine has the device, on bytes laid out as QEMU writes them.\n\n| section | Rust type | file |\n|---|---|---|\n");
    let mut outside: Vec<(&String, &String)> = g
        .hand_sections
        .iter()
        .filter(|(n, _)| !index.iter().any(|(name, _, _)| name == *n))
        .collect();
    outside.sort();
    for (name, t) in outside {
        doc.push_str(&format!(
            "| `{name}` | `{t}` | `{}` |\n",
            declaring_file(&src, t)
        ));
    }
    std::fs::write(out_dir.join("../../../docs/CATALOG.md"), doc).unwrap();
}
