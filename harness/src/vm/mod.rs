//! The VM backend: build (or reuse) the scenario's kernel, boot it under QEMU, run the same
//! engine inside as the guest agent, and stream its events back.

pub mod artifacts;
pub mod backend;
pub mod channel;
pub mod console;
pub mod guest;
pub mod kernel;
pub mod kvm;
pub mod qemu;
