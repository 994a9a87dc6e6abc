//! The kernel interfaces `lab` changes, as thin wrappers with no run state: named network
//! namespaces ([`netns`]), `/proc/sys` ([`sysctl`]), mounts ([`mount`]), tracefs probes
//! ([`tracefs`]), a debug kernel's leak scan ([`kmemleak`]), the running kernel's release, and
//! which sysctls are one per kernel rather than per namespace ([`global_sysctl`]).
//!
//! A leaf: nothing else of `lab` is imported here. The ledger (`cleanup`) undoes changes
//! with these, and the topology makes them with these; neither needs the other to do so.

pub mod global_sysctl;
pub mod kmemleak;
pub mod mount;
pub mod netns;
pub mod sysctl;
pub mod tracefs;

pub use netns::in_netns;

/// `uname -r` of the kernel `lab` runs on.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into())
}
