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

/// A trial that needs root: ignored (with the reason in its name) when not root.
pub fn root_trial(name: &str, f: impl FnOnce() -> Result<(), Failed> + Send + 'static) -> Trial {
    let t = Trial::test(name, f);
    if is_root() {
        t
    } else {
        t.with_ignored_flag(true).with_kind("needs root")
    }
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
