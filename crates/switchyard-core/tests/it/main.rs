//! switchyard-core's integration tests: one binary (matklad's "Delete Cargo
//! Integration Tests"), one module per subject.

// A failed unwrap in a test is a failed test.
#![allow(clippy::unwrap_used)]

mod workflows;
