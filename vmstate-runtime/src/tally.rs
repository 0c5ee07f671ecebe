//! Counts of work a read does, for the unit tests that show a stream's
//! description is parsed once and each RAM part read once (test builds only).

use std::cell::Cell;

/// Work that is counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// A description (vmdesc) parsed into its model.
    Description,
    /// A legacy RAM part read record by record.
    RamPart,
}

thread_local! {
    static COUNTS: Cell<[u32; 2]> = const { Cell::new([0; 2]) };
}

/// Counts one piece of `work` on this thread.
pub(crate) fn note(work: Work) {
    COUNTS.with(|c| {
        let mut v = c.get();
        v[work as usize] += 1;
        c.set(v);
    });
}

/// The counts on this thread since the last call (descriptions, RAM parts).
pub(crate) fn take() -> [u32; 2] {
    COUNTS.with(|c| c.replace([0; 2]))
}
