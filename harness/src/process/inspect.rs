//! A process as `/proc` shows it to root: its state (`/proc/PID/stat`), where it sleeps
//! (`/proc/PID/wchan`), its kernel stack and the system call it is in.
//!
//! Read by `lab`, never by the workload: after `setuid` a process is not dumpable, and its
//! unprivileged parent reads `wchan` as `0` and `syscall` as EACCES.

use std::os::fd::AsRawFd;

/// One look at a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// `R`, `S`, `D`, `T`, `Z`, ...
    pub state: char,
    /// The kernel function it sleeps in (`pipe_write`), or `0` when it runs.
    pub wchan: String,
}

/// The state letter of a `/proc/PID/stat` line: the field after the command name, which is
/// in parentheses and may itself contain spaces and parentheses.
pub fn parse_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// The state and wait channel of `pid`; `None` once it is gone (or a zombie).
pub fn sample(pid: i32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = parse_state(&stat)?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default().trim().to_string();
    Some(Sample { state, wchan: if wchan.is_empty() { "0".into() } else { wchan } })
}

/// The kernel stack of `pid` (`pipe_write+0x385/0x6a0`, ...), at most `max` frames.
pub fn stack(pid: i32, max: usize) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stack")).unwrap_or_default();
    // Each line reads `[<0>] pipe_write+0x385/0x6a0`.
    text.lines().take(max).map(|l| l.split_once("] ").map_or(l, |(_, f)| f).trim().to_string()).collect()
}

/// `/proc/PID/syscall`: the call number and arguments of the system call it blocks in.
pub fn syscall(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok().map(|s| s.trim().to_string())
}

/// The size of the pipe at `/proc/PID/fd/FD` (`F_GETPIPE_SZ`), read through a descriptor of
/// `lab`'s own; `None` when the process or the descriptor is gone or is not a pipe.
pub fn pipe_size(pid: i32, fd: i32) -> Option<u64> {
    let f = open_pipe(pid, fd)?;
    let size = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETPIPE_SZ) };
    (size > 0).then_some(size as u64)
}

/// Bytes waiting in that pipe (`FIONREAD`).
pub fn pipe_queued(pid: i32, fd: i32) -> Option<u64> {
    let f = open_pipe(pid, fd)?;
    let mut n: libc::c_int = 0;
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut n) };
    (rc == 0).then_some(n as u64)
}

/// Opens the pipe at `/proc/PID/fd/FD` for reading without blocking: a new reader of the
/// same pipe, the way an operator drains a stuck one.
pub fn open_pipe(pid: i32, fd: i32) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(format!("/proc/{pid}/fd/{fd}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_last_parenthesis() {
        assert_eq!(parse_state("123 (lab) S 1 123 123 0"), Some('S'));
        assert_eq!(parse_state("123 (a) b) (c) D 1 2"), Some('D'));
        assert_eq!(parse_state("garbage"), None);
    }

    #[test]
    fn own_process_is_seen_and_its_pipes_measured() {
        let me = std::process::id() as i32;
        let s = sample(me).unwrap();
        assert!(matches!(s.state, 'R' | 'S'), "{s:?}");
        let (r, w) = nix::unistd::pipe().unwrap();
        let size = pipe_size(me, r.as_raw_fd()).unwrap();
        assert!(size >= 4096, "{size}");
        nix::unistd::write(&w, b"abc").unwrap();
        assert_eq!(pipe_queued(me, r.as_raw_fd()), Some(3));
        assert_eq!(pipe_size(me, 9999), None);
        assert_eq!(sample(i32::MAX), None);
    }
}
