//! What a console, `dmesg` or a journal puts before a kernel message, taken off: the syslog
//! or journal header (`Jan 12 10:00:01 node kernel: `, ISO 8601 too), the `<N>` log level,
//! the printk timestamp (`[   12.345678]`, `dmesg -T`'s `[Mon Jan 12 10:00:01 2026]`) and
//! the printk caller field of `CONFIG_PRINTK_CALLER` (`[ T5855]`, `[  C0]`), and kmemleak's
//! `kmemleak: ` on each line of its reports.
//!
//! Pure and allocation-free: it runs on every line of a log, so the brackets are read by
//! hand and the one regex (the syslog header) only runs on lines that contain `kernel:`.

use std::sync::LazyLock;

use regex::Regex;

/// A line split into its prefix facts and the kernel's message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stripped<'a> {
    /// The printk timestamp's digits (`12.345678`), parsed only when asked: most lines
    /// are never a report's first.
    pub stamp: Option<&'a str>,
    /// The message, without prefixes, trailing `\r` or newline.
    pub msg: &'a str,
}

impl Stripped<'_> {
    /// Seconds since boot, from the printk timestamp.
    pub fn time(&self) -> Option<f64> {
        self.stamp.and_then(|s| s.parse().ok())
    }
}

/// `line` without the prefixes a console, `dmesg` or journal adds.
pub fn strip(line: &str) -> Stripped<'_> {
    let mut rest = line.trim_end_matches(['\r', '\n']);
    rest = syslog_header(rest);
    let mut stamp = None;
    // The pieces come in a known order, but tools differ; take any of them, a few times.
    for _ in 0..4 {
        let t = rest.trim_start();
        if let Some(r) = level(t) {
            rest = r;
        } else if let Some((secs, r)) = bracketed(t) {
            stamp = stamp.or(secs);
            rest = r;
        } else {
            rest = t;
            break;
        }
    }
    // kmemleak prints every line of a leak report with its own prefix, backtrace included.
    Stripped { stamp, msg: rest.strip_prefix("kmemleak: ").unwrap_or(rest) }
}

/// `<6>` or `<12>` at the start of a line.
fn level(s: &str) -> Option<&str> {
    let r = s.strip_prefix('<')?;
    let end = r.find('>')?;
    (end > 0 && end <= 3 && r[..end].bytes().all(|b| b.is_ascii_digit())).then(|| &r[end + 1..])
}

/// A leading `[...]` that is a timestamp (its seconds, if it has them) or a caller field.
fn bracketed(s: &str) -> Option<(Option<&str>, &str)> {
    let r = s.strip_prefix('[')?;
    let end = r.find(']')?;
    let inner = r[..end].trim();
    let rest = &r[end + 1..];
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some((Some(inner), rest));
    }
    if is_caller(inner) || is_wall_clock(inner) {
        return Some((None, rest));
    }
    None
}

/// `T123` (a task) or `C0` (a CPU in interrupt context).
fn is_caller(inner: &str) -> bool {
    let b = inner.as_bytes();
    b.len() >= 2 && (b[0] == b'T' || b[0] == b'C') && b[1..].iter().all(u8::is_ascii_digit)
}

/// `dmesg -T`: `Mon Jan 12 10:00:01 2026`.
fn is_wall_clock(inner: &str) -> bool {
    let b = inner.as_bytes();
    b.len() >= 20 && b.len() <= 26 && b[3] == b' ' && inner.contains(':') && b[..3].iter().all(u8::is_ascii_alphabetic)
}

/// The syslog or `journalctl` header before `kernel: `.
fn syslog_header(line: &str) -> &str {
    static HEADER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?) \S+ kernel: ")
            .expect("syslog header pattern")
    });
    if !line.contains("kernel: ") {
        return line;
    }
    HEADER.find(line).map_or(line, |m| &line[m.end()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_a_console_or_journal_adds_is_taken_off() {
        // Each from a real log: syzbot console (PRINTK_CALLER), a Debian journal, dmesg -T,
        // /dev/kmsg-style levels, this lab's own console.
        let cases = [
            ("[   39.549363][ T5855] general protection fault: 0000 [#1] PREEMPT SMP KASAN", Some(39.549363)),
            ("[ 1528.243421][ T1040] INFO: task syz-executor.1:16255 blocked for more than 143 seconds.", Some(1528.243421)),
            ("[  118.290522][    C0] BUG: KASAN: use-after-free in foo+0x1/0x2", Some(118.290522)),
            ("Jan 12 10:00:01 node-7 kernel: [ 3.1] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", Some(3.1)),
            ("2026-01-12T10:00:01.123456+00:00 node-7 kernel: WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", None),
            ("[Mon Jan 12 10:00:01 2026] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", None),
            ("<4>[   12.000001] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\r", Some(12.000001)),
        ];
        for (line, time) in cases {
            let s = strip(line);
            assert!(["general", "INFO: task", "BUG: KASAN", "WARNING: CPU"].iter().any(|p| s.msg.starts_with(p)), "{line:?} → {:?}", s.msg);
            assert_eq!(s.time(), time, "{line}");
        }
    }

    #[test]
    fn brackets_that_are_not_prefixes_stay() {
        assert_eq!(strip("[<ffffffff81000000>] foo+0x1/0x2").msg, "[<ffffffff81000000>] foo+0x1/0x2");
        assert_eq!(strip("[not a stamp] x").msg, "[not a stamp] x");
        assert_eq!(strip("lab-guest: kernel: x").msg, "lab-guest: kernel: x");
    }
}
