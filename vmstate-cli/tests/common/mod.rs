//! What the bridge tests share: running `vmstate bridge` and reading where it
//! listens and what it reports.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vmstate_test_support::counter_guest;
use vmstate_test_support::qmp::{Peer, Qemu};

pub fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bridge");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Removes a test's outputs when it ends well: each path (a file or a folder)
/// and the files beside it named after it (`T.tap` and `T.tap.channel0`); a
/// failing test keeps them for a look. The suite's streams, taps and RAM images
/// would otherwise stay in `target/tmp`, gigabytes of them.
pub struct Scratch(pub Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
            let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
                continue;
            };
            let prefix = format!("{}.", name.to_string_lossy());
            for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// A running bridge, and its stderr after the line that says where it listens.
pub struct Bridge {
    pub child: Child,
    stderr: std::thread::JoinHandle<String>,
}

/// Starts `vmstate bridge ARGS`; returns it and the address its listener got
/// (`tcp:...` or `unix:...`).
pub fn bridge(args: &[&str]) -> (Bridge, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .arg("bridge")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs vmstate");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("vmstate bridge: listening on ")
        .unwrap_or_else(|| panic!("no listener line: {line:?}"))
        .to_owned();
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    (Bridge { child, stderr }, addr)
}

impl Bridge {
    /// Waits (at most a minute); returns whether it succeeded, and its stderr.
    pub fn wait(mut self) -> (bool, String) {
        let until = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the bridge did not finish: {}", self.stderr.join().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.success(), self.stderr.join().unwrap())
    }
}

/// A guest of the live tests: the counter kernel (`kernel_file`) in `ram_mib` MiB
/// on `peer`, with `extra` arguments.
pub fn start_guest(peer: Peer, name: &str, ram_mib: u32, kernel: &Path, extra: &[&str]) -> Qemu {
    let mut a = vec!["-kernel", kernel.to_str().unwrap()];
    a.extend(extra);
    peer.start(&tmp(""), name, ram_mib, &a)
}

/// Waits until the guest wrote every page once (its last page holds its address).
pub fn wait_filled(q: &mut Qemu, ram_mib: u32) {
    let last = (u64::from(ram_mib) << 20) - 4096;
    let deadline = Instant::now() + Duration::from_secs(180);
    while q.read_u32(last).unwrap() != last as u32 {
        assert!(Instant::now() < deadline, "the guest did not fill its RAM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The counter kernel for a guest of `ram_mib` MiB, in a file.
pub fn kernel_file(ram_mib: u32) -> PathBuf {
    let path = tmp(&format!("counter-{ram_mib}.kernel"));
    // Written beside it and renamed over it: tests run at once, and a QEMU of
    // another one may be loading it (a file rewritten in place is empty a while).
    let id = (std::process::id(), std::thread::current().id());
    let fresh = tmp(&format!("counter-{ram_mib}.kernel.{id:?}"));
    std::fs::write(&fresh, counter_guest::kernel(ram_mib)).unwrap();
    std::fs::rename(&fresh, &path).unwrap();
    path
}

pub use vmstate_test_support::qmp::free_port;

/// A destination QEMU started with `dst_args` (`-S` to stay paused after it
/// loads), the migration `capabilities` on and `parameters` set (as libvirt sets
/// both sides), listening on a port; a bridge into it
/// from BER; a bridge from legacy into that one, given `ber_args` (`--tap FILE`,
/// `--compress`). Returns the destination, both bridges (source side first) and
/// the address the source migrates to.
pub fn destination_and_bridges(
    dst: Peer,
    name: &str,
    ram_mib: u32,
    kernel: &Path,
    dst_args: &[&str],
    (capabilities, parameters): (&[&str], &Value),
    ber_args: &[&str],
) -> (Qemu, Bridge, Bridge, String) {
    let mut args = dst_args.to_vec();
    args.extend(["-incoming", "defer"]);
    let mut q = start_guest(dst, &format!("{name}-dst"), ram_mib, kernel, &args);
    q.set_migration(capabilities, parameters).unwrap();
    let port = free_port();
    q.execute(
        "migrate-incoming",
        json!({ "uri": format!("tcp:127.0.0.1:{port}") }),
    )
    .unwrap();
    let (to_ber, to_legacy, addr, _) = bridges_into(port, ber_args, false);
    (q, to_ber, to_legacy, addr)
}

/// Two bridges into a destination listening on `port`: one from BER into it, one
/// from legacy into that one (given `ber_args`: `--tap FILE`, `--compress`),
/// through a [`Link`] between them if `linked`. Returns both bridges (source side
/// first), the address the source migrates to and the link.
pub fn bridges_into(
    port: u16,
    ber_args: &[&str],
    linked: bool,
) -> (Bridge, Bridge, String, Option<Link>) {
    let (to_legacy, ber_addr) = bridge(&[
        "--to",
        "legacy",
        "tcp-listen:127.0.0.1:0",
        &format!("tcp:127.0.0.1:{port}"),
    ]);
    let (link, ber_addr) = match linked {
        true => {
            let (link, addr) = Link::to(ber_addr.strip_prefix("tcp:").unwrap());
            (Some(link), addr)
        }
        false => (None, ber_addr),
    };
    let mut args = vec!["--to", "ber"];
    args.extend(ber_args);
    args.extend(["tcp-listen:127.0.0.1:0", &ber_addr]);
    let (to_ber, src_addr) = bridge(&args);
    (to_ber, to_legacy, src_addr, link)
}

/// A network link between two bridges that the test can cut: a proxy that
/// passes each connection made to it on to its address, both ways, until
/// [`cut`](Link::cut) closes every connection it passes (each side sees its
/// peer go away, as when a route fails); later connections pass again.
pub struct Link {
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Link {
    /// A link to `addr` (`HOST:PORT`); returns it and its own address (`tcp:...`).
    pub fn to(addr: &str) -> (Link, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own = format!("tcp:{}", listener.local_addr().unwrap());
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr, conns) = (addr.to_owned(), open.clone());
        std::thread::spawn(move || {
            for near in listener.incoming().map_while(Result::ok) {
                let Ok(far) = std::net::TcpStream::connect(&addr) else {
                    continue;
                };
                let mut list = conns.lock().unwrap();
                list.extend([near.try_clone().unwrap(), far.try_clone().unwrap()]);
                drop(list);
                for (mut a, mut b) in [
                    (near.try_clone().unwrap(), far.try_clone().unwrap()),
                    (far, near),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut a, &mut b);
                        let _ = b.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        (Link { open }, own)
    }

    /// Closes every connection that passes now.
    pub fn cut(&self) {
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Whether a QEMU runs its guest: alive, and `query-status` says `running`.
pub fn runs(q: &mut Qemu) -> bool {
    q.wait_exit(Duration::ZERO).is_none() && q.status().is_ok_and(|s| s == "running")
}

/// A listener on a free loopback port that keeps what its first connection sends
/// (a migration into it): the URI to migrate to, and the thread that gives the
/// bytes once the connection ends.
pub fn stream_listener() -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut bytes = Vec::new();
        let _ = c.read_to_end(&mut bytes);
        bytes
    });
    (format!("tcp:127.0.0.1:{port}"), reader)
}

/// The end of a migration that completed on both sides, both QEMUs stopped: the
/// same RAM (below the VGA window, above the BIOS area), then the destination
/// runs on and the source does not.
pub fn hand_over(s: &mut Qemu, d: &mut Qemu, ram_mib: u32, name: &str) {
    let ram = [(0, 0xA_0000), (0x10_0000, u64::from(ram_mib) << 20)];
    assert_eq!(
        s.memory_digests(&ram).unwrap(),
        d.memory_digests(&ram).unwrap(),
        "{name}"
    );
    d.execute("cont", json!({})).unwrap();
    assert!(runs(d), "{name}: the destination runs on");
    assert!(!runs(s), "{name}: exactly one guest runs");
}

/// `vmstate dump --ram DIR FILE` of `stream` written to a file of `name`'s: its
/// output and the (emptied first) folder of the images.
pub fn dump_ram(name: &str, stream: &[u8]) -> (std::process::Output, PathBuf) {
    let file = tmp(&format!("{name}.mig"));
    std::fs::write(&file, stream).unwrap();
    let dir = tmp(&format!("{name}-ram"));
    let _ = std::fs::remove_dir_all(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["dump", "--ram"])
        .args([&dir, &file])
        .output()
        .unwrap();
    (o, dir)
}
