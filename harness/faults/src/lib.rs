//! Kernel fault recognition: from console, `dmesg` or journal lines to named reports, the
//! way kernel engineers name them (syzkaller's `pkg/report` is the reference).
//!
//! A crate of its own, pure, with no dependency on the rest of `lab` (only `regex`,
//! `aho-corasick`, `serde`, `serde_json` and `thiserror`): `lab`'s VM console feeds it lines
//! as they come, `lab triage` whole files, and any other kernel tool may do the same. See `README.md` for a first example.
//! - [`class`]: the kinds of report ([`FaultClass`]) and of guest fault ([`GuestFault`]).
//! - [`input`]: which format a log is (raw, journal, journal JSON, syslog), its kernel lines.
//! - [`prefix`]: what consoles and journals put before a message, taken off.
//! - [`table`]: the report starts, compiled once: a keyword gate, then the rules holding it.
//! - [`frames`], [`title`]: the guilty frame and the title; [`slab`]: a slab report's kind.
//! - [`collect`]: reports cut out of a stream, up to their end marker.
//! - [`pattern`]: a report's first line generalised into an `expect:` pattern.

#![warn(clippy::too_many_lines)]

pub mod class;
pub mod collect;
pub mod frames;
pub mod input;
pub mod pattern;
pub mod prefix;
pub mod slab;
pub mod table;
pub mod title;

use serde::Serialize;

pub use class::{FaultClass, GuestFault};
pub use collect::{scan, scan_lines, Collector};
pub use input::{scan_log, Format};

/// One kernel report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub class: FaultClass,
    /// `WARNING in lkdtm_WARNING`; the same bug gives the same title across runs and kernels.
    pub title: String,
    /// The report's first line, without its prefixes.
    pub first_line: String,
    /// 1-based, in the log read.
    pub line_number: usize,
    /// The printk timestamp of the first line, seconds since boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// A few lines before the first line, it, and the report up to its end marker, as read.
    pub lines: Vec<String>,
    /// The kernel dies of it (panic, oops, `kernel BUG at`) or stops the run as before
    /// (hung task, soft lockup).
    pub fatal: bool,
}

impl Fault {
    /// The coarse kind the run's events and `kernel.tolerate` use.
    pub fn guest_fault(&self) -> GuestFault {
        match self.class {
            FaultClass::Panic => GuestFault::Panic,
            FaultClass::Oops => GuestFault::Oops,
            FaultClass::Bug => GuestFault::Bug,
            FaultClass::HungTask => GuestFault::HungTask,
            FaultClass::SoftLockup => GuestFault::SoftLockup,
            _ => GuestFault::Warning,
        }
    }
}

/// The README's example, compiled and run by `cargo test --doc -p lab-faults`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
