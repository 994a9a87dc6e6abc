//! Workload `hold`: a container-like process that holds a file open (the GPU device a
//! container was given) until stdin closes.
//!
//! `hold --path P [--fd N]`: opens `P` read-only and, with `--fd`, moves it to descriptor
//! `N` (`dup2`); reports [`Report::Held`] and waits.

use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::MetadataExt;

use super::{flag, report, Report, WorkloadError};

/// `hold --path P [--fd N]`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let path = flag(args, "--path").ok_or_else(|| WorkloadError::Args("--path is required".into()))?;
    let want = match flag(args, "--fd") {
        None => None,
        Some(n) => Some(
            n.parse::<i32>().ok().filter(|n| *n > 2).ok_or_else(|| WorkloadError::Args(format!("--fd {n}: not a descriptor above 2")))?,
        ),
    };
    let file = std::fs::File::open(path).map_err(|e| WorkloadError::sys(format!("opening {path}"), e))?;
    let inode = file.metadata().map_err(|e| WorkloadError::sys(format!("stat of {path}"), e))?.ino();
    let fd = match want {
        Some(n) if n != file.as_raw_fd() => {
            // SAFETY: dup2 on a descriptor we own, to a number the caller chose for us.
            if unsafe { libc::dup2(file.as_raw_fd(), n) } < 0 {
                return Err(WorkloadError::sys(format!("dup2 to {n}"), std::io::Error::last_os_error()));
            }
            drop(file);
            n
        }
        _ => file.into_raw_fd(),
    };
    report(&Report::Held { fd, inode });
    let mut sink = [0u8; 64];
    while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
    Ok(())
}
