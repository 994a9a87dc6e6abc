//! Workloads `bootstrap` and `write`: runc's bootstrap pipe, as a parent and its child.
//!
//! `bootstrap --mode M --bytes N` makes a fresh pipe (so it gets whatever size the kernel
//! gives this account now), starts `write --bytes N` with the pipe's write end as its
//! stdout, and reads the read end:
//! - `read-after-exit` (runc 1.0.0-rc): waits for the child to exit, then reads. A payload
//!   larger than the pipe blocks the child in `pipe_write` for as long as nobody drains it.
//! - `concurrent-read` (runc >= 1.1.1): reads while the child writes, then reaps it.
//!
//! Reports: [`Report::Pipe`], [`Report::Writer`], [`Report::Exited`], [`Report::Read`].

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::fcntl::OFlag;

use super::{flag, number_flag, pipe_size, report, Report, WorkloadError, ARG, PARENT_ENV};

/// The two protocols of a bootstrap pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadAfterExit,
    ConcurrentRead,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadAfterExit => "read-after-exit",
            Mode::ConcurrentRead => "concurrent-read",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        [Mode::ReadAfterExit, Mode::ConcurrentRead].into_iter().find(|m| m.as_str() == s)
    }
}

/// `bootstrap --mode read-after-exit|concurrent-read --bytes N`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let mode = flag(args, "--mode")
        .and_then(Mode::parse)
        .ok_or_else(|| WorkloadError::Args("--mode read-after-exit|concurrent-read is required".into()))?;
    let bytes = number_flag(args, "--bytes", 65536)?;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| WorkloadError::sys("pipe2()", e.into()))?;
    report(&Report::Pipe { fd: r.as_raw_fd(), size: pipe_size(&r)? });
    let started = Instant::now();
    let mut child = spawn_writer(w, bytes)?;
    report(&Report::Writer { pid: child.id() as i32 });
    let mut reader = std::fs::File::from(r);
    let read = match mode {
        Mode::ReadAfterExit => {
            let status = child.wait().map_err(|e| WorkloadError::sys("waiting for the writer", e))?;
            exited(status, started);
            drain(&mut reader)?
        }
        Mode::ConcurrentRead => {
            let n = drain(&mut reader)?;
            let status = child.wait().map_err(|e| WorkloadError::sys("waiting for the writer", e))?;
            exited(status, started);
            n
        }
    };
    report(&Report::Read { bytes: read });
    Ok(())
}

/// Starts `lab __lab_workload write --bytes N` with `w` as its stdout; `w` is closed here.
fn spawn_writer(w: OwnedFd, bytes: u64) -> Result<std::process::Child, WorkloadError> {
    let mut cmd = Command::new(super::SELF_EXE);
    cmd.args([ARG, "write", "--bytes", &bytes.to_string()])
        .env(PARENT_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::inherit());
    let child = cmd.spawn().map_err(|e| WorkloadError::sys("starting the writer", e))?;
    // Dropping the command closes our copy of the write end: EOF comes when the child exits.
    drop(cmd);
    Ok(child)
}

fn exited(status: std::process::ExitStatus, started: Instant) {
    let runtime_ms = started.elapsed().as_millis() as u64;
    report(&Report::Exited { code: status.code(), signal: status.signal(), runtime_ms });
}

/// Reads until end of file; the number of bytes.
fn drain(reader: &mut std::fs::File) -> Result<u64, WorkloadError> {
    std::io::copy(reader, &mut std::io::sink()).map_err(|e| WorkloadError::sys("reading the bootstrap pipe", e))
}

/// `write --bytes N`: the child. Writes N bytes on stdout (the bootstrap pipe) and exits.
pub fn write_main(args: &[String]) -> Result<(), WorkloadError> {
    let bytes = number_flag(args, "--bytes", 65536)? as usize;
    let payload = vec![b'b'; bytes];
    // One write(2) of the whole payload, as runc's bootstrap data went: it blocks in
    // pipe_write until a reader makes room.
    // SAFETY: fd 1 is ours for the rest of the process's life; std's stdout is never used.
    let mut out = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(1) };
    out.write_all(&payload).map_err(|e| WorkloadError::sys("writing the bootstrap payload", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [Mode::ReadAfterExit, Mode::ConcurrentRead] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("later"), None);
    }
}
