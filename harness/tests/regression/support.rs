//! Shared helpers: the `lab` binary, root checks, scenario paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Failed, Trial};

/// The `lab` binary cargo built for this test run.
pub fn lab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lab"));
    c.current_dir(repo());
    c
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repo root")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The environment variable that explicitly skips trials that cannot run here.
pub const SKIP_UNAVAILABLE: &str = "LAB_TEST_SKIP_UNAVAILABLE";

/// A trial that can run only where `why` is `None`. Where it cannot, it fails with the
/// reason — a suite that passes without running is a lie — unless `LAB_TEST_SKIP_UNAVAILABLE=1`
/// explicitly skips it: then it is ignored with the reason as its kind (`--ignored` runs it,
/// and it fails). CI never sets it.
pub fn gated(name: impl Into<String>, why: Option<String>, f: impl FnOnce() -> Result<(), Failed> + Send + 'static) -> Trial {
    let name = name.into();
    match why {
        None => Trial::test(name, f),
        Some(why) if std::env::var_os(SKIP_UNAVAILABLE).is_some_and(|v| v == "1") => {
            let kind = why.clone();
            Trial::test(name, move || Err(format!("cannot run here: {why}").into())).with_ignored_flag(true).with_kind(kind)
        }
        Some(why) => Trial::test(name, move || Err(format!("cannot run here: {why} ({SKIP_UNAVAILABLE}=1 skips such trials)").into())),
    }
}

/// A trial that needs root: fails with the reason when not root (see [`gated`]).
pub fn root_trial(name: &str, f: impl FnOnce() -> Result<(), Failed> + Send + 'static) -> Trial {
    gated(name, (!is_root()).then(|| "needs root".to_string()), f)
}

/// stdout + stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Fails with `msg` and the command output unless `cond` holds.
pub fn ensure(cond: bool, msg: &str, out: &Output) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(format!("{msg}\n--- output (exit {:?}) ---\n{}", out.status.code(), text(out)).into())
    }
}

/// Namespaces in /run/netns whose name carries a lab run id.
pub fn lab_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lab") && n.contains('-'))
        .collect()
}

/// Host runs change global sysctls (and restore them): run them one at a time so one run
/// never records another's value as the original.
pub fn host_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A sysctl of the initial namespace, as text.
pub fn sysctl(key: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(key.replace('.', "/"))).unwrap_or_default().trim().to_string()
}

/// `lab` for a `--host` run: `$LAB_ACCEL` (set for the VM trials) conflicts with `--host`.
pub fn host_lab() -> Command {
    let mut c = lab();
    c.env_remove("LAB_ACCEL");
    c
}

/// Polls `left` until it is empty or `within` has passed; what is left. For processes a
/// run's teardown kills: their exit is the kernel's to report, and there is no event for it.
pub fn gone<T>(within: std::time::Duration, left: impl Fn() -> Vec<T>) -> Vec<T> {
    let until = std::time::Instant::now() + within;
    loop {
        let now = left();
        if now.is_empty() || std::time::Instant::now() >= until {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
