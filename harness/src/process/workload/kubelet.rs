//! Workload `kubelet`: one process that, like kubelet, listens on a port picked by the kernel
//! from `net.ipv4.ip_local_port_range` (its streaming server) and, like the cAdvisor inside
//! it, reads `/proc/<pid>/fd` of other processes periodically (the metrics
//! `container_file_descriptors` and `container_sockets`).
//!
//! `kubelet [--period-ms N] [--no-reader]`: reports [`Report::Listening`] once, then a
//! [`Report::Scan`] per process per period. The pids to read come on stdin, one `read <pid>`
//! line each, as the scenario starts them; stdin closing ends the workload. The reads run on
//! the main thread, so a tracer filtering on the process's pid sees them; stdin is read by a
//! second thread. `--no-reader` (the incident's workaround: those metrics off) listens only.

use std::io::BufRead;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{number_flag, report, Report, WorkloadError};

/// The process name (`comm`) the workload takes, for filters and `ps`.
pub const COMM: &str = "kubelet";

/// `kubelet [--period-ms N] [--no-reader]`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let period = Duration::from_millis(number_flag(args, "--period-ms", 1000)?);
    let reader = !args.iter().any(|a| a == "--no-reader");
    set_comm(COMM);
    let listener = TcpListener::bind("0.0.0.0:0").map_err(|e| WorkloadError::sys("listening on 0.0.0.0:0", e))?;
    let port = listener.local_addr().map_err(|e| WorkloadError::sys("getsockname", e))?.port();
    let fd = listener.as_raw_fd();
    let inode = std::fs::metadata(format!("/proc/self/fd/{fd}")).map_err(|e| WorkloadError::sys("stat of the socket", e))?.ino();
    report(&Report::Listening { port, fd, inode });
    let pids = Arc::new(Mutex::new(Vec::new()));
    let from_stdin = Arc::clone(&pids);
    std::thread::spawn(move || read_commands(&from_stdin));
    loop {
        std::thread::sleep(period);
        if !reader {
            continue;
        }
        let now: Vec<i32> = pids.lock().unwrap().clone();
        for pid in now {
            report(&scan(pid));
        }
        // The listener stays ours whatever happens to its descriptor: never accepted on, never
        // closed by us. Touch it so the compiler keeps it.
        let _ = &listener;
    }
}

/// `read <pid>` lines until stdin closes, then the workload ends.
fn read_commands(pids: &Mutex<Vec<i32>>) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(pid) = line.strip_prefix("read ").and_then(|p| p.trim().parse::<i32>().ok()) {
            pids.lock().unwrap().push(pid);
        }
    }
    std::process::exit(0);
}

/// One read of `/proc/<pid>/fd`, as cAdvisor does it: list, then read each link.
fn scan(pid: i32) -> Report {
    let dir = format!("/proc/{pid}/fd");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => return Report::Scan { pid, fds: 0, sockets: 0, error: Some(format!("{dir}: {e}")) },
    };
    let (mut fds, mut sockets, mut error) = (0, 0, None);
    for entry in entries {
        match entry {
            Ok(e) => {
                fds += 1;
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                sockets += u32::from(is_socket(&target.to_string_lossy()));
            }
            Err(e) => error = Some(format!("{dir}: {e}")),
        }
    }
    Report::Scan { pid, fds, sockets, error }
}

/// Whether a `/proc/<pid>/fd/N` link names a socket (`socket:[12345]`).
pub fn is_socket(link: &str) -> bool {
    link.starts_with("socket:[")
}

/// Sets this thread's name, which is the process's `comm` on the main thread.
fn set_comm(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_told_from_other_links() {
        assert!(is_socket("socket:[4242]"));
        assert!(!is_socket("/dev/lab-nvcap"));
        assert!(!is_socket("pipe:[12]"));
    }

    #[test]
    fn a_scan_of_this_process_counts_its_sockets() {
        let _l = TcpListener::bind("127.0.0.1:0").unwrap();
        let Report::Scan { fds, sockets, error, .. } = scan(std::process::id() as i32) else { panic!() };
        assert!(error.is_none(), "{error:?}");
        assert!(sockets >= 1 && fds > sockets, "{fds} fds, {sockets} sockets");
    }
}
