//! What the fuzz targets share: the device types a selector byte picks, and the
//! checks every decoded value must pass.

use vmstate_runtime::{Result, VMState};
pub use vmstate_test_support::with_device;

/// The version a byte picks among those `T` loads (minimum to current).
pub fn version_of<T: VMState>(byte: u8) -> u32 {
    let d = T::DESC;
    d.minimum_version + u32::from(byte) % (d.version - d.minimum_version + 1)
}

/// A load either fails, leaving the target as it was, or yields a value that saves
/// at that version and loads back to a value that saves to the same bytes (bytes,
/// not `==`: a NaN loaded into an `f64` is not equal to itself).
pub fn check_load<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(
    loaded: Result<()>,
    target: &T,
    version: u32,
) {
    match loaded {
        Err(_) => assert!(
            same(target, &T::default()),
            "a failed load changed the target"
        ),
        Ok(()) => {
            let bytes = vmstate_runtime::legacy::to_bytes_at(target, version)
                .expect("a loaded value saves");
            let mut again = T::default();
            vmstate_runtime::legacy::load_into(&mut again, &bytes, version)
                .expect("what it saves loads");
            assert!(same(&again, target), "save then load changed the value");
        }
    }
}

/// Whether two values save to the same legacy bytes at their current version.
pub fn same<T: VMState>(a: &T, b: &T) -> bool {
    let save = |v: &T| vmstate_runtime::legacy::to_bytes(v).ok();
    save(a) == save(b)
}
