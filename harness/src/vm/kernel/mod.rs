//! Kernel builds from Debian's `linux-source-<base>` with a variant's patches and config
//! fragments, cached by content outside the clone.
//!
//! STUB: the interface the rest of `lab` calls; the implementation lands with the kernel
//! build work.

use std::path::{Path, PathBuf};

/// What to build.
#[derive(Debug, Clone)]
pub struct KernelRequest {
    /// `6.1`: Debian's `linux-source-6.1`.
    pub base: String,
    /// Patch files in the order they apply.
    pub patches: Vec<PathBuf>,
    /// Kconfig fragments merged over tinyconfig, in order (`vm/config/base.config` first).
    pub fragments: Vec<PathBuf>,
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct BuiltKernel {
    pub bzimage: PathBuf,
    /// The merged `.config` it was built with.
    pub config: PathBuf,
    /// Content key: source version + patch contents + merged config.
    pub key: String,
    /// False when the cache already had it.
    pub built: bool,
}

/// Build progress for a progress bar.
#[derive(Debug, Clone)]
pub enum BuildProgress {
    Phase(String),
    /// Objects compiled so far out of an estimate.
    Compiled { done: u64, estimate: u64 },
}

/// Why a kernel could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{0}")]
    Other(String),
}

/// `$LAB_CACHE`, else `/var/cache/lab`: outside the clone so later runs and CI reuse builds.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LAB_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/lab"))
}

/// Builds the kernel for `req`, or returns the cached one. The full build log goes to `log`.
pub async fn ensure_built(_req: &KernelRequest, _progress: &(dyn Fn(BuildProgress) + Sync), _log: &Path) -> Result<BuiltKernel, KernelError> {
    Err(KernelError::Other("kernel builds are not implemented yet".into()))
}
