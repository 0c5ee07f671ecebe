//! Example devices.
