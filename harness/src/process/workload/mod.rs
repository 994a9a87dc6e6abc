//! Workloads: small programs that `lab` runs as separate processes — `lab` itself, re-executed
//! with the hidden first argument [`ARG`] — so that each has its own uid, capabilities and
//! pipe accounting, set by [`super::launch`] like any other program.
//!
//! A workload reports on its stdout, one JSON [`Report`] per line; `lab` reads them with
//! [`Workload::next`]. A workload dies with `lab` (parent-death signal, set again after
//! `execve`) and ends when its stdin closes.
//!
//! Kinds: `pipes` ([`pipes`]: hold pipes until the account is over its soft limit),
//! `kubelet` ([`kubelet`]: a listener and a reader of other processes' `/proc/<pid>/fd`),
//! `hold` ([`hold`]: a container-like process holding a file open), `fuse` ([`fuse`]: the
//! lab's own low-level FUSE daemon), `seccomp-export` ([`seccomp_export`]: runc init's
//! seccomp export pipe, with libseccomp).

pub mod fuse;
pub mod hold;
pub mod kubelet;
pub mod pipes;
pub mod seccomp_export;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use super::identity::Creds;
use super::ProcessError;

/// The first argument that makes `lab` a workload instead of the CLI.
pub const ARG: &str = "__lab_workload";

/// `lab` itself, for re-executing as a workload. Not `current_exe()`: in the guest the path
/// `lab` was started from can be hidden by the tmpfs mounted over `/tmp` (a clone under
/// `/tmp`, as CI's may be), while `/proc/self/exe` always opens the running binary.
pub const SELF_EXE: &str = "/proc/self/exe";

/// The environment variable that names the process a workload must die with.
const PARENT_ENV: &str = "LAB_WORKLOAD_PARENT";

/// One line a workload writes on its stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// `pipes`: holding `pipes` pipes, the last (`last_fd`) of `last_size` bytes.
    Holding { pipes: u32, first_size: u64, last_size: u64, last_fd: i32, bytes: u64 },
    /// `seccomp-export`: read this much back from the export pipe, and is done.
    Read { bytes: u64 },
    /// `kubelet`: listening on `port` (any address), socket at descriptor `fd`, inode `inode`.
    Listening { port: u16, fd: i32, inode: u64 },
    /// `kubelet`: one read of `/proc/<pid>/fd`: its descriptors and how many are sockets
    /// (cAdvisor's `container_file_descriptors`, `container_sockets`); `error` if it failed.
    Scan { pid: i32, fds: u32, sockets: u32, error: Option<String> },
    /// `hold`: holding the file at descriptor `fd`.
    Held { fd: i32, inode: u64 },
    /// `fuse`: the filesystem is mounted and served.
    Mounted { mountpoint: String },
    /// `seccomp-export`: the filter is built; its exported program has this size, and
    /// `unknown` names of the profile were skipped (libseccomp does not know them).
    Program { instructions: u64, bytes: u64, unknown: u32 },
    /// `seccomp-export`: the export pipe is made, both ends held by this process; the
    /// program is written into `write_fd` next, in one `write(2)`.
    ExportPipe { read_fd: i32, write_fd: i32, size: u64, caps: String },
    /// The workload could not do its job.
    Failed { message: String },
}

/// Why a workload could not do its job (said in its [`Report::Failed`]).
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// Bad arguments: a bug of the step that started it.
    #[error("{0}")]
    Args(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys { what: String, source: std::io::Error },
    /// `seccomp-export`: the profile could not be made into a filter.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// `pipes`: the account got full-size pipes up to the cap.
    #[error("{pipes} pipes taken and every one is {size} bytes: the account is privileged (CAP_SYS_RESOURCE or CAP_SYS_ADMIN) or fs.pipe-user-pages-soft is 0 (no limit) or above {pipes} pipes' worth")]
    NeverShrunk { pipes: u32, size: u64 },
}

impl WorkloadError {
    fn sys(what: impl Into<String>, source: std::io::Error) -> Self {
        WorkloadError::Sys { what: what.into(), source }
    }
}

/// Whether this process was started as a workload.
pub fn is_invocation() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == ARG)
}

/// A workload's `main`: runs the kind named by the second argument and exits.
pub fn main() -> ! {
    die_with_parent();
    let args: Vec<String> = std::env::args().skip(2).collect();
    let result = match args.first().map(String::as_str) {
        Some("pipes") => pipes::main(&args[1..]),
        Some("kubelet") => kubelet::main(&args[1..]),
        Some("hold") => hold::main(&args[1..]),
        Some("fuse") => fuse::main(&args[1..]),
        Some("seccomp-export") => seccomp_export::main(&args[1..]),
        other => Err(WorkloadError::Args(format!("unknown workload {other:?}"))),
    };
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            report(&Report::Failed { message: e.to_string() });
            std::process::exit(1)
        }
    }
}

/// Writes one report line on stdout.
pub fn report(r: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, r);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// SIGKILL when the parent that started us dies, even if `execve` cleared the signal; and
/// exit at once if it already has.
fn die_with_parent() {
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let want = std::env::var(PARENT_ENV).ok().and_then(|p| p.parse::<i32>().ok());
    if want.is_some_and(|p| p != nix::unistd::getppid().as_raw()) {
        std::process::exit(1);
    }
}

/// The arguments that start workload `kind` with `args` (for a program that is `lab`).
pub fn argv(kind: &str, args: &[String]) -> Vec<String> {
    let mut v = vec![ARG.to_string(), kind.to_string()];
    v.extend(args.iter().cloned());
    v
}

/// A running workload, seen from `lab`.
pub struct Workload {
    child: Child,
    pid: i32,
    lines: Lines<BufReader<ChildStdout>>,
    pub started: Instant,
}

impl Workload {
    /// Starts workload `kind` as `creds`, in the namespace at `netns` (absent: `lab`'s).
    pub fn spawn(kind: &str, args: &[String], creds: Creds, netns: Option<&Path>) -> Result<Workload, ProcessError> {
        let mut cmd = super::launch::command(Path::new(SELF_EXE), creds, netns)?;
        cmd.args(argv(kind, args)).env(PARENT_ENV, std::process::id().to_string());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn { what: format!("workload `{kind}`"), source })?;
        let pid = child.id().map_or(0, |p| p as i32);
        let stdout = child.stdout.take().ok_or_else(|| ProcessError::Protocol("no stdout".into()))?;
        Ok(Workload { child, pid, lines: BufReader::new(stdout).lines(), started: Instant::now() })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The next report; `Ok(None)` when the workload closed its stdout (it ended).
    pub async fn next(&mut self) -> Result<Option<Report>, ProcessError> {
        let line = self.lines.next_line().await.map_err(|source| ProcessError::Spawn { what: "reading a workload".into(), source })?;
        match line {
            None => Ok(None),
            Some(l) => serde_json::from_str(&l).map(Some).map_err(|e| ProcessError::Protocol(format!("`{l}`: {e}"))),
        }
    }

    /// Writes one line to the workload's stdin (its commands, for the kinds that take some).
    pub async fn send(&mut self, line: &str) -> Result<(), ProcessError> {
        use tokio::io::AsyncWriteExt;
        let stdin = self.child.stdin.as_mut().ok_or_else(|| ProcessError::Protocol("stdin is closed".into()))?;
        let wrote = stdin.write_all(format!("{line}\n").as_bytes()).await;
        wrote.map_err(|source| ProcessError::Spawn { what: "writing to a workload".into(), source })
    }

    /// Kills the workload (its children die with it) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Waits for the workload to end by itself; its exit status.
    pub async fn wait(mut self) -> Option<i32> {
        drop(self.child.stdin.take());
        self.child.wait().await.ok().and_then(|s| s.code())
    }
}

/// `--name value` from a workload's arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// `--name <number>`, or `default` when absent.
fn number_flag(args: &[String], name: &str, default: u64) -> Result<u64, WorkloadError> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| WorkloadError::Args(format!("{name} {v}: not a number"))),
    }
}

/// `F_GETPIPE_SZ` of a pipe end.
fn pipe_size(fd: &impl std::os::fd::AsRawFd) -> Result<u64, WorkloadError> {
    let size = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    if size < 0 {
        return Err(WorkloadError::sys("F_GETPIPE_SZ", std::io::Error::last_os_error()));
    }
    Ok(size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_one_json_line_each() {
        let r = Report::Holding { pipes: 17, first_size: 65536, last_size: 8192, last_fd: 19, bytes: 1056768 };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"report":"holding","pipes":17,"first_size":65536,"last_size":8192,"last_fd":19,"bytes":1056768}"#);
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), r);
        assert_eq!(argv("pipes", &["--max".into(), "9".into()]), ["__lab_workload", "pipes", "--max", "9"]);
        let args: Vec<String> = ["--bytes", "10"].iter().map(|s| s.to_string()).collect();
        assert_eq!(number_flag(&args, "--bytes", 1).unwrap(), 10);
        assert_eq!(number_flag(&args, "--max", 7).unwrap(), 7);
    }
}
