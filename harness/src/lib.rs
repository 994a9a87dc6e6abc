//! `lab`: rebuild a kernel or container-runtime incident from a YAML scenario — namespaces,
//! traffic, pressure, restarts — on the running kernel or inside a QEMU-booted patched
//! kernel, and say whether its fault signature appeared.
//!
//! The flow of a run: [`scenario`] (parse + validate) → a backend (host: [`engine`] here;
//! VM: [`vm`], the same engine in the guest) → [`event`]s → [`render`]ers.

#![warn(clippy::too_many_lines)]

pub mod backend;
pub mod cleanup;
pub mod engine;
pub mod event;
pub mod expect;
pub mod kmsg;
pub mod process;
pub mod render;
pub mod scenario;
pub mod steps;
pub mod topology;
pub mod vm;
