//! A device's encodings as text, for snapshot tests (insta's `assert_snapshot!`),
//! in the form the project's own snapshots use: each version the device saves at,
//! its bytes as a hex dump with offsets, then the vmdesc JSON (legacy) or the BER
//! value annotated with field names and tags. A changed encoding then reviews as a
//! diff of bytes and names.
//!
//! ```
//! use vmstate_runtime::{snapshot, VMState};
//!
//! #[derive(VMState, Clone, Default)]
//! #[vmstate(name = "port92", version = 1)]
//! struct Port92 {
//!     outport: u8,
//! }
//!
//! let text = snapshot::legacy(&Port92 { outport: 2 })?;
//! assert!(text.starts_with("== version 1: 1 bytes\n0000: 02\n== vmdesc\n"));
//! let text = snapshot::ber(&Port92 { outport: 2 })?;
//! assert!(text.contains("outport [0] (primitive) len 1 = 2"));
//! // In a test: insta::assert_snapshot!(snapshot::legacy(&device)?);
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

use crate::error::Result;
use crate::{ber as ber_codec, legacy as legacy_codec, VMState};

/// `offset: hex bytes`, sixteen to a line.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&format!("{:04x}: {}\n", i * 16, hex.join(" ")));
    }
    s
}

/// The legacy (QEMU) bytes of `value` at every version it saves at, oldest
/// first, then its vmdesc entry at its current version.
pub fn legacy<T: VMState>(value: &T) -> Result<String> {
    let d = T::DESC;
    let mut out = String::new();
    for version in d.minimum_version..=d.version {
        let bytes = legacy_codec::to_bytes_at(value, version)?;
        out.push_str(&format!("== version {version}: {} bytes\n", bytes.len()));
        out.push_str(&hexdump(&bytes));
    }
    out.push_str("== vmdesc\n");
    out.push_str(&legacy_codec::vmdesc_json(value, d.name, 0, d.version));
    out.push('\n');
    Ok(out)
}

/// The BER bytes of `value` at every version it saves at, oldest first, each
/// followed by its TLV tree annotated with the type's field names.
pub fn ber<T: VMState>(value: &T) -> Result<String> {
    let d = T::DESC;
    let mut out = String::new();
    for version in d.minimum_version..=d.version {
        let bytes = ber_codec::to_bytes_at(value, version)?;
        let form = if ber_codec::is_blob::<T>(version) {
            " (legacy blob)"
        } else {
            ""
        };
        out.push_str(&format!(
            "== version {version}{form}: {} bytes\n",
            bytes.len()
        ));
        out.push_str(&hexdump(&bytes));
        out.push_str(&ber_codec::annotate(&bytes, Some(d))?);
    }
    Ok(out)
}
