//! Kernel builds from Debian's `linux-source-<version>` (5.10, 6.1, 6.12) with a variant's
//! patches and config fragments, cached by content outside the clone.
//!
//! Layout of the cache (`$LAB_CACHE`, default `/var/cache/lab`):
//! - `apt/`, `pkgs/`: the source packages of other Debian releases ([`crate::archive`]);
//! - `src/linux-source-<version>-<pkgversion>/`: the unpacked tree, patched in place;
//! - `obj/<version>-<pkgversion>-<cfg>/`: one object tree per merged config, shared by every
//!   variant with that config, so switching patches rebuilds only what they touch;
//! - `kernels/<key>/`: finished builds — `bzImage`, `vmlinux` (the uncompressed ELF, booted
//!   directly through its PVH entry on QEMU's `microvm`), `config`, `patches.txt`,
//!   `build.log` — keyed by source version + patch contents + merged config.

mod build;
mod kconfig;
mod patches;
mod request;
mod source;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

pub use kconfig::ConfigReport;
pub use patches::{HunkNote, Patch};
pub use request::{missing_files, request_for};

use crate::scenario::KernelVersion;

/// What to build.
#[derive(Debug, Clone)]
pub struct KernelRequest {
    /// `6.1`: Debian's `linux-source-6.1`.
    pub base: KernelVersion,
    /// Patch files in the order they apply.
    pub patches: Vec<PathBuf>,
    /// How far a hunk's context may be off; 0 applies every patch exactly.
    pub fuzz: u32,
    /// Kconfig fragments merged over tinyconfig, in order (`vm/config/base.config` first).
    pub fragments: Vec<PathBuf>,
    /// Options the scenario's steps need (`CONFIG_KPROBE_EVENTS`): a kernel without one
    /// fails its build, whatever the fragments tolerate.
    pub needs: Vec<String>,
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct BuiltKernel {
    pub bzimage: PathBuf,
    /// The uncompressed kernel, when the build kept it (builds from before it was kept do not).
    pub vmlinux: Option<PathBuf>,
    /// The merged `.config` it was built with.
    pub config_file: PathBuf,
    /// Content key: source version + patch contents + merged config.
    pub key: String,
    /// False when the cache already had it.
    pub built: bool,
    /// The build log (from the build that made it).
    pub log: PathBuf,
    pub took_ms: u64,
    /// Debian's version of the source package (`5.10.223-1`).
    pub source_version: String,
    /// Hunks that applied at an offset or with fuzz.
    pub hunks: Vec<HunkNote>,
    /// What the merged config left out on this kernel, and why that is tolerated.
    pub config: ConfigReport,
}

/// Build progress for a progress bar.
#[derive(Debug, Clone)]
pub enum BuildProgress {
    Phase(String),
    /// Kbuild steps done so far out of an estimate.
    Compiled {
        done: u64,
        estimate: u64,
    },
}

/// Why a kernel could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("kernel source {path} not found: install Debian's package with `apt-get install linux-source-{base}`")]
    MissingSource { base: String, path: PathBuf },
    #[error("linux-source-{kernel} could not be fetched from Debian {release}: {source}")]
    Fetch { kernel: KernelVersion, release: &'static str, source: crate::archive::ArchiveError },
    #[error("kernel {kernel}: the scenario needs {}, which did not stick ({})", missing.join(", "), detail.join("; "))]
    Needs { kernel: KernelVersion, missing: Vec<String>, detail: Vec<String> },
    #[error("patch {} does not apply: {detail}", patch.display())]
    PatchFailed { patch: PathBuf, detail: String },
    #[error("kernel {kernel} config: requested options did not stick (missing dependencies, or absent from this version: then list it as `# lab: absent-on {kernel}: CONFIG_X why` in the fragment): {}", not_stuck.join("; "))]
    Config { kernel: KernelVersion, not_stuck: Vec<String> },
    #[error("{tool}: {detail}")]
    Tool { tool: String, detail: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl KernelError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        KernelError::Io { path: path.to_path_buf(), source }
    }
}

/// `$LAB_CACHE`, else `/var/cache/lab`: outside the clone so later runs and CI reuse builds.
pub use patches::{describe_failure, touched_paths};

/// A file of the unpatched Debian source, `rel` to its top (`net/ipv4/route.c`), unpacking
/// the tree if needed. The shared tree may carry a series: a file it touched is read from
/// the copy saved before patching.
pub fn pristine_file(base: KernelVersion, rel: &str) -> Result<Option<Vec<u8>>, KernelError> {
    let cache = cache_dir();
    let src = source::unpacked(&cache, base, &source::locate(&cache, base)?)?;
    let saved = src.join(patches::ORIGINALS).join(rel);
    let path = if saved.is_file() { saved } else { src.join(rel) };
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KernelError::io(&path, e)),
    }
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("LAB_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/lab"))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Tools a build needs, checked up front so a missing one is named plainly.
const TOOLS: &[(&str, &str)] = &[
    ("make", "build-essential"),
    ("gcc", "build-essential"),
    ("patch", "patch"),
    ("flex", "flex"),
    ("bison", "bison"),
    ("bc", "bc"),
    ("tar", "tar"),
    ("xz", "xz-utils"),
];

fn check_tools() -> Result<(), KernelError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for (tool, package) in TOOLS {
        if !std::env::split_paths(&path).any(|d| d.join(tool).is_file()) {
            return Err(KernelError::Tool { tool: (*tool).into(), detail: format!("not installed: `apt-get install {package}`") });
        }
    }
    Ok(())
}

/// The content key of a build: source version, patch contents, merged config.
fn build_key(base: KernelVersion, version: &str, series: &[Patch], cfg_hash: &str) -> String {
    let mut keyed = format!("linux-source-{base} {version}\n");
    for p in series {
        keyed.push_str(&format!("patch {}\n", p.sha256));
    }
    keyed.push_str(&format!("config {cfg_hash}\n"));
    sha256_hex(keyed.as_bytes())
}

/// Moves a finished build from the object tree into `out` (through `staging`, so a build
/// killed half-way never looks finished): bzImage, vmlinux, config, the patch listing.
/// vmlinux is copied, not linked: the object tree is shared and the next variant's build
/// overwrites it.
fn store(obj: &Path, staging: &Path, out: &Path, series: &[Patch], notes: &Notes) -> Result<(), KernelError> {
    let copy = |from: &Path, to: &str| std::fs::copy(from, staging.join(to)).map_err(|e| KernelError::io(from, e));
    copy(&obj.join("arch/x86/boot/bzImage"), "bzImage")?;
    copy(&obj.join("vmlinux"), "vmlinux")?;
    copy(&obj.join(".config"), "config")?;
    let listing: String = series.iter().map(|p| format!("{}  {}\n", p.sha256, p.path.display())).collect();
    std::fs::write(staging.join("patches.txt"), listing).map_err(|e| KernelError::io(staging, e))?;
    let notes_file = staging.join(NOTES);
    std::fs::write(&notes_file, serde_json::to_vec_pretty(notes).expect("notes serialise")).map_err(|e| KernelError::io(&notes_file, e))?;
    let _ = std::fs::remove_dir_all(out);
    std::fs::rename(staging, out).map_err(|e| KernelError::io(out, e))
}

/// What a build says of itself beyond its files, kept beside them so a cached kernel says
/// the same: the source package version, the hunks not applied exactly, what the config
/// tolerated.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Notes {
    source_version: String,
    hunks: Vec<HunkNote>,
    config: ConfigReport,
}

const NOTES: &str = "lab-notes.json";

/// Builds the kernel for `req`, or returns the cached one. Blocking: call it from
/// `spawn_blocking`. Holds the build lock while it patches and builds.
pub fn ensure_built(req: &KernelRequest, progress: &(dyn Fn(BuildProgress) + Sync)) -> Result<BuiltKernel, KernelError> {
    let started = Instant::now();
    let Start { cache, source, series } = start(req)?;
    let version = source.version.clone();
    // The merged config is a function of source, patches and fragments: a request seen
    // before maps straight to its kernel, without touching the tree or running kconfig.
    let request_key = request_key(req, &version, &series)?;
    let remembered = cache.join("requests").join(&request_key);
    if let Some(found) = std::fs::read_to_string(&remembered).ok().and_then(|key| cached(&cache, key.trim(), started)) {
        return Ok(found);
    }
    let _lock = build_lock(&cache, req.base, progress)?;
    let Patched { src, config, notes } = patched_and_merged(&cache, req, &source, &series, progress)?;
    let cfg_hash = sha256_hex(config.as_bytes());

    let key = build_key(req.base, &version, &series, &cfg_hash);
    let out = cache.join("kernels").join(&key);
    let bzimage = out.join("bzImage");
    if let Some(found) = cached(&cache, &key, started) {
        remember(&remembered, &key)?;
        return Ok(found);
    }

    let obj = cache.join("obj").join(format!("{}-{version}-{}", req.base, &cfg_hash[..12]));
    std::fs::create_dir_all(&obj).map_err(|e| KernelError::io(&obj, e))?;
    // Rewrite .config only when it differs: an unchanged file keeps the tree incremental.
    let obj_config = obj.join(".config");
    if std::fs::read_to_string(&obj_config).ok().as_deref() != Some(config.as_str()) {
        std::fs::write(&obj_config, &config).map_err(|e| KernelError::io(&obj_config, e))?;
    }
    let staging = cache.join("kernels").join(format!(".{key}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| KernelError::io(&staging, e))?;
    let log_path = staging.join("build.log");
    let mut log = File::create(&log_path).map_err(|e| KernelError::io(&log_path, e))?;
    progress(BuildProgress::Phase(format!("building bzImage in {}", obj.display())));
    let estimate_file = obj.join(".lab-steps");
    let estimate = std::fs::read_to_string(&estimate_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1500);
    let steps = build::make_bzimage(&src, &obj, estimate, progress, &mut log).map_err(|e| match e {
        KernelError::Tool { tool, detail } => KernelError::Tool {
            tool,
            detail: format!("{detail} (full log: {})", cache.join("kernels").join(&key).join("build.log").display()),
        },
        e => e,
    });
    // Keep the log where the error message says it is, even on failure.
    if steps.is_err() {
        let failed = cache.join("kernels").join(&key);
        let _ = std::fs::create_dir_all(&failed);
        let _ = std::fs::copy(&log_path, failed.join("build.log"));
    }
    let steps = steps?;
    if steps > 100 {
        let _ = std::fs::write(&estimate_file, steps.to_string());
    }
    store(&obj, &staging, &out, &series, &notes)?;
    remember(&remembered, &key)?;
    Ok(BuiltKernel {
        bzimage,
        vmlinux: vmlinux_in(&out),
        config_file: out.join("config"),
        key,
        built: true,
        log: out.join("build.log"),
        took_ms: started.elapsed().as_millis() as u64,
        source_version: notes.source_version,
        hunks: notes.hunks,
        config: notes.config,
    })
}

/// The `.config` `req` would be built with (`lab kernel config`), without compiling: the
/// tree patched, the fragments merged over tinyconfig and checked to have stuck.
pub fn merged_config(req: &KernelRequest, progress: &(dyn Fn(BuildProgress) + Sync)) -> Result<MergedConfig, KernelError> {
    let Start { cache, source, series } = start(req)?;
    let _lock = build_lock(&cache, req.base, progress)?;
    let p = patched_and_merged(&cache, req, &source, &series, progress)?;
    Ok(MergedConfig { text: p.config, source_version: p.notes.source_version, hunks: p.notes.hunks, report: p.notes.config })
}

/// `lab kernel config`'s answer: the `.config`, and what was noted on the way to it.
#[derive(Debug, Clone)]
pub struct MergedConfig {
    pub text: String,
    pub source_version: String,
    pub hunks: Vec<HunkNote>,
    pub report: ConfigReport,
}

/// What a build and a config merge both start from, checked before the tree is touched.
struct Start {
    cache: PathBuf,
    /// The source tarball and Debian's `linux-source-<version>` package version.
    source: source::Source,
    series: Vec<Patch>,
}

fn start(req: &KernelRequest) -> Result<Start, KernelError> {
    let cache = cache_dir();
    check_tools()?;
    std::fs::create_dir_all(&cache).map_err(|e| KernelError::io(&cache, e))?;
    let source = source::locate(&cache, req.base)?;
    let series = req.patches.iter().map(|p| Patch::read(p)).collect::<Result<_, _>>()?;
    Ok(Start { cache, source, series })
}

/// The lock on the shared source tree, so two builds never mix patches.
fn build_lock(
    cache: &Path,
    base: KernelVersion,
    progress: &(dyn Fn(BuildProgress) + Sync),
) -> Result<nix::fcntl::Flock<File>, KernelError> {
    let lock_path = cache.join(format!("build-{base}.lock"));
    let lock = File::create(&lock_path).map_err(|e| KernelError::io(&lock_path, e))?;
    progress(BuildProgress::Phase("waiting for the kernel build lock".into()));
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| KernelError::io(&lock_path, e.into()))
}

/// The patched tree, its merged config, and what was noted on the way.
struct Patched {
    src: PathBuf,
    config: String,
    notes: Notes,
}

/// The source tree with `series` applied, and the merged config; the caller holds the lock.
fn patched_and_merged(
    cache: &Path,
    req: &KernelRequest,
    source: &source::Source,
    series: &[Patch],
    progress: &(dyn Fn(BuildProgress) + Sync),
) -> Result<Patched, KernelError> {
    progress(BuildProgress::Phase(format!("unpacking linux-source-{} {}", req.base, source.version)));
    let src = source::unpacked(cache, req.base, source)?;
    progress(BuildProgress::Phase(format!("applying patches (fuzz {})", req.fuzz)));
    let hunks = patches::apply_series(&src, series, req.fuzz)?;
    progress(BuildProgress::Phase("merging kernel config".into()));
    let scratch = tempfile::Builder::new().prefix(".kconfig-").tempdir_in(cache).map_err(|e| KernelError::io(cache, e))?;
    let mut scratch_log = File::create(scratch.path().join("log")).map_err(|e| KernelError::io(scratch.path(), e))?;
    let merge = kconfig::Merge { kernel: req.base, fragments: &req.fragments, needs: &req.needs };
    let (config, report) = kconfig::merge(&src, &scratch.path().join("o"), &merge, &mut scratch_log)?;
    Ok(Patched { src, config, notes: Notes { source_version: source.version.clone(), hunks, config: report } })
}

/// Hash of everything a build depends on as given: source, patch contents, the fuzz allowed,
/// fragment contents and the options required (a request that must fail never maps to a
/// kernel built under looser terms).
fn request_key(req: &KernelRequest, version: &str, series: &[Patch]) -> Result<String, KernelError> {
    let mut text = format!("linux-source-{} {version}\nfuzz {}\nneeds {}\n", req.base, req.fuzz, req.needs.join(","));
    for p in series {
        text.push_str(&format!("patch {}\n", p.sha256));
    }
    for f in &req.fragments {
        let bytes = std::fs::read(f).map_err(|e| KernelError::io(f, e))?;
        text.push_str(&format!("fragment {}\n", sha256_hex(&bytes)));
    }
    Ok(sha256_hex(text.as_bytes()))
}

/// The finished build with `key`, if the cache has it.
fn cached(cache: &Path, key: &str, started: Instant) -> Option<BuiltKernel> {
    let out = cache.join("kernels").join(key);
    let bzimage = out.join("bzImage");
    // A build from before the notes were kept is rebuilt, so no kernel goes unexplained.
    let notes: Notes = serde_json::from_slice(&std::fs::read(out.join(NOTES)).ok()?).ok()?;
    bzimage.is_file().then(|| BuiltKernel {
        bzimage,
        vmlinux: vmlinux_in(&out),
        config_file: out.join("config"),
        key: key.to_string(),
        built: false,
        log: out.join("build.log"),
        took_ms: started.elapsed().as_millis() as u64,
        source_version: notes.source_version,
        hunks: notes.hunks,
        config: notes.config,
    })
}

/// `out/vmlinux`, if this build kept it.
fn vmlinux_in(out: &Path) -> Option<PathBuf> {
    Some(out.join("vmlinux")).filter(|p| p.is_file())
}

fn remember(path: &Path, key: &str) -> Result<(), KernelError> {
    let dir = path.parent().expect("requests dir");
    std::fs::create_dir_all(dir).map_err(|e| KernelError::io(dir, e))?;
    std::fs::write(path, key).map_err(|e| KernelError::io(path, e))
}
