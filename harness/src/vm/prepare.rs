//! The first phase of every VM boot, shared by `lab run` and `lab shell`: the kernel (built,
//! cached or given), the machine to boot it on ([`super::machine`]), the `lab` the guest
//! runs ([`super::guest_binary`]) and the guest's kernel command line.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::artifacts::RunDir;
use super::error::VmError;
use super::kernel::{self, BuildProgress};
use super::machine::{self, MachinePlan};
use super::options::VmOptions;
use super::qemu::{self, GuestMode, GuestRequest};
use crate::event::{Event, EventSink, Level};
use crate::scenario::{Loaded, Variant};

/// A kernel to boot and what it was built from.
#[derive(Debug, Clone)]
pub struct KernelChoice {
    pub bzimage: PathBuf,
    /// The uncompressed kernel of a cached build, for `microvm`.
    pub vmlinux: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub patches: Vec<PathBuf>,
}

/// Everything a QEMU launch needs that does not depend on the accelerator.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub kernel: KernelChoice,
    /// The machine, and the image it boots (`kernel.bzimage` or `kernel.vmlinux`).
    pub machine: MachinePlan,
    /// The guest's kernel command line.
    pub append: String,
    pub cpus: u32,
    pub memory_mib: u32,
}

/// Gets the kernel and builds the command line for a guest in `mode`.
pub async fn prepare(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    mode: GuestMode,
    dir: &RunDir,
    events: &EventSink,
    stop: &CancellationToken,
) -> Result<Prepared, VmError> {
    let kernel = get_kernel(loaded, variant, opts, dir, events, stop).await?;
    let config = kernel.config.as_deref().and_then(|c| std::fs::read_to_string(c).ok()).unwrap_or_default();
    let machine = machine::choose(&kernel.bzimage, kernel.vmlinux.as_deref(), machine::no_pvh(&config), &machine::probe(&opts.qemu));
    events.note(Level::Info, format!("machine {}", machine.reason));
    let interactive = mode == GuestMode::Shell;
    let mut extra = machine.cmdline.clone();
    let debug = crate::scenario::debug::set_of(loaded.scenario.kernel.debug.iter().copied());
    extra.extend(debug.iter().flat_map(|k| k.cmdline()).map(|a| (*a).to_string()));
    extra.extend(loaded.scenario.kernel.cmdline.iter().cloned());
    let append = qemu::kernel_cmdline(&GuestRequest {
        mode,
        init: guest_lab(opts, events)?,
        scenario: std::fs::canonicalize(&loaded.path).map_err(|source| VmError::ScenarioFile { path: loaded.path.clone(), source })?,
        variant: variant.name.clone(),
        kernel: variant.kernel,
        term: if interactive { std::env::var("TERM").ok().filter(|t| !t.is_empty() && !t.contains(char::is_whitespace)) } else { None },
        winsize: if interactive { terminal_size() } else { None },
        extra,
    })?;
    Ok(Prepared { kernel, machine, append, cpus: loaded.scenario.kernel.cpus, memory_mib: loaded.scenario.kernel.memory_mib })
}

async fn get_kernel(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    dir: &RunDir,
    events: &EventSink,
    stop: &CancellationToken,
) -> Result<KernelChoice, VmError> {
    if let Some(bz) = &opts.kernel {
        return given_kernel(bz, variant, events);
    }
    let t0 = Instant::now();
    let req = kernel::request_for(loaded, variant);
    let missing = kernel::missing_files(&req);
    if !missing.is_empty() {
        return Err(VmError::MissingFiles { variant: variant.name.clone(), files: missing });
    }
    let built = build_in_thread(req.clone(), events.clone(), stop).await?;
    let _ = std::os::unix::fs::symlink(&built.log, dir.file("kernel-build.log"));
    if req.fuzz > 0 {
        events.note(
            Level::Warn,
            format!("patches applied with fuzz up to {} (kernel.fuzz or --fuzz): a hunk may sit elsewhere than its author meant", req.fuzz),
        );
    }
    for h in &built.hunks {
        events.note(Level::Warn, format!("patch not applied exactly: {h}"));
    }
    events.send(Event::KernelReady {
        key: built.key.clone(),
        bzimage: built.bzimage.display().to_string(),
        built: built.built,
        took_ms: t0.elapsed().as_millis() as u64,
        source: format!("linux-source-{} {}", req.base, built.source_version),
        fuzz: req.fuzz,
        hunks: built.hunks.iter().map(|h| h.to_string()).collect(),
        tolerated: built.config.tolerated.clone(),
    });
    Ok(KernelChoice { bzimage: built.bzimage, vmlinux: built.vmlinux, config: Some(built.config_file), patches: req.patches })
}

/// `--bzimage BZIMAGE`: booted as it is.
fn given_kernel(bz: &Path, variant: &Variant, events: &EventSink) -> Result<KernelChoice, VmError> {
    if !bz.is_file() {
        return Err(VmError::NoKernelFile(bz.to_path_buf()));
    }
    if !variant.patches.is_empty() {
        events.note(
            Level::Warn,
            format!("--bzimage: booting {} as it is; variant `{}`'s patches are not applied by lab", bz.display(), variant.name),
        );
    }
    events.send(Event::KernelReady {
        key: format!("--bzimage {}", bz.display()),
        bzimage: bz.display().to_string(),
        built: false,
        took_ms: 0,
        source: String::new(),
        fuzz: 0,
        hunks: Vec::new(),
        tolerated: Vec::new(),
    });
    Ok(KernelChoice { bzimage: bz.to_path_buf(), vmlinux: None, config: config_near(bz), patches: Vec::new() })
}

/// Builds on a plain thread, not `spawn_blocking`: on Ctrl-C the run returns at once, and
/// the runtime's shutdown does not wait for a build nobody wants any more.
async fn build_in_thread(req: kernel::KernelRequest, events: EventSink, stop: &CancellationToken) -> Result<kernel::BuiltKernel, VmError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kernel-build".into())
        .spawn(move || {
            // One event per phase and per percent compiled, not one per object file.
            let last_percent = AtomicU8::new(u8::MAX);
            let progress = move |p: BuildProgress| match p {
                BuildProgress::Phase(phase) => events.send(Event::KernelProgress { phase, percent: None }),
                BuildProgress::Compiled { done, estimate } => {
                    let percent = (done * 100 / estimate.max(1)).min(99) as u8;
                    if last_percent.swap(percent, Ordering::Relaxed) != percent {
                        events.send(Event::KernelProgress { phase: "compiling".into(), percent: Some(percent) });
                    }
                }
            };
            let _ = tx.send(kernel::ensure_built(&req, &progress));
        })
        .map_err(VmError::BuildThread)?;
    tokio::select! {
        b = rx => Ok(b.map_err(|_| VmError::BuildThreadDied)??),
        _ = stop.cancelled() => Err(VmError::InterruptedBuild),
    }
}

/// The `.config` of a kernel given with `--kernel`: next to it, or at the top of the build
/// tree it sits in (`arch/x86/boot/bzImage`).
fn config_near(bz: &Path) -> Option<PathBuf> {
    let dir = bz.parent()?;
    [dir.join(".config"), dir.join("config"), dir.join("../../../.config")].into_iter().find(|p| p.is_file())
}

/// The `lab` the guest runs as init: `--lab-binary` as it is, else a stripped copy of this
/// executable (this executable itself if the copy cannot be made, with a note).
fn guest_lab(opts: &VmOptions, events: &EventSink) -> Result<PathBuf, VmError> {
    let host = lab_binary(opts)?;
    if opts.lab_binary.is_some() {
        return Ok(host);
    }
    match super::guest_binary::stripped(&host, &kernel::cache_dir()) {
        Ok(p) => Ok(p),
        Err(e) => {
            events.note(Level::Warn, format!("the guest runs the unstripped {} (no stripped copy: {e})", host.display()));
            Ok(host)
        }
    }
}

/// The `lab` binary the guest runs as init: `--lab-binary`, else this executable.
fn lab_binary(opts: &VmOptions) -> Result<PathBuf, VmError> {
    let p = match &opts.lab_binary {
        Some(p) => p.clone(),
        None => {
            let exe = std::env::current_exe().map_err(|source| VmError::LabBinary { path: "(current executable)".into(), source })?;
            if !exe.is_file() {
                // Rebuilt under a long run (`lab verify`): the running image is still readable
                // here, and the guest gets a stripped copy of it.
                return Ok(PathBuf::from(format!("/proc/{}/exe", std::process::id())));
            }
            exe
        }
    };
    std::fs::canonicalize(&p).map_err(|source| VmError::LabBinary { path: p.clone(), source })
}

/// Columns and rows of the terminal on stdin, if it is one.
fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own.
    let r = unsafe { nix::libc::ioctl(0, nix::libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}
