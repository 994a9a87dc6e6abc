//! Workload `pipes`: take pipes as this process's account until the kernel hands out a
//! shrunk one — the account is then over `fs.pipe-user-pages-soft` — report, and hold them
//! until stdin closes or the process is killed.
//!
//! Only the read end of each pipe is kept: one descriptor per pipe, and the pipe's pages
//! stay charged to the account as long as either end is open.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{number_flag, pipe_size, report, Report, WorkloadError};

/// Pipes taken at most when `--max` is not given.
pub const DEFAULT_MAX: u64 = 4096;

/// `pipes [--max N]`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let max = number_flag(args, "--max", DEFAULT_MAX)? as u32;
    raise_fd_limit();
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    // A pipe gets PIPE_DEF_BUFFERS (16) pages unless its account is over the soft limit.
    let full = 16 * page;
    let mut held: Vec<OwnedFd> = Vec::new();
    let (mut first, mut last, mut bytes) = (0, 0, 0);
    while last == 0 || last >= full {
        if held.len() as u32 >= max {
            return Err(WorkloadError::NeverShrunk { pipes: max, size: last });
        }
        let (r, w) = nix::unistd::pipe().map_err(|e| WorkloadError::sys(format!("pipe() number {}", held.len() + 1), e.into()))?;
        drop(w);
        last = pipe_size(&r)?;
        if first == 0 {
            first = last;
        }
        bytes += last;
        held.push(r);
    }
    let last_fd = held.last().map_or(-1, |f| f.as_raw_fd());
    report(&Report::Holding { pipes: held.len() as u32, first_size: first, last_size: last, last_fd, bytes });
    // Hold until `lab` closes our stdin (or kills us).
    let mut sink = [0u8; 64];
    while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
    drop(held);
    Ok(())
}

/// Two descriptors per pipe would hit the usual soft limit of 1024 at 512 pipes; one per
/// pipe and the hard limit leave room for the default soft limit's 1024 pipes.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
