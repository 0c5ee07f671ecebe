//! What the bridge tests share: running `vmstate bridge` and reading where it
//! listens and what it reports.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bridge");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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
            assert!(Instant::now() < until, "the bridge did not finish");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.success(), self.stderr.join().unwrap())
    }
}
