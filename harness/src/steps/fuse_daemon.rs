//! `fuse_daemon` — a FUSE daemon as its own process, mounted on a path of the run's scratch
//! directory, held until the step is stopped; it can be SIGKILLed (`kill`, the OOM killer)
//! and another one started on the same mountpoint (a restart).
//!
//! Two daemons: Debian's `fuse2fs` (libfuse2, high-level API: one node id per path; an ext2
//! image made with `mke2fs`) for what a *dead* daemon leaves, and `lab` — the lab's own
//! low-level passthrough on the `fuser` crate ([`crate::process::workload::fuse`]), whose node
//! ids follow the source's inodes — for what a *live* daemon does when the server side
//! recreates a directory. The step is ready when the new FUSE mount shows in mountinfo and
//! the `dirs` exist through it. Unmounting is teardown's (everything under the scratch
//! directory is detached).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::exec::{find_program, search_dirs};
use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::workload;
use crate::process::Creds;
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::scratch;
use crate::scenario::HumanDuration;
use crate::sys::mount;

/// ```yaml
/// fuse_daemon:
///   daemon: fuse2fs              # fuse2fs (Debian's, ext2 image) | lab (own, passthrough)
///   mountpoint: mnt              # in the run's scratch directory, made if missing
///   image: fs.img                # fuse2fs: the ext2 image, made if missing (size_mib)
///   size_mib: 16
///   source: src                  # lab: the directory served, made if missing
///   dirs: [vol]                  # made through the mount once it is up, if missing
///   entry_timeout: 1s            # FUSE entry and attribute timeouts (default 1 s)
///   attr_timeout: 1s
///   default_permissions: false   # the kernel checks permissions (no revalidation first)
///   nonempty: false              # fuse2fs (libfuse2): mount over a non-empty mountpoint
///   detach_first: false          # lazily unmount what is at the mountpoint first (a dead
///                                # FUSE mount: libfuse cannot stat it, ENOTCONN)
///   allow_other: false
///   timeout: 20s                 # for the mount to appear
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub daemon: Daemon,
    pub mountpoint: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default = "default_size")]
    pub size_mib: u32,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub dirs: Vec<String>,
    #[serde(default = "one_second")]
    pub entry_timeout: HumanDuration,
    #[serde(default = "one_second")]
    pub attr_timeout: HumanDuration,
    #[serde(default)]
    pub default_permissions: bool,
    #[serde(default)]
    pub nonempty: bool,
    #[serde(default)]
    pub allow_other: bool,
    #[serde(default)]
    pub detach_first: bool,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Daemon {
    Fuse2fs,
    Lab,
}

fn default_size() -> u32 {
    16
}
fn one_second() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(20))
}

impl Step for Spec {
    /// The daemon mounts a FUSE filesystem.
    fn kconfig(&self) -> &'static [&'static str] {
        &["CONFIG_FUSE_FS"]
    }

    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        let mut out: Vec<Problem> = scratch::problem("mountpoint", &self.mountpoint).into_iter().collect();
        for (i, d) in self.dirs.iter().enumerate() {
            out.extend(scratch::problem(&format!("dirs[{i}]"), d));
        }
        match (self.daemon, &self.image, &self.source) {
            (Daemon::Fuse2fs, None, _) => out.push(Problem::new("image", "fuse2fs serves an ext2 image: give its path, like fs.img")),
            (Daemon::Fuse2fs, Some(i), _) => out.extend(scratch::problem("image", i)),
            (Daemon::Lab, _, None) => out.push(Problem::new("source", "the lab daemon serves a directory: give its path, like src")),
            (Daemon::Lab, _, Some(s)) => out.extend(scratch::problem("source", s)),
        }
        if self.nonempty && self.daemon == Daemon::Lab {
            out.push(Problem::new("nonempty", "the lab daemon mounts over anything; nonempty is fuse2fs's (libfuse2) option"));
        }
        if !(1..=4096).contains(&self.size_mib) {
            out.push(Problem::new("size_mib", format!("{} MiB is out of range 1..=4096", self.size_mib)));
        }
        out
    }

    fn check_host(&self) -> Vec<Problem> {
        let dirs = search_dirs();
        let missing = |p: &str, pkg: &str| {
            find_program(p, &dirs)
                .is_none()
                .then(|| Problem::new("daemon", format!("`{p}` is not on this host (Debian: apt-get install {pkg})")))
        };
        match self.daemon {
            Daemon::Fuse2fs => [missing("fuse2fs", "fuse2fs"), missing("mke2fs", "e2fsprogs")].into_iter().flatten().collect(),
            Daemon::Lab => Vec::new(),
        }
    }

    fn waits_until_ready(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            if !ctx.background {
                return Err(StepError::Unmet("fuse_daemon holds its daemon until stopped: give it `background: true`".into()));
            }
            let dir = ctx.env.ledger.scratch_dir().map_err(|e| StepError::io("making the run's scratch directory", e))?;
            let mp = dir.join(&self.mountpoint);
            if self.detach_first {
                let (_, problems) = mount::detach_under(&mp);
                if let Some(p) = problems.first() {
                    return Err(StepError::Unmet(p.clone()));
                }
            }
            // A dead FUSE mount may already be here (a restart): then the directory exists.
            let _ = std::fs::create_dir_all(&mp);
            let mut cmd = self.command(&dir, &mp).await?;
            let before = fuse_mounts_at(&mp);
            let mut child = cmd.spawn().map_err(|e| StepError::io(format!("starting {}", self.name()), e))?;
            let started = Instant::now();
            let pid = child.id().map_or(0, |p| p as i32);
            let said = collect_output(&mut child);
            if let Some(id) = &ctx.id {
                ctx.env.procs.process(id, pid, &format!("{} daemon", self.name()));
            }
            let mounted = self.wait_mounted(ctx, &mut child, &mp, before, &said).await;
            if let Err(e) = mounted {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(e);
            }
            for d in &self.dirs {
                let path = mp.join(d);
                if let Err(e) = std::fs::create_dir_all(&path) {
                    let _ = child.start_kill();
                    return Err(StepError::io(format!("making {} through the mount", path.display()), e));
                }
            }
            let text = format!("{} (pid {pid}) mounted {} in {:.2} s", self.name(), self.mountpoint, started.elapsed().as_secs_f64());
            ctx.ready(text.clone());
            let status = tokio::select! {
                s = child.wait() => s.ok(),
                _ = ctx.cancel.cancelled() => None,
            };
            let ended = match status {
                Some(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    if let Some(id) = &ctx.id {
                        ctx.env.procs.exited(id, s.code(), s.signal(), started.elapsed());
                    }
                    crate::process::registry::ended(s.code(), s.signal())
                }
                None => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    "stopped".to_string()
                }
            };
            let output = said.lock().unwrap().clone();
            Ok(StepSummary::text(format!("{text}; the daemon {ended}")).with_output(output))
        }
        .boxed()
    }
}

impl Spec {
    fn name(&self) -> &'static str {
        match self.daemon {
            Daemon::Fuse2fs => "fuse2fs",
            Daemon::Lab => "lab fuse daemon",
        }
    }

    /// The daemon's command line, in the foreground; makes its image or source first.
    async fn command(&self, dir: &Path, mp: &Path) -> Result<tokio::process::Command, StepError> {
        let mut cmd = match self.daemon {
            Daemon::Fuse2fs => {
                let image = dir.join(self.image.as_deref().unwrap_or_default());
                make_image(&image, self.size_mib).await?;
                let program = find_program("fuse2fs", &search_dirs())
                    .ok_or_else(|| StepError::Unmet("fuse2fs is not installed (Debian: apt-get install fuse2fs)".into()))?;
                let mut c = crate::process::launch::command(program, Creds::default(), None)?;
                c.arg(&image).arg(mp).arg("-f").arg("-o").arg(fuse2fs_options(self));
                c
            }
            Daemon::Lab => {
                let source = dir.join(self.source.as_deref().unwrap_or_default());
                std::fs::create_dir_all(&source).map_err(|e| StepError::io(format!("making {}", source.display()), e))?;
                let mut c = crate::process::launch::command(workload::SELF_EXE, Creds::default(), None)?;
                c.args(workload::argv("fuse", &lab_args(self, &source, mp)));
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        Ok(cmd)
    }

    /// Until the mount count at `mp` grows; fails when the daemon exits first or time runs out.
    async fn wait_mounted(
        &self,
        ctx: &StepCtx<'_>,
        child: &mut tokio::process::Child,
        mp: &Path,
        before: usize,
        said: &Arc<Mutex<String>>,
    ) -> Result<(), StepError> {
        let until = Instant::now() + self.timeout.0;
        loop {
            if fuse_mounts_at(mp) > before {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(StepError::Unmet(format!("{} did not mount {} within {:?}", self.name(), mp.display(), self.timeout.0)));
            }
            tokio::select! {
                s = child.wait() => {
                    // Give the output readers a moment to drain what it said last.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let s = s.map(|s| s.to_string()).unwrap_or_default();
                    return Err(StepError::Unmet(format!("{} ended before mounting ({s}): {}", self.name(), said.lock().unwrap().trim())));
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
            }
        }
    }
}

/// `-o` of fuse2fs: the timeouts and the flags asked for.
pub fn fuse2fs_options(spec: &Spec) -> String {
    let mut o = vec![
        format!("entry_timeout={}", spec.entry_timeout.0.as_secs_f64()),
        format!("attr_timeout={}", spec.attr_timeout.0.as_secs_f64()),
    ];
    for (on, name) in [(spec.default_permissions, "default_permissions"), (spec.nonempty, "nonempty"), (spec.allow_other, "allow_other")] {
        if on {
            o.push(name.to_string());
        }
    }
    o.join(",")
}

/// The arguments of workload `fuse`.
pub fn lab_args(spec: &Spec, source: &Path, mp: &Path) -> Vec<String> {
    let mut a = vec![
        "--source".to_string(),
        source.display().to_string(),
        "--mountpoint".into(),
        mp.display().to_string(),
        "--entry-timeout-ms".into(),
        spec.entry_timeout.0.as_millis().to_string(),
        "--attr-timeout-ms".into(),
        spec.attr_timeout.0.as_millis().to_string(),
    ];
    if spec.default_permissions {
        a.push("--default-permissions".into());
    }
    if spec.allow_other {
        a.push("--allow-other".into());
    }
    a
}

/// FUSE mounts at `mp` now (a restart stacks one on the dead one).
fn fuse_mounts_at(mp: &Path) -> usize {
    let mp = mp.display().to_string();
    mount::entries().unwrap_or_default().iter().filter(|e| e.mount_point == mp && e.fstype.starts_with("fuse")).count()
}

/// An ext2 image of `size_mib` MiB, unless one is there (a restart serves the same image).
async fn make_image(image: &PathBuf, size_mib: u32) -> Result<(), StepError> {
    if image.exists() {
        return Ok(());
    }
    let mke2fs = find_program("mke2fs", &search_dirs()).ok_or_else(|| StepError::Unmet("mke2fs is not installed (e2fsprogs)".into()))?;
    let out = tokio::process::Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext2"])
        .arg(image)
        .arg(format!("{size_mib}M"))
        .output()
        .await
        .map_err(|e| StepError::io("running mke2fs", e))?;
    if !out.status.success() {
        return Err(StepError::Unmet(format!("mke2fs {}: {}", image.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

/// What the daemon writes on stdout and stderr, kept for the report.
fn collect_output(child: &mut tokio::process::Child) -> Arc<Mutex<String>> {
    let said = Arc::new(Mutex::new(String::new()));
    let out = child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let err = child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    for mut stream in [out, err].into_iter().flatten() {
        let said = said.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                said.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn options_reach_each_daemon_in_its_own_words() {
        let s = spec("{ daemon: fuse2fs, mountpoint: mnt, image: fs.img, default_permissions: true, nonempty: true }");
        assert_eq!(fuse2fs_options(&s), "entry_timeout=1,attr_timeout=1,default_permissions,nonempty");
        let l = spec("{ daemon: lab, mountpoint: mnt, source: src, entry_timeout: 500ms }");
        let a = lab_args(&l, Path::new("/s"), Path::new("/m"));
        assert_eq!(a.join(" "), "--source /s --mountpoint /m --entry-timeout-ms 500 --attr-timeout-ms 1000");
    }

    #[test]
    fn each_daemon_needs_what_it_serves_and_paths_stay_in_scratch() {
        let scope = CheckScope::default();
        assert!(spec("{ daemon: fuse2fs, mountpoint: mnt, image: fs.img, dirs: [vol] }").check(&scope).is_empty());
        let fields = |y: &str| spec(y).check(&scope).into_iter().map(|p| p.field).collect::<Vec<_>>();
        assert_eq!(fields("{ daemon: fuse2fs, mountpoint: /mnt }"), ["mountpoint", "image"]);
        assert_eq!(fields("{ daemon: lab, mountpoint: mnt, nonempty: true, dirs: [../x] }"), ["dirs[0]", "source", "nonempty"]);
    }
}
