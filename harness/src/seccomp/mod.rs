//! Seccomp profiles as runc handles them: the OCI `linux.seccomp` section read from a file
//! ([`profile`]), made into a libseccomp filter and exported as BPF the way runc 1.0.0-rc93
//! does ([`filter`]), and the pipe-limit question "does this container hang runc init?"
//! answered from the exported size, the kernel's shrunk pipe, NNP and the capabilities
//! ([`affected`]).
//!
//! A leaf: it knows nothing of scenarios or runs. Users: the `seccomp_export` workload
//! (`process/workload/seccomp_export.rs`), its step, and `lab affected`.

pub mod affected;
pub mod assess;
pub mod filter;
pub mod profile;

use std::path::PathBuf;

/// Why a profile could not be read, built or exported.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Not JSON, or a value of the wrong kind; `field` is the JSON path (`syscalls[3].op`).
    #[error("{}:{line}:{column}: {}{message}", path.display(), if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Json { path: PathBuf, line: usize, column: usize, field: String, message: String },
    #[error("{}: a config.json without linux.seccomp: the container has no seccomp filter, so no export pipe", path.display())]
    NoSeccomp { path: PathBuf },
    /// libseccomp refused part of the profile.
    #[error("{}{what}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Rejected { field: String, what: String },
    #[error("exporting the filter: {0}")]
    Export(std::io::Error),
    #[error("unknown kernel `{0}`: name one as 6.1, 5.10, 6.12 (major.minor)")]
    Kernel(String),
    #[error("unknown capability `{0}`")]
    Capability(String),
}
