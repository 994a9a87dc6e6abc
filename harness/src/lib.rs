//! `lab`: rebuild a kernel or container-runtime incident from a YAML scenario — namespaces,
//! traffic, pressure, restarts — on the running kernel or inside a QEMU-booted patched
//! kernel, and say whether its fault signature appeared.
//!
//! The flow of a run: [`scenario`] (parse + validate) → a backend (host: [`engine`] here;
//! VM: [`vm`], the same engine in the guest) → [`event`]s → [`render`]ers.
//!
//! Modules read bottom-up, each importing only those before it: [`event`], [`sys`], [`kmsg`]
//! → [`scenario`] → [`cleanup`] (the ledger) → [`topology`] → [`run_env`] → [`expect`] →
//! [`steps`] → [`engine`] → [`render`], [`vm`]; the binary's `cli/` on top. One exception, by
//! design: `scenario/model.rs` holds the registries of step and condition kinds, whose specs
//! live with their drivers in `steps/` and `expect/`.

#![warn(clippy::too_many_lines)]

pub mod archive;
pub mod backend;
pub mod cleanup;
pub mod engine;
pub mod event;
pub mod expect;
pub mod kmsg;
pub mod process;
pub mod render;
pub mod run_env;
pub mod runtimes;
pub mod scenario;
pub mod seccomp;
pub mod steps;
pub mod sys;
pub mod topology;
pub mod verify;
pub mod vm;
