//! The one reader of `/dev/kmsg` that every kernel-log expectation shares.
//!
//! Started before the first step, it keeps every line logged since (arrival time relative
//! to the run clock) so an expectation armed later still sees a line that came early, and
//! wakes the waiters on each new line.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

/// Lines kept at most; older ones are dropped (a debug patch can be chatty).
const MAX_LINES: usize = 200_000;

/// One kernel log record.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Sequence number of the line in this log (not the kernel's).
    pub seq: u64,
    pub at: Instant,
    /// Kernel timestamp, microseconds since boot.
    pub kernel_us: u64,
    pub text: String,
}

#[derive(Default)]
struct Buffer {
    lines: std::collections::VecDeque<LogLine>,
    next_seq: u64,
}

/// Shared handle to the kernel log of this run.
#[derive(Clone)]
pub struct KernelLog {
    buffer: Arc<Mutex<Buffer>>,
    /// Carries the next sequence number; changes on every new line.
    notify: watch::Sender<u64>,
}

impl KernelLog {
    /// Opens `/dev/kmsg`, skips what is already in it and starts the reader thread, which
    /// lives as long as the process (a blocking read cannot be interrupted cheaply).
    pub fn start() -> io::Result<KernelLog> {
        let mut file = File::open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        let log = KernelLog::empty();
        let writer = log.clone();
        std::thread::Builder::new().name("kmsg".into()).spawn(move || writer.read_loop(file))?;
        Ok(log)
    }

    /// A log fed by [`KernelLog::push`] only (unit tests).
    pub fn empty() -> KernelLog {
        KernelLog { buffer: Arc::default(), notify: watch::channel(0).0 }
    }

    fn read_loop(self, mut file: File) {
        // Each read returns exactly one record; 8 KiB is larger than any record.
        let mut buf = vec![0u8; 8192];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if let Some((us, text)) = parse_record(&String::from_utf8_lossy(&buf[..n])) {
                        self.push(us, text);
                    }
                }
                // EPIPE: records were overwritten before we read them; go on from here.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Appends a line as if the kernel had logged it now.
    pub fn push(&self, kernel_us: u64, text: String) {
        let mut b = self.buffer.lock().unwrap();
        let seq = b.next_seq;
        b.next_seq += 1;
        b.lines.push_back(LogLine { seq, at: Instant::now(), kernel_us, text });
        if b.lines.len() > MAX_LINES {
            b.lines.pop_front();
        }
        drop(b);
        self.notify.send_replace(seq + 1);
    }

    /// Lines with `seq >= from`, and the next sequence number to ask for.
    pub fn since(&self, from: u64) -> (Vec<LogLine>, u64) {
        let b = self.buffer.lock().unwrap();
        let lines = b.lines.iter().filter(|l| l.seq >= from).cloned().collect();
        (lines, b.next_seq)
    }

    /// The `before` lines preceding and `after` lines following line `seq`, as text.
    pub fn context(&self, seq: u64, before: u64, after: u64) -> Vec<String> {
        let b = self.buffer.lock().unwrap();
        b.lines
            .iter()
            .filter(|l| l.seq + before >= seq && l.seq <= seq + after)
            .map(|l| format!("[{:>5}.{:06}] {}", l.kernel_us / 1_000_000, l.kernel_us % 1_000_000, l.text))
            .collect()
    }

    /// Resolves when a line with `seq >= from` exists.
    pub async fn changed_since(&self, from: u64) {
        let mut rx = self.notify.subscribe();
        let _ = rx.wait_for(|next| *next > from).await;
    }
}

/// `/dev/kmsg` record: `prio,seq,usec,flags[,..];message\n[ KEY=value\n]...`.
pub fn parse_record(record: &str) -> Option<(u64, String)> {
    let (head, rest) = record.split_once(';')?;
    let us = head.split(',').nth(2)?.parse().ok()?;
    let message = rest.lines().next().unwrap_or_default();
    Some((us, unescape(message)))
}

/// The kernel escapes non-printable bytes as `\xNN`.
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        match u8::from_str_radix(rest.get(i + 2..i + 4).unwrap_or(""), 16) {
            Ok(byte) => {
                out.push(byte as char);
                rest = &rest[i + 4..];
            }
            Err(_) => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record_with_continuation_lines() {
        let rec = "6,1234,5678901,-;unregister_netdevice: waiting for cli-veth to become free. Usage count = 3\n SUBSYSTEM=net\n";
        let (us, text) = parse_record(rec).unwrap();
        assert_eq!(us, 5678901);
        assert_eq!(text, "unregister_netdevice: waiting for cli-veth to become free. Usage count = 3");
    }

    #[test]
    fn unescapes_hex_bytes() {
        assert_eq!(parse_record("6,1,2,-;a\\x09b").unwrap().1, "a\tb");
        assert!(parse_record("garbage").is_none());
    }

    #[test]
    fn keeps_lines_in_order_with_context() {
        let log = KernelLog::empty();
        for i in 0..5 {
            log.push(i * 1_000_000, format!("line {i}"));
        }
        let (lines, next) = log.since(3);
        assert_eq!(next, 5);
        assert_eq!(lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["line 3", "line 4"]);
        assert_eq!(log.context(2, 1, 1).len(), 3);
    }
}
