//! `vmstate`: look inside migration streams of either format (QEMU's legacy `QEVM`
//! stream or vmstate's BER stream), convert between them (whole, or as a live
//! migration flows through a bridge), compare two streams field by field, and check
//! whether two device descriptions can migrate.
#![forbid(unsafe_code)]

mod bridge;
mod ram;
mod show;
mod translate;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vmstate_runtime::dump::diff::{diff, PageDigests};
use vmstate_runtime::dump::{self, compat, Borrowed, RamParts};
use vmstate_runtime::ram::{multifd, RamRecord};
use vmstate_runtime::unplugged::is_block_of;
use vmstate_runtime::{framing, printable, Format};

#[derive(Parser)]
#[command(
    name = "vmstate",
    version,
    about = "Dump, convert, diff and check VM migration streams, and give their ASN.1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Whether a QEMU release will load a stream (either format), by the rules of
    /// its load: a line per device section (typed and loads / no mirror / refused,
    /// with the field and byte); exit code 0 only when every section is typed,
    /// loads, and saves back to its bytes.
    Verify {
        /// The stream.
        file: PathBuf,
        /// The destination's release (default: the one whose machine type the
        /// stream names).
        #[arg(long)]
        release: Option<verify::Release>,
    },
    /// Rewrite a stream (either format) so that another QEMU release loads it,
    /// across the breaks of QEMU's own device descriptions where the state maps
    /// (the ESP SCSI controller's between 7.2 and 10.0); refuses, naming the
    /// device and why, where it does not. Writes the legacy format.
    Translate {
        /// The release that will load the output.
        #[arg(long)]
        release: verify::Release,
        /// The stream.
        input: PathBuf,
        /// Where to write the translated stream.
        output: PathBuf,
    },
    /// Print a stream (either format, auto-detected) as a readable tree, or as JSON.
    Dump {
        /// The stream (`-`: standard input).
        file: PathBuf,
        /// Print the JSON tree (which `convert` and the library can encode back).
        #[arg(long)]
        json: bool,
        /// Write each RAM block, assembled from its pages, to `DIR/<block>.bin`.
        /// A stream that leaves pages out (a multifd main channel, a stream cut
        /// short) is an error naming them, and no image is left.
        #[arg(long, value_name = "DIR")]
        ram: Option<PathBuf>,
        /// With --ram: keep an image with pages missing, list the missing pages
        /// (on stderr and in DIR/missing-pages.txt) and exit with 1.
        #[arg(long, requires = "ram")]
        partial: bool,
        /// With --ram: a multifd channel of the same migration (the bytes its
        /// connection carried, or their BER form; `bridge --tap T` keeps them as
        /// T.channel0, ...); once for each channel. Their pages are loaded with
        /// the main channel's records, round by round.
        #[arg(long, value_name = "FILE", requires = "ram")]
        channel: Vec<PathBuf>,
        /// With --ram: the connection a postcopy migration resumed on after the
        /// one in FILE broke (`bridge --tap T` keeps it as T.resumed1, ...);
        /// once for each, in order. Their pages are loaded after FILE's.
        #[arg(
            long,
            value_name = "FILE",
            requires = "ram",
            conflicts_with = "channel"
        )]
        resumed: Vec<PathBuf>,
        /// For a stream saved without its vmdesc trailer (`-machine
        /// suppress-vmdesc=on`): take the device descriptions from FILE, a save of
        /// the same VM with its trailer (or its vmdesc JSON).
        #[arg(long, value_name = "FILE")]
        describe_with: Option<PathBuf>,
    },
    /// Convert a stream to the other format (or the same one), losslessly.
    Convert {
        /// Target format.
        #[arg(long, value_enum)]
        to: Target,
        /// Input stream, or a JSON tree from `dump --json` (`-`: standard input).
        input: PathBuf,
        /// Output stream.
        output: PathBuf,
        /// For a stream saved without its vmdesc trailer (`-machine
        /// suppress-vmdesc=on`): take the device descriptions from FILE, a save of
        /// the same VM with its trailer (or its vmdesc JSON).
        #[arg(long, value_name = "FILE")]
        describe_with: Option<PathBuf>,
    },
    /// Convert a migration as it flows, in bounded memory: from a file, `-`,
    /// `tcp-listen:[HOST:]PORT` or `unix-listen:PATH` to a file, `-`,
    /// `tcp:HOST:PORT` or `unix:PATH` (either side may be any of these). Two
    /// bridges put BER on the wire between two QEMUs; a listening bridge
    /// carries each multifd channel to a connection of its own.
    Bridge {
        /// Target format.
        #[arg(long, value_enum)]
        to: Target,
        /// Keep a copy of the stream as it arrived in this file, and of each
        /// multifd channel beside it (FILE.channel0, FILE.channel1, ...).
        #[arg(long, value_name = "FILE")]
        tap: Option<PathBuf>,
        /// With `--to ber`: compress the RAM for a slow link (zstd groups, and
        /// pages sent again as deltas against the far bridge's cache); the far
        /// bridge (`--to legacy`) reads it as it comes (docs/BRIDGE.md).
        #[arg(long)]
        compress: bool,
        /// With `--compress`: zstd's level (negative: faster, larger).
        #[arg(
            long,
            value_name = "N",
            default_value_t = 1,
            allow_negative_numbers = true
        )]
        zstd_level: i32,
        /// With `--compress`: the delta cache, in MiB, that each of the two
        /// bridges keeps (0: no deltas).
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        delta_cache: u64,
        /// Where the stream comes from.
        from: bridge::Endpoint,
        /// Where the converted stream goes.
        into: bridge::Endpoint,
    },
    /// Field-level differences between two streams (exit code 1 when they differ).
    Diff {
        /// First stream.
        a: PathBuf,
        /// Second stream.
        b: PathBuf,
    },
    /// The ASN.1 module of a stream's BER form, from its own description: with it
    /// an ASN.1 tool (asn1tools, asn1c) decodes `convert --to ber` of the stream.
    Asn1 {
        /// The stream (either format) or a JSON tree.
        file: PathBuf,
        /// The module's name.
        #[arg(long, default_value = "VMState-Stream-Types")]
        name: String,
    },
    /// What would break migrating from OLD to NEW: two `-dump-vmstate` style
    /// descriptions (QEMU's, or vmstate's). Exit code 1 when something breaks.
    CheckCompat {
        /// The source's descriptions.
        old: PathBuf,
        /// The destination's descriptions.
        new: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Ber,
    Legacy,
}

impl Target {
    fn format(self) -> Format {
        match self {
            Target::Ber => Format::Ber,
            Target::Legacy => Format::Legacy,
        }
    }
}

/// A failure, printed as one line.
pub struct Failure(String);

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        // A closed pipe (`vmstate dump ... | head`) is not worth a message.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure(String::new())
        } else {
            Failure(e.to_string())
        }
    }
}

impl From<vmstate_runtime::Error> for Failure {
    fn from(e: vmstate_runtime::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure(e.to_string())
    }
}

/// Reads a file with a progress bar on stderr (hidden when stderr is not a terminal).
/// `-` reads standard input (`migrate "exec:vmstate dump -"` inspects a migration as
/// QEMU sends it).
fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut f: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path).map_err(|e| Failure(format!("{}: {e}", path.display())))?,
        )
    };
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("reading {}", path.display()));
    let mut out = Vec::with_capacity(len as usize);
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut chunk)
            .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// [`read_input`] of a stream: a libvirt save image that libvirt wrote
/// uncompressed is read through (its header and domain XML skipped, said on stderr).
fn read_stream(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = read_input(path)?;
    if let Some(at) = framing::libvirt_image_stream(&bytes) {
        eprintln!(
            "vmstate: {}: a libvirt save image: QEMU's stream from byte {at} (offsets count from there)",
            path.display()
        );
        bytes.drain(..at);
    }
    Ok(bytes)
}

/// What takes a stream's RAM records one by one.
type RamSink<'a> = dyn FnMut(&RamRecord<'_>) -> vmstate_runtime::Result<()> + 'a;

/// A stream of either format, or a JSON tree (from `dump --json`), as a tree; every
/// RAM record also goes to `ram`. Unless `full`, a stream's RAM parts become
/// summaries in the tree (a large guest's pages are not held as JSON).
fn load(
    path: &Path,
    full: bool,
    ram: &mut RamSink<'_>,
    described: Option<&Borrowed>,
) -> Result<serde_json::Value, Failure> {
    load_bytes(path, &read_stream(path)?, full, ram, described)
}

/// The description `--describe-with` names, if any.
fn described_with(path: Option<&Path>) -> Result<Option<Borrowed>, Failure> {
    path.map(|p| {
        Borrowed::from_bytes(&read_stream(p)?).map_err(|e| Failure(format!("{}: {e}", p.display())))
    })
    .transpose()
}

/// [`load`] of the bytes read from `path`.
fn load_bytes(
    path: &Path,
    bytes: &[u8],
    full: bool,
    ram: &mut RamSink<'_>,
    described: Option<&Borrowed>,
) -> Result<serde_json::Value, Failure> {
    let at = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", path.display()));
    if bytes.first() == Some(&b'{') {
        let tree = serde_json::from_slice(bytes).map_err(|e| at(&e))?;
        ram::for_each_record(&tree, ram).map_err(|e| at(&e))?;
        return Ok(tree);
    }
    if !full {
        let mut each = |r: RamRecord<'_>| ram(&r);
        let parts = RamParts::Summary(&mut each);
        return match described {
            Some(d) => dump::from_bytes_described(bytes, parts, d),
            None => dump::from_bytes_with(bytes, parts),
        }
        .map_err(|e| at(&e));
    }
    let tree = match described {
        Some(d) => dump::from_bytes_described(bytes, RamParts::Records, d),
        None => dump::from_bytes(bytes),
    }
    .map_err(|e| at(&e))?;
    ram::for_each_record(&tree, ram).map_err(|e| at(&e))?;
    Ok(tree)
}

/// The RAM of a postcopy migration carried over more than one connection:
/// `file`, the first, cut short in postcopy, then each connection in `resumed`,
/// each resuming the one before, their pages written to `files` in order.
fn with_resumed(
    file: &Path,
    resumed: &[PathBuf],
    files: &mut ram::BlockFiles,
) -> Result<(), Failure> {
    let carried = dump::Carrier {
        return_path: true,
        multifd: false,
    };
    let mut live = dump::LiveConversion::new(Format::Legacy, Default::default(), carried);
    let connections: Vec<&Path> = std::iter::once(file)
        .chain(resumed.iter().map(PathBuf::as_path))
        .collect();
    for (i, path) in connections.iter().enumerate() {
        let bytes = read_stream(path)?;
        let read = live.ram_records(&mut &bytes[..], &mut |r| files.record(r));
        let at = |e: String| Failure(format!("{}: {e}", path.display()));
        match (read, connections.get(i + 1)) {
            (Ok(_), None) => {}
            (Err(_), Some(_)) if live.paused() => {}
            (Err(e), _) => return Err(at(e.to_string())),
            (Ok(_), Some(next)) => {
                return Err(at(format!(
                    "the migration ends here; {} resumes nothing",
                    next.display()
                )))
            }
        }
    }
    Ok(())
}

/// The tree of a multifd migration's main channel `file`, its RAM and its
/// `channels`' pages written to `files` in the order a destination loads them.
fn with_channels(
    file: &Path,
    channels: &[PathBuf],
    full: bool,
    files: &mut ram::BlockFiles,
) -> Result<serde_json::Value, Failure> {
    let at = |p: &Path, e: &dyn std::fmt::Display| Failure(format!("{}: {e}", p.display()));
    let bytes = read_stream(file)?;
    let read: Vec<Vec<u8>> = channels
        .iter()
        .map(|c| read_stream(c))
        .collect::<Result<_, _>>()?;
    let parsed = channels
        .iter()
        .zip(&read)
        .map(|(p, b)| multifd::read_channel(b).map_err(|e| at(p, &e)))
        .collect::<Result<Vec<_>, _>>()?;
    let tree = load_bytes(file, &bytes, full, &mut |_| Ok(()), None)?;
    // The main channel's parts as QEMU sent them (a BER one converted back).
    let legacy = match vmstate_runtime::framing::detect(&bytes) {
        Some(Format::Ber) => dump::convert(&bytes, Format::Legacy).map_err(|e| at(file, &e))?,
        _ => bytes,
    };
    let parts = dump::legacy_ram_parts(&legacy).map_err(|e| at(file, &e))?;
    multifd::records(parts, &parsed, &mut |r| files.record(&r)).map_err(|e| at(file, &e))?;
    Ok(tree)
}

/// A stream's tree and the digests of its RAM pages. A page sent on its
/// previous content (XBZRLE) takes a second pass that keeps the content of those
/// pages.
fn digested(path: &Path) -> Result<(serde_json::Value, PageDigests), Failure> {
    let bytes = read_stream(path)?;
    let mut first = PageDigests::default();
    let tree = load_bytes(path, &bytes, false, &mut |r| first.record(r), None)?;
    if first.unresolved.is_empty() {
        return Ok((tree, first));
    }
    let mut second = PageDigests::keeping(std::mem::take(&mut first.unresolved));
    load_bytes(path, &bytes, false, &mut |r| second.record(r), None)?;
    Ok((tree, second))
}

/// Prints a tree: as JSON, or readable, each line with the control characters of
/// the stream's names escaped (JSON escapes its own).
fn print_dump(tree: &serde_json::Value, json: bool, out: &mut impl Write) -> Result<(), Failure> {
    if json {
        serde_json::to_writer_pretty(&mut *out, tree)?;
        writeln!(out)?;
    } else {
        let mut text = Vec::new();
        show::print_tree(tree, &mut text)?;
        for line in String::from_utf8_lossy(&text).lines() {
            writeln!(out, "{}", printable(line))?;
        }
    }
    Ok(())
}

/// [`load`], the RAM records going nowhere.
fn load_tree(path: &Path, full: bool) -> Result<serde_json::Value, Failure> {
    load(path, full, &mut |_| Ok(()), None)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Dump {
            file,
            json,
            ram: None,
            describe_with,
            ..
        } => {
            let described = described_with(describe_with.as_deref())?;
            let tree = load(&file, json, &mut |_| Ok(()), described.as_ref())?;
            print_dump(&tree, json, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump {
            file,
            json,
            ram: Some(dir),
            partial,
            describe_with,
            channel,
            resumed,
        } => {
            let described = described_with(describe_with.as_deref())?;
            let mut files = ram::BlockFiles::new(&dir)?;
            let loaded = match (channel.is_empty(), resumed.is_empty()) {
                (true, true) => load(&file, json, &mut |r| files.record(r), described.as_ref()),
                (false, _) => with_channels(&file, &channel, json, &mut files),
                (true, false) => {
                    with_resumed(&file, &resumed, &mut files).map(|()| serde_json::Value::Null)
                }
            };
            let (tree, cut) = match loaded {
                Ok(tree) => (Some(tree), None),
                Err(Failure(e)) => {
                    // The RAM up to where the stream ends, read as it arrives.
                    files = ram::BlockFiles::new(&dir)?;
                    let bytes = read_stream(&file)?;
                    let mut each = |r: &RamRecord<'_>| files.record(r);
                    let _ = dump::ram_records(&mut &bytes[..], &Default::default(), &mut each);
                    (None, Some(e))
                }
            };
            let mut holes = files.holes();
            if cut.is_none() && !holes.is_empty() {
                // Memory the source did not send because its device says so.
                let owns = |path: &str| holes.iter().any(|h| is_block_of(&h.block, path));
                for (path, ram) in ram::unplugged_in(&read_stream(&file)?, owns)? {
                    files.unplugged(&path, &ram)?;
                }
                holes = files.holes();
            }
            if !partial && (cut.is_some() || !holes.is_empty()) {
                files.remove();
                let mut what: Vec<String> = holes.iter().map(|h| files.describe(h)).collect();
                what.push(
                    "no RAM image written (--partial writes the pages that arrived and \
                     lists the missing ones)"
                        .into(),
                );
                let what = what.join("; ");
                return Err(Failure(match cut {
                    Some(e) => format!("{e}; {what}"),
                    None => format!("{}: {what}", file.display()),
                }));
            }
            for (_, path, len) in files.written() {
                eprintln!("wrote {} ({len} bytes)", path.display());
            }
            if let Some(tree) = tree.as_ref().filter(|t| !t.is_null()) {
                print_dump(tree, json, &mut out)?;
            }
            if holes.is_empty() && cut.is_none() {
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(e) = cut {
                eprintln!("vmstate: the stream ends early: {e}");
            }
            ram::list_holes(&holes, &dir.join("missing-pages.txt"))?;
            Ok(ExitCode::from(1))
        }
        Command::Convert {
            to,
            input,
            output,
            describe_with,
        } => {
            let described = described_with(describe_with.as_deref())?;
            let format = to.format();
            let data = read_stream(&input)?;
            let at = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", input.display()));
            let mut missing = 0;
            // A multifd channel converts on its own.
            let channel = multifd::convert_channel(&data, format).map_err(|e| at(&e))?;
            let bytes = if let Some(bytes) = channel {
                Ok(bytes)
            } else if data.first() == Some(&b'{') {
                let tree = serde_json::from_slice(&data).map_err(|e| at(&e))?;
                dump::to_bytes(&tree, format)
            } else {
                // A stream converts without a JSON tree of its RAM.
                let mut out = Vec::with_capacity(data.len());
                match &described {
                    Some(d) => {
                        dump::convert_described(&mut &data[..], &mut out, format, d, &mut |_| {})
                    }
                    None => dump::convert_stream(
                        &mut &data[..],
                        &mut out,
                        format,
                        &Default::default(),
                        &mut |_| {},
                    ),
                }
                .map(|p| {
                    missing = p.missing_pages;
                    out
                })
            }
            .map_err(|e| at(&e))?;
            std::fs::write(&output, &bytes)
                .map_err(|e| Failure(format!("{}: {e}", output.display())))?;
            eprintln!("wrote {} ({} bytes)", output.display(), bytes.len());
            if missing > 0 {
                // Less what the source did not send because its device says so.
                missing = missing.saturating_sub(ram::unplugged_pages(&data));
            }
            if missing > 0 {
                eprintln!(
                    "note: {missing} pages of guest RAM are not in the stream, nor in its \
                     conversion (vmstate dump --ram --partial lists them)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bridge {
            to,
            tap,
            compress,
            zstd_level,
            delta_cache,
            from,
            into,
        } => {
            let compression = bridge::compression(compress, to.format(), zstd_level, delta_cache)?;
            bridge::run(&from, &into, to.format(), compression, tap.as_ref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Translate {
            release,
            input,
            output,
        } => {
            let data = read_stream(&input)?;
            let at = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", input.display()));
            let mut tree = dump::from_bytes(&data).map_err(|e| at(&e))?;
            let changes = translate::translate(&mut tree, release).map_err(|why| {
                Failure(format!(
                    "{}: QEMU {} cannot load it: {why}",
                    input.display(),
                    release.name()
                ))
            })?;
            let bytes = dump::to_bytes(&tree, Format::Legacy).map_err(|e| at(&e))?;
            std::fs::write(&output, &bytes)
                .map_err(|e| Failure(format!("{}: {e}", output.display())))?;
            for c in &changes {
                eprintln!("vmstate: {c}");
            }
            eprintln!(
                "vmstate: translated for QEMU {} ({} change(s))",
                release.name(),
                changes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, release } => {
            let data = read_stream(&file)?;
            let at = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", file.display()));
            let legacy = if data.starts_with(&framing::MAGIC.to_be_bytes()) {
                data
            } else {
                let mut out = Vec::with_capacity(data.len());
                dump::convert_stream(
                    &mut &data[..],
                    &mut out,
                    Format::Legacy,
                    &Default::default(),
                    &mut |_| {},
                )
                .map_err(|e| at(&e))?;
                out
            };
            let stream = dump::walk_legacy(&legacy).map_err(|e| at(&e))?;
            let machine = stream.machine_type();
            let release = release
                .or_else(|| verify::Release::of_machine(&machine))
                .ok_or_else(|| {
                    Failure(format!(
                        "{}: machine type {machine} is neither QEMU 7.2's nor 10.0's: say --release",
                        file.display()
                    ))
                })?;
            let verdict = verify::verify(&stream, release);
            for line in &verdict.lines {
                writeln!(out, "{line}")?;
            }
            Ok(if verdict.loads {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Diff { a, b } => {
            let (ta, mut ra) = digested(&a)?;
            let (tb, mut rb) = digested(&b)?;
            let diffs = diff(&ta, &tb, &mut ra, &mut rb);
            for d in &diffs {
                writeln!(out, "{d}")?;
            }
            Ok(if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Asn1 { file, name } => {
            let module = dump::asn1::module_of(&load_tree(&file, false)?, &name)?;
            out.write_all(module.text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckCompat { old, new } => {
            let parse = |p: &Path| -> Result<serde_json::Value, Failure> {
                serde_json::from_slice(&read_input(p)?)
                    .map_err(|e| Failure(format!("{}: {e}", p.display())))
            };
            let report = compat::check(&parse(&old)?, &parse(&new)?);
            for line in &report.lines {
                writeln!(out, "{line}")?;
            }
            writeln!(
                out,
                "{} error(s), {} warning(s)",
                report.errors, report.warnings
            )?;
            Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(Failure(msg)) if msg.is_empty() => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("vmstate: {msg}");
            ExitCode::from(2)
        }
    }
}
