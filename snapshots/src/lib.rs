//! Snapshot tests of the example devices' encodings live in `tests/`.
