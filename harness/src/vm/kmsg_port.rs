//! The guest's whole kernel log, every level, copied to the virtio-serial port
//! [`super::qemu::KMSG_PORT`], which QEMU writes to `kmsg.log` in the run directory.
//!
//! The console shows only records under `loglevel`; a debug patch's markers (the evidence
//! that a race was exercised) are often below it. This copier reads `/dev/kmsg` from the
//! first record the ring still holds and writes each as `<prio>[sec.usec] text` — the
//! format of `dmesg -r`. [`KmsgCopier::finish`] drains what is left before power-off.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::channel::{find_port, VIRTIO_PORTS};
use super::qemu::KMSG_PORT;

/// How often the copier looks at its stop flag while the log is quiet.
const POLL_MS: u16 = 100;

/// One `/dev/kmsg` record as a `dmesg -r` line: `<6>[    1.234567] text\n`. Continuation
/// lines (`KEY=value`) are left out; escaped bytes stay escaped, so one record is one line.
pub fn format_record(record: &str) -> Option<String> {
    let (head, rest) = record.split_once(';')?;
    let mut fields = head.split(',');
    let prio: u32 = fields.next()?.parse().ok()?;
    let us: u64 = fields.nth(1)?.parse().ok()?;
    let text = rest.lines().next().unwrap_or_default();
    Some(format!("<{prio}>[{:>5}.{:06}] {text}\n", us / 1_000_000, us % 1_000_000))
}

/// Why the copier could not start.
#[derive(Debug, thiserror::Error)]
pub enum KmsgPortError {
    #[error("no virtio-serial port named {KMSG_PORT} under {VIRTIO_PORTS}")]
    NoPort,
    #[error("{what}: {source}")]
    Open { what: String, source: io::Error },
}

/// The running copier thread.
pub struct KmsgCopier {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl KmsgCopier {
    /// Opens the port and `/dev/kmsg` (non-blocking, from its oldest record) and starts
    /// copying.
    pub fn start() -> Result<KmsgCopier, KmsgPortError> {
        let port_path = find_port(Path::new(VIRTIO_PORTS), KMSG_PORT).ok_or(KmsgPortError::NoPort)?;
        let open_err = |what: &Path| {
            let what = what.display().to_string();
            move |source| KmsgPortError::Open { what, source }
        };
        let port = OpenOptions::new().write(true).open(&port_path).map_err(open_err(&port_path))?;
        let kmsg =
            OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").map_err(open_err(Path::new("/dev/kmsg")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kmsg-port".into())
            .spawn(move || copy(kmsg, port, &flag))
            .map_err(|source| KmsgPortError::Open { what: "the kmsg thread".into(), source })?;
        Ok(KmsgCopier { stop, thread })
    }

    /// Copies what the log holds now, then stops.
    pub fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// Copies records until the stop flag is set and the log has nothing more to read.
fn copy(mut kmsg: File, mut port: File, stop: &AtomicBool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // Each read returns exactly one record; 8 KiB is larger than any record.
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Some(line) = format_record(&String::from_utf8_lossy(&buf[..n])) {
                    if port.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                }
            }
            // Records overwritten before we read them: the next read goes on from the oldest.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Read the stop flag before the last look, so nothing logged before
                // `finish` is missed.
                if stop.load(Ordering::SeqCst) && !readable(&kmsg, PollTimeout::ZERO) {
                    return;
                }
                let _ = readable(&kmsg, PollTimeout::from(POLL_MS));
            }
            Err(_) => return,
        }
    }

    fn readable(f: &File, timeout: PollTimeout) -> bool {
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_becomes_one_dmesg_raw_line_with_its_priority() {
        let rec = "7,1234,5678901,-;ref_leak: bind refused\\x0a on cli-veth\n SUBSYSTEM=net\n";
        assert_eq!(format_record(rec).unwrap(), "<7>[    5.678901] ref_leak: bind refused\\x0a on cli-veth\n");
        // A user-space write (facility user) keeps its facility bits.
        assert_eq!(format_record("14,1,0,-;hello").unwrap(), "<14>[    0.000000] hello\n");
        assert!(format_record("no separator").is_none());
        assert!(format_record("x,1,2,-;bad prio").is_none());
    }
}
