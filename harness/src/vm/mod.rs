//! The VM backend: build (or reuse) the scenario's kernel, boot it under QEMU, run the same
//! engine inside as the guest agent, and stream its events back.

pub mod accel;
pub mod artifacts;
pub mod attempt;
pub mod backend;
pub mod channel;
pub mod conclude;
pub mod console;
pub mod error;
pub mod guest;
pub mod guest_binary;
pub mod kernel;
pub mod kmsg_port;
pub mod machine;
pub mod options;
pub mod prepare;
pub mod qemu;
pub mod unexpected;

pub use error::VmError;
