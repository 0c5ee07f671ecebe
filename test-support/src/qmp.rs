//! A real QEMU (`qemu-system-x86_64`) driven over QMP, for the tests and benches that
//! migrate through it.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A QEMU release the tests run against: Debian's installed `qemu-system-x86` (7.2),
/// and QEMU 10.0 unpacked beside it by `scripts/qemu-10.0.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// QEMU 7.2, `qemu-system-x86_64` on the `PATH`.
    Qemu7_2,
    /// QEMU 10.0, in `$VMSTATE_QEMU_10_0` (default `~/.cache/vmstate/qemu-10.0.2`).
    Qemu10_0,
}

impl Release {
    /// Both releases, oldest first.
    pub const ALL: [Release; 2] = [Release::Qemu7_2, Release::Qemu10_0];

    /// `7.2` or `10.0`.
    pub fn version(self) -> &'static str {
        match self {
            Release::Qemu7_2 => "7.2",
            Release::Qemu10_0 => "10.0",
        }
    }

    /// Where QEMU 10.0 is unpacked.
    fn root_10_0() -> PathBuf {
        match std::env::var_os("VMSTATE_QEMU_10_0") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(|| PathBuf::from("/nonexistent"));
                cache.join("vmstate/qemu-10.0.2")
            }
        }
    }

    /// A command that runs this release's `qemu-system-x86_64` with its firmware
    /// paths (QEMU 10.0's own data first, then the installed 7.2's firmware).
    pub fn command(self) -> Command {
        match self {
            Release::Qemu7_2 => Command::new("qemu-system-x86_64"),
            Release::Qemu10_0 => {
                let root = Self::root_10_0();
                let mut c = Command::new(root.join("usr/bin/qemu-system-x86_64"));
                // Its own modules, not the installed 7.2's (which it cannot load).
                c.env(
                    "QEMU_MODULE_DIR",
                    root.join("usr/lib/x86_64-linux-gnu/qemu"),
                );
                c.arg("-L").arg(root.join("usr/share/qemu"));
                c.args(["-L", "/usr/share/qemu", "-L", "/usr/share/seabios"]);
                c
            }
        }
    }

    /// Whether this release runs here and is the release it claims to be. When it
    /// is not, fails if `VMSTATE_REQUIRE_QEMU` is set (the test script sets it, and
    /// installs both) and otherwise prints a skip note.
    pub fn available(self) -> bool {
        let mut c = self.command();
        let out = c.arg("--version").output();
        let want = format!("QEMU emulator version {}.", self.version());
        let ok = out.as_ref().is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with(&want)
        });
        if !ok {
            let how = match self {
                Release::Qemu7_2 => "apt-get install qemu-system-x86 (Debian bookworm)",
                Release::Qemu10_0 => "bash scripts/qemu-10.0.sh",
            };
            assert!(
                std::env::var_os("VMSTATE_REQUIRE_QEMU").is_none(),
                "VMSTATE_REQUIRE_QEMU is set but QEMU {} does not run here ({how})",
                self.version()
            );
            eprintln!(
                "note: skipping: QEMU {} is not available ({how})",
                self.version()
            );
        }
        ok
    }
}

/// A QEMU release and the machine type its guests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The release.
    pub release: Release,
    /// Its guests' machine type.
    pub machine: &'static str,
}

impl Peer {
    /// Each release on its own newest i440FX machine (QEMU 10.0's streams then hold
    /// its `SWITCHOVER_START` command).
    pub const NEWEST: [Peer; 2] = [
        Peer {
            release: Release::Qemu7_2,
            machine: "pc-i440fx-7.2",
        },
        Peer {
            release: Release::Qemu10_0,
            machine: "pc-i440fx-10.0",
        },
    ];

    /// `release` on QEMU 7.2's i440FX machine (both releases run it).
    pub const fn on_7_2(release: Release) -> Peer {
        Peer {
            release,
            machine: "pc-i440fx-7.2",
        }
    }

    /// Starts this release on this machine with `ram_mib` MiB, a `qemu64` CPU and
    /// [`accel`], then `extra` (see [`Qemu::start_release`]); panics if it does not
    /// start.
    pub fn start(&self, dir: &Path, name: &str, ram_mib: u32, extra: &[&str]) -> Qemu {
        let ram = ram_mib.to_string();
        let mut a = vec!["-M", self.machine, "-m", &ram, "-cpu", "qemu64"];
        a.extend(["-accel", accel()]);
        a.extend(extra);
        Qemu::start_release(self.release, dir, name, &a).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Starts a destination of `ram_mib` MiB (`<name>-dst`) with the source's
    /// `extra` arguments that loads the stream `bytes` (written to `dir/<name>.mig`)
    /// with `-incoming`; returns it once the migration completed, and fails the test
    /// if it did not.
    pub fn incoming(
        &self,
        dir: &Path,
        name: &str,
        ram_mib: u32,
        extra: &[&str],
        bytes: &[u8],
    ) -> Qemu {
        self.incoming_with(dir, name, ram_mib, extra, bytes, &[])
    }

    /// [`Peer::incoming`] with migration `capabilities` on at the destination; with
    /// `mapped-ram`, QEMU reads the file itself (`migrate-incoming file:`), as it
    /// must: its pages are at offsets in the file.
    pub fn incoming_with(
        &self,
        dir: &Path,
        name: &str,
        ram_mib: u32,
        extra: &[&str],
        bytes: &[u8],
        capabilities: &[&str],
    ) -> Qemu {
        let file = dir.join(format!("{name}.mig"));
        std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut args = extra.to_vec();
        args.extend(["-incoming", "defer"]);
        let mut dst = self.start(dir, &format!("{name}-dst"), ram_mib, &args);
        dst.set_migration(capabilities, &json!({}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let uri = match capabilities.contains(&"mapped-ram") {
            true => format!("file:{}", file.display()),
            false => format!("exec:cat {}", file.display()),
        };
        dst.execute("migrate-incoming", json!({ "uri": uri }))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (status, reply) = dst
            .wait_migration()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, "completed", "{name}: {reply}");
        dst
    }
}

/// The devices of the QEMU 10.0 fixture `pc-i440fx-10.0-tcg-devices.mig` (two
/// vCPUs): NICs with user-mode networking behind them, a null block device, audio
/// that goes nowhere, a serial port to a null chardev, so that the guest needs
/// nothing from the host.
pub const I440FX_10_0_DEVICES: &[&str] = &[
    "-netdev",
    "user,id=n0",
    "-device",
    "virtio-net-pci,netdev=n0",
    "-netdev",
    "user,id=n1",
    "-device",
    "e1000,netdev=n1",
    "-blockdev",
    "driver=null-co,node-name=d0,size=1048576",
    "-device",
    "virtio-blk-pci,drive=d0",
    "-device",
    "virtio-serial-pci",
    "-device",
    "virtio-rng-pci",
    "-device",
    "virtio-balloon-pci",
    "-device",
    "piix3-usb-uhci",
    "-device",
    "usb-tablet",
    "-audiodev",
    "none,id=a0",
    "-device",
    "intel-hda",
    "-device",
    "hda-duplex,audiodev=a0",
    "-device",
    "isa-serial,chardev=s0",
    "-chardev",
    "null,id=s0",
];

/// A free loopback port (bound, then released: a QEMU started next listens on it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    l.local_addr().expect("bound").port()
}

/// Connects to a QEMU that is starting to listen on loopback `port` (`-incoming
/// tcp:127.0.0.1:port`), retrying for up to 10 s.
pub fn connect_when_listening(port: u16) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("nothing listens on {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// Whether QEMU 7.2 can run here (see [`Release::available`]).
pub fn available() -> bool {
    Release::Qemu7_2.available()
}

/// `kvm` when `/dev/kvm` can be opened, else `tcg`.
pub fn accel() -> &'static str {
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if kvm {
        "kvm"
    } else {
        "tcg"
    }
}

/// A running QEMU with its QMP connection; killed when dropped.
pub struct Qemu {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    socket: PathBuf,
    /// The vhost-user back-end its arguments asked for, stopped after it.
    _backend: Option<VhostUserBlkBackend>,
}

/// A vhost-user-blk back-end: `qemu-storage-daemon` (QEMU 7.2's, in Debian's
/// `qemu-system-common`) exporting a 1 MiB null disk on a Unix socket. A QEMU
/// whose arguments hold [`VhostUserBlkBackend::SOCKET`] gets one of its own
/// (`-chardev socket,id=c,path=@VHOST_USER_BLK_SOCKET@`), so that a fixture's
/// recorded arguments start its source and any destination alike.
pub struct VhostUserBlkBackend {
    child: Child,
    socket: PathBuf,
}

impl VhostUserBlkBackend {
    /// What stands for the back-end's socket in QEMU's arguments.
    pub const SOCKET: &'static str = "@VHOST_USER_BLK_SOCKET@";

    fn start(socket: PathBuf) -> Result<Self, QmpError> {
        let _ = std::fs::remove_file(&socket);
        let export = format!(
            "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path={},writable=on",
            socket.display()
        );
        let child = Command::new("qemu-storage-daemon")
            .args(["--blockdev", "driver=null-co,node-name=d0,size=1048576"])
            .args(["--export", &export])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| QmpError(format!("qemu-storage-daemon: {e}")))?;
        let backend = VhostUserBlkBackend { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !backend.socket.exists() {
            if Instant::now() > deadline {
                return Err(QmpError("qemu-storage-daemon made no socket".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(backend)
    }
}

impl Drop for VhostUserBlkBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A QMP failure or a QEMU that did not start.
#[derive(Debug)]
pub struct QmpError(pub String);

impl std::fmt::Display for QmpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QmpError {}

fn err(e: impl std::fmt::Display) -> QmpError {
    QmpError(e.to_string())
}

impl Qemu {
    /// Starts QEMU 7.2 (see [`Qemu::start_release`]).
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Result<Qemu, QmpError> {
        Self::start_release(Release::Qemu7_2, dir, name, args)
    }

    /// Starts `qemu-system-x86_64 -nodefaults -display none <args>` of `release` with
    /// a QMP socket in `dir`, and negotiates capabilities.
    pub fn start_release(
        release: Release,
        dir: &Path,
        name: &str,
        args: &[&str],
    ) -> Result<Qemu, QmpError> {
        let socket = dir.join(format!("{name}.qmp"));
        let _ = std::fs::remove_file(&socket);
        let backend = args
            .iter()
            .any(|a| a.contains(VhostUserBlkBackend::SOCKET))
            .then(|| VhostUserBlkBackend::start(dir.join(format!("{name}.vub"))))
            .transpose()?;
        let args = args.iter().map(|a| match &backend {
            Some(b) => a.replace(VhostUserBlkBackend::SOCKET, &b.socket.to_string_lossy()),
            None => (*a).to_owned(),
        });
        let child = release
            .command()
            .args(["-nodefaults", "-display", "none", "-qmp"])
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(err)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            match UnixStream::connect(&socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(QmpError(format!("QMP socket of {name}: {e}"))),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(err)?;
        let writer = stream.try_clone().map_err(err)?;
        let mut q = Qemu {
            child,
            reader: BufReader::new(stream),
            writer,
            socket,
            _backend: backend,
        };
        q.read_message()?; // greeting
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn read_message(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(self.closed("QEMU closed QMP".into())),
            Err(e) => Err(self.closed(format!("QMP: {e}"))),
            Ok(_) => serde_json::from_str(&line).map_err(err),
        }
    }

    /// The error for a QMP connection QEMU ended, with what QEMU printed when it
    /// has exited (within a second; a QEMU still running keeps its stderr).
    fn closed(&mut self, what: String) -> QmpError {
        let deadline = Instant::now() + Duration::from_secs(1);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stderr = String::new();
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            if let Some(mut e) = self.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
        }
        QmpError(format!("{what}: {stderr}"))
    }

    /// Runs a QMP command; returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        let msg = json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{msg}").map_err(err)?;
        loop {
            let reply = self.read_message()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(QmpError(format!("{command}: {e}")));
            }
            // An event: keep reading.
        }
    }

    /// Runs a human monitor command; returns its output.
    pub fn hmp(&mut self, command: &str) -> Result<String, QmpError> {
        let r = self.execute("human-monitor-command", json!({ "command-line": command }))?;
        Ok(r.as_str().unwrap_or("").to_owned())
    }

    /// `query-status`'s status (`running`, `paused`, `inmigrate`...).
    pub fn status(&mut self) -> Result<String, QmpError> {
        let r = self.execute("query-status", json!({}))?;
        Ok(r["status"].as_str().unwrap_or("").to_owned())
    }

    /// Polls `query-migrate` until the migration leaves its active states; returns
    /// the final status and the whole reply.
    pub fn wait_migration(&mut self) -> Result<(String, Value), QmpError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.execute("query-migrate", json!({}))?;
            let status = r["status"].as_str().unwrap_or("none").to_owned();
            if !matches!(
                status.as_str(),
                "setup" | "active" | "device" | "none" | "pre-switchover" | "postcopy-active"
            ) || Instant::now() > deadline
            {
                return Ok((status, r));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CMOS byte `index`, read through ports 0x70/0x71 (HMP `o` and `i`).
    pub fn read_cmos(&mut self, index: usize) -> Result<u8, QmpError> {
        self.hmp(&format!("o /b 0x70 {index:#x}"))?;
        let out = self.hmp("i /b 0x71")?;
        // "inb 0x71 = 0x5a"
        let hex = out.trim().rsplit("0x").next().unwrap_or("");
        u8::from_str_radix(hex.trim(), 16)
            .map_err(|_| QmpError(format!("unexpected HMP output {out:?}")))
    }

    /// The 32-bit word at guest-physical `addr` (HMP `xp`).
    pub fn read_u32(&mut self, addr: u64) -> Result<u32, QmpError> {
        let out = self.hmp(&format!("xp /1xw {addr:#x}"))?;
        out.rsplit("0x")
            .next()
            .and_then(|w| u32::from_str_radix(w.trim(), 16).ok())
            .ok_or_else(|| QmpError(format!("xp {addr:#x}: {out}")))
    }

    /// The SHA-256 of each of the guest-physical `ranges` (start, end) as QEMU's own
    /// `pmemsave` writes them (through a file beside its QMP socket, removed after).
    pub fn memory_digests(&mut self, ranges: &[(u64, u64)]) -> Result<Vec<Vec<u8>>, QmpError> {
        use sha2::{Digest, Sha256};
        let file = self.socket.with_extension("pmem");
        let mut out = Vec::new();
        for &(start, end) in ranges {
            self.execute(
                "pmemsave",
                json!({"val": start, "size": end - start, "filename": file.display().to_string()}),
            )?;
            let mut h = Sha256::new();
            let mut f = std::fs::File::open(&file).map_err(err)?;
            std::io::copy(&mut f, &mut h).map_err(err)?;
            out.push(h.finalize().to_vec());
        }
        let _ = std::fs::remove_file(&file);
        Ok(out)
    }

    /// Waits at most `timeout` for QEMU to exit (a destination whose incoming
    /// migration failed exits with an error); returns its status, if it exited.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Migrates to `uri` with `capabilities` on and `parameters` set; returns the
    /// final `query-migrate` once it completed. With `xbzrle` or `mapped-ram`, a
    /// downtime limit the guest cannot meet holds it in pre-copy (the pages a
    /// running guest writes go again and again; a guest that writes few pages needs
    /// a low `max-bandwidth` too) until QEMU has sent pages again: XBZRLE pages, or
    /// (mapped-ram, which writes a page again in its place in the file) a third
    /// pass; then it may complete.
    pub fn migrate_with(
        &mut self,
        uri: &str,
        capabilities: &[&str],
        parameters: Value,
    ) -> Result<Value, QmpError> {
        let xbzrle = capabilities.contains(&"xbzrle");
        let hold = xbzrle || capabilities.contains(&"mapped-ram");
        let mut parameters = parameters;
        if hold {
            parameters["downtime-limit"] = json!(1);
            if parameters.get("max-bandwidth").is_none() {
                parameters["max-bandwidth"] = json!(256u64 << 20);
            }
        }
        self.set_migration(capabilities, &parameters)?;
        self.execute("migrate", json!({ "uri": uri }))?;
        if hold {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let r = self.execute("query-migrate", json!({}))?;
                let ended = matches!(
                    r["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                );
                let again = match xbzrle {
                    true => r["xbzrle-cache"]["pages"].as_u64().unwrap_or(0) > 0,
                    false => r["ram"]["dirty-sync-count"].as_u64().unwrap_or(0) >= 3,
                };
                if again || ended {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(QmpError(format!("no page sent again: {r}")));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Still iterating, or done already (the guest's writes may fit the limit).
            let _ = self.execute(
                "migrate-set-parameters",
                json!({ "downtime-limit": 20000, "max-bandwidth": 4u64 << 30 }),
            );
        }
        let (status, reply) = self.wait_migration()?;
        if status != "completed" {
            return Err(QmpError(format!("migration ended {status}: {reply}")));
        }
        Ok(reply)
    }

    /// Sets migration `capabilities` on and `parameters` (an object).
    pub fn set_migration(
        &mut self,
        capabilities: &[&str],
        parameters: &Value,
    ) -> Result<(), QmpError> {
        let caps: Vec<Value> = capabilities
            .iter()
            .map(|c| json!({ "capability": c, "state": true }))
            .collect();
        self.execute("migrate-set-capabilities", json!({ "capabilities": caps }))?;
        self.execute("migrate-set-parameters", parameters.clone())?;
        Ok(())
    }

    /// Stops the guest and migrates it to `file`; returns the final `query-migrate`.
    pub fn migrate_to_file(&mut self, file: &Path) -> Result<Value, QmpError> {
        self.execute("stop", json!({}))?;
        let uri = format!("exec:cat > {}", file.display());
        self.migrate_with(&uri, &[], json!({}))
    }

    /// Loads the stream in `file` into this QEMU (started with `-incoming defer`):
    /// its verdict, `completed` or `failed` (a destination that refused the
    /// stream may have exited).
    pub fn incoming_from_file(&mut self, file: &Path) -> String {
        let uri = format!("exec:cat {}", file.display());
        if self
            .execute("migrate-incoming", json!({ "uri": uri }))
            .is_err()
        {
            return "failed".into();
        }
        match self.wait_migration() {
            Ok((status, _)) => status,
            Err(_) => "failed".into(),
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}
