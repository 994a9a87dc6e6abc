//! Logs as nodes hand them over: which [`Format`] a text is, and its kernel lines as the
//! classifier reads them. A raw console or `dmesg` is read as it is; a `journalctl -k` export
//! (`-o short`, `short-precise`, `short-iso`, `short-monotonic`) and a syslog file (`Jan 12
//! 10:00:01 node kernel: ...`, RFC 3339 stamps, `Message from syslogd@node` broadcasts) give
//! their `kernel:` lines only, so another program's `WARNING:` is no kernel report; a `journalctl
//! -o json` export gives each kernel entry's `MESSAGE` behind its monotonic time as a printk
//! timestamp (`[  12.345678] ...`).
//!
//! Pure and total: a line that is not what its format expects is another program's.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::collect::scan_lines;
use crate::Fault;

/// What kind of log a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A console log, `dmesg` (any of its time formats) or `/dev/kmsg` as read.
    Dmesg,
    /// `journalctl -k` (`-o short`, `short-precise`, `short-iso`, `short-monotonic`, ...).
    Journal,
    /// `journalctl -o json`: one JSON object per line.
    JournalJson,
    /// A syslog daemon's file (or a journal export without any sign of being one): a host and
    /// a program before each message.
    Syslog,
}

impl Format {
    /// The name `lab triage` prints.
    pub fn name(self) -> &'static str {
        match self {
            Format::Dmesg => "raw kernel log (console or dmesg)",
            Format::Journal => "journalctl export",
            Format::JournalJson => "journalctl JSON export",
            // `journalctl -o short` without its `-- ` markers reads the same as a syslog file.
            Format::Syslog => "syslog-format log (a syslog file, or journalctl -o short)",
        }
    }
}

/// One line of the input, as the classifier takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    /// A kernel message, with whatever prefixes [`crate::prefix::strip`] takes off.
    Kernel(Cow<'a, str>),
    /// Another program's line, or none at all: counted, not read.
    Other,
}

/// `Jan 12 10:00:01[.123456]` or `2026-01-12T10:00:01[.123][+00:00]`, a host, a program
/// with its pid, `: `.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(\.\d+)?|\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?) \S+ ([^\s:\[]+)(?:\[\d+\])?: ?")
        .expect("syslog header")
});

/// The format of `text` and the fault reports in it, read as that format.
pub fn scan_log(text: &str) -> (Format, Vec<Fault>) {
    let format = detect(text);
    (format, scan_lines(lines(text, format)))
}

/// `journalctl -o short-monotonic`: `[   12.345678] node kernel: `, the stamp kept.
static MONOTONIC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\[\s*\d+\.\d+\]) \S+ kernel: ").expect("monotonic header"));

/// Lines read to tell the format.
const SNIFF: usize = 50;

/// The format of `text`, from its first lines.
pub fn detect(text: &str) -> Format {
    let mut headers = 0;
    let mut journal_signs = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(SNIFF) {
        if line.starts_with('{') && line.contains("\"MESSAGE\"") {
            return Format::JournalJson;
        }
        if is_journal_mark(line) || MONOTONIC.is_match(line) {
            journal_signs += 1;
        } else if line.starts_with("Message from syslogd@") {
            return Format::Syslog;
        } else if let Some(c) = HEADER.captures(line) {
            headers += 1;
            // A fraction on a BSD-style stamp: journalctl's `short-precise`, never a syslog daemon's.
            journal_signs += usize::from(c.get(1).is_some());
        }
    }
    match (headers, journal_signs) {
        (0, 0) => Format::Dmesg,
        (_, j) if j > 0 => Format::Journal,
        _ => Format::Syslog,
    }
}

/// journalctl's own lines: `-- Journal begins at ...`, `-- Logs begin at ...`, `-- Boot <id> --`,
/// `-- No entries --`.
fn is_journal_mark(line: &str) -> bool {
    line.starts_with("-- ") && (line.contains("begin") || line.contains("Boot ") || line.contains("No entries"))
}

/// The lines of `text` read as `format`.
pub fn lines(text: &str, format: Format) -> impl Iterator<Item = Line<'_>> {
    let mut broadcast = false;
    text.lines().map(move |l| match format {
        Format::Dmesg => Line::Kernel(Cow::Borrowed(l)),
        Format::JournalJson => json_line(l),
        Format::Journal | Format::Syslog => {
            let line = syslog_line(l, broadcast);
            broadcast = l.starts_with("Message from syslogd@");
            line
        }
    })
}

/// A syslog or journal line: the kernel's, or another program's. The line after a
/// `Message from syslogd@host at ...` broadcast is ` kernel:[ 12.3] ...`; `short-monotonic`'s
/// stamp goes before the message, as the kernel's own.
fn syslog_line(l: &str, after_broadcast: bool) -> Line<'_> {
    if after_broadcast {
        if let Some(rest) = l.trim_start().strip_prefix("kernel:") {
            return Line::Kernel(Cow::Borrowed(rest));
        }
    }
    match HEADER.captures(l) {
        Some(c) if c.get(2).is_some_and(|p| p.as_str() == "kernel") => Line::Kernel(Cow::Borrowed(&l[c.get(0).expect("match").end()..])),
        Some(_) => Line::Other,
        None => match MONOTONIC.captures(l) {
            Some(c) => Line::Kernel(Cow::Owned(format!("{} {}", &c[1], &l[c.get(0).expect("match").end()..]))),
            None => Line::Other,
        },
    }
}

/// The fields of a journal entry the classifier reads.
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "MESSAGE")]
    message: Option<serde_json::Value>,
    #[serde(rename = "_TRANSPORT")]
    transport: Option<String>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<String>,
    #[serde(rename = "_SOURCE_MONOTONIC_TIMESTAMP")]
    monotonic: Option<String>,
}

/// A `journalctl -o json` line: a kernel entry's message behind its time since boot.
fn json_line(l: &str) -> Line<'static> {
    let Ok(e) = serde_json::from_str::<Entry>(l) else { return Line::Other };
    let kernel = e.transport.as_deref() == Some("kernel") || e.identifier.as_deref() == Some("kernel");
    let message = match e.message {
        Some(serde_json::Value::String(s)) => s,
        // A message that is not UTF-8 is exported as its bytes.
        Some(serde_json::Value::Array(bytes)) => {
            String::from_utf8_lossy(&bytes.iter().filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect::<Vec<_>>())
                .into_owned()
        }
        _ => return Line::Other,
    };
    if !kernel {
        return Line::Other;
    }
    let usecs = e.monotonic.and_then(|m| m.parse::<u64>().ok());
    let line = match usecs {
        Some(us) => format!("[{:5}.{:06}] {message}", us / 1_000_000, us % 1_000_000),
        None => message,
    };
    Line::Kernel(Cow::Owned(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(text: &str) -> Vec<String> {
        lines(text, detect(text))
            .map(|l| match l {
                Line::Kernel(k) => k.into_owned(),
                Line::Other => "-".into(),
            })
            .collect()
    }

    #[test]
    fn a_raw_log_is_read_as_it_is() {
        let log = "[    0.000000] Linux version 6.1.0\n[   20.1] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n";
        assert_eq!(detect(log), Format::Dmesg);
        assert_eq!(kernel(log), log.lines().collect::<Vec<_>>());
    }

    #[test]
    fn a_journal_export_gives_its_kernel_lines() {
        // journalctl -k -o short-precise: the header line, then `kernel:` lines.
        let log = "\
-- Journal begins at Mon 2026-01-12 09:00:00 UTC, ends at Mon 2026-01-12 10:05:00 UTC. --
Jan 12 10:00:01.123456 node-7 kernel: WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2
Jan 12 10:00:01.123460 node-7 kernel: RIP: 0010:f+0x1/0x2
";
        assert_eq!(detect(log), Format::Journal);
        assert_eq!(kernel(log), ["-", "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "RIP: 0010:f+0x1/0x2"]);
        // short-precise without the header line is still a journal: syslog daemons write no fraction.
        assert_eq!(detect(&log[log.find('\n').unwrap() + 1..]), Format::Journal);
        // -o short-monotonic: the time since boot is the line's stamp.
        let mono = "[   20.100200] node-7 kernel: WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n[   20.100300] node-7 sshd[9]: BUG: no\n";
        assert_eq!(detect(mono), Format::Journal);
        assert_eq!(kernel(mono), ["[   20.100200] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "-"]);
        // A raw log whose messages happen to hold a colon is no journal.
        assert_eq!(detect("[    1.000000] eth0 renamed: from x\n[    2.0] random: crng init done\n"), Format::Dmesg);
    }

    #[test]
    fn a_syslog_file_gives_the_kernels_lines_and_its_broadcasts() {
        let log = "\
Jan 12 10:00:01 node-7 systemd[1]: WARNING: this is not the kernel
Jan 12 10:00:02 node-7 kernel: [  612.345678] BUG: soft lockup - CPU#1 stuck for 22s! [ip:812]
2026-01-12T10:00:03.000001+00:00 node-7 kernel: [  612.400000] RIP: 0010:f+0x1/0x2

Message from syslogd@node-7 at Jan 12 10:00:04 ...
 kernel:[  613.000000] Kernel panic - not syncing: softlockup: hung tasks
";
        assert_eq!(detect(log), Format::Syslog);
        let got = kernel(log);
        assert_eq!(got[0], "-", "another program's WARNING is not read");
        assert_eq!(got[1], "[  612.345678] BUG: soft lockup - CPU#1 stuck for 22s! [ip:812]");
        assert_eq!(got[2], "[  612.400000] RIP: 0010:f+0x1/0x2");
        assert_eq!(got[5], "[  613.000000] Kernel panic - not syncing: softlockup: hung tasks");
    }

    #[test]
    fn a_json_export_gives_kernel_messages_behind_their_monotonic_time() {
        let log = r#"{"__REALTIME_TIMESTAMP":"1768212001123456","_TRANSPORT":"kernel","SYSLOG_IDENTIFIER":"kernel","_SOURCE_MONOTONIC_TIMESTAMP":"20100200","MESSAGE":"WARNING: CPU: 0 PID: 230 at bugs.c:89 lkdtm_WARNING+0x1b/0x30"}
{"_TRANSPORT":"journal","SYSLOG_IDENTIFIER":"app","MESSAGE":"BUG: in the app"}
{"_TRANSPORT":"kernel","MESSAGE":[82,73,80,58,32,48,48,49,48,58,102,43,48,120,49,47,48,120,50]}
"#;
        assert_eq!(detect(log), Format::JournalJson);
        assert_eq!(
            kernel(log),
            ["[   20.100200] WARNING: CPU: 0 PID: 230 at bugs.c:89 lkdtm_WARNING+0x1b/0x30", "-", "RIP: 0010:f+0x1/0x2"]
        );
    }

    #[test]
    fn a_report_in_a_syslog_file_keeps_its_lines_and_the_files_line_numbers() {
        let log = "\
Jan 12 10:00:01 node-7 kernel: [   20.100200] WARNING: CPU: 0 PID: 230 at drivers/misc/lkdtm/bugs.c:89 lkdtm_WARNING+0x1b/0x30
Jan 12 10:00:01 node-7 sshd[812]: Accepted publickey for root
Jan 12 10:00:01 node-7 kernel: [   20.100400] RIP: 0010:lkdtm_WARNING+0x1b/0x30
Jan 12 10:00:01 node-7 kernel: [   20.101000] ---[ end trace 0000000000000000 ]---
Jan 12 10:00:02 node-7 systemd[1]: BUG: not the kernel's
";
        let (format, faults) = scan_log(log);
        assert_eq!(format, Format::Syslog);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!((faults[0].title.as_str(), faults[0].line_number, faults[0].time), ("WARNING in lkdtm_WARNING", 1, Some(20.1002)));
        assert_eq!(faults[0].lines.len(), 3, "the other program's line is not the report's");
    }
}
