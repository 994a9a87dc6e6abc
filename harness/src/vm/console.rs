//! The guest's serial console: every byte saved to `console.log`, every line classified,
//! and kernel faults (panic, oops, BUG, hung task, soft lockup, WARNING) reported with the
//! lines around them within three seconds of their first line (at once at the end of the
//! trace).
//!
//! A WARNING is reported and the run goes on (many are benign, and a scenario may provoke
//! one on purpose); every other fault is fatal: the backend stops QEMU and the run ends
//! as an error naming the fault.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use std::sync::LazyLock;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::GuestFault;

/// Lines of console kept in memory for reports (the whole console is in the log file).
pub const TAIL_LINES: usize = 200;
/// Lines before the fault line included in its report.
const BEFORE: usize = 5;
/// At most this many lines after it.
const AFTER_MAX: usize = 80;
/// A fault's report is sent at most this long after its first line...
const WINDOW: Duration = Duration::from_secs(3);
/// ... or when the console has been quiet this long, or at the end-of-trace marker. Under
/// TCG an oops early in boot prints its trace over the slow 8250 console: at 250 ms the
/// report (and QEMU) was cut off after the `Oops:` line, and the trace was lost.
const QUIET: Duration = Duration::from_secs(1);

/// The fault a console line starts, if any.
pub fn classify(line: &str) -> Option<GuestFault> {
    static RULES: LazyLock<Vec<(Regex, GuestFault)>> = LazyLock::new(|| {
        [
            (r"^Kernel panic - not syncing", GuestFault::Panic),
            (r"^watchdog: BUG: soft lockup", GuestFault::SoftLockup),
            (r"^INFO: task .+ blocked for more than \d+ seconds", GuestFault::HungTask),
            (r"^(BUG: |kernel BUG at )", GuestFault::Bug),
            (r"^(Oops: |general protection fault|stack segment: )", GuestFault::Oops),
            (r"^WARNING: CPU: \d+ PID: \d+ at ", GuestFault::Warning),
        ]
        .into_iter()
        .map(|(re, f)| (Regex::new(re).expect("fault pattern"), f))
        .collect()
    });
    let msg = message(line);
    RULES.iter().find(|(re, _)| re.is_match(msg)).map(|(_, f)| *f)
}

/// Whether the run must stop on this fault.
pub fn is_fatal(fault: GuestFault) -> bool {
    !matches!(fault, GuestFault::Warning)
}

/// The plain name of a fault, for summaries ("the guest kernel panicked").
pub fn describe(fault: GuestFault) -> &'static str {
    match fault {
        GuestFault::Panic => "the guest kernel panicked",
        GuestFault::Oops => "the guest kernel oopsed",
        GuestFault::Bug => "the guest kernel hit a BUG",
        GuestFault::Warning => "the guest kernel logged a WARNING",
        GuestFault::HungTask => "a guest task hung (hung-task detector)",
        GuestFault::SoftLockup => "a guest CPU soft-locked up",
        GuestFault::Hang => "the guest hung",
        GuestFault::Exited => "QEMU exited before the guest reported a verdict",
    }
}

/// The text of a console line without its printk timestamp (`[   12.345678] `) and `\r`.
pub fn message(line: &str) -> &str {
    let l = line.trim_end_matches(['\r', '\n']);
    let t = l.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let stamp = &rest[..end];
            if !stamp.is_empty() && stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                return rest[end + 1..].trim_start();
            }
        }
    }
    t
}

/// Whether `line` closes a trace (`---[ end trace ... ]---`, `---[ end Kernel panic ...`).
fn ends_trace(line: &str) -> bool {
    message(line).starts_with("---[ end ")
}

/// A fault seen on the console.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    pub fault: GuestFault,
    /// The fault's line, without timestamp.
    pub message: String,
    /// A few lines before it, it, and the trace after it.
    pub lines: Vec<String>,
    pub fatal: bool,
}

/// The last lines of the console, shared with the backend for its reports.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut t = self.0.lock().unwrap();
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<String> {
        let t = self.0.lock().unwrap();
        t.iter().skip(t.len().saturating_sub(n)).cloned().collect()
    }
}

/// A fault being collected: its report goes out when its window closes.
struct Pending {
    report: FaultReport,
    until: Instant,
}

/// Reads the console from `reader` to its end: writes every byte to `log`, keeps the tail,
/// and sends each fault on `faults`. Returns when QEMU closes the console.
pub async fn watch(
    reader: impl AsyncRead + Unpin,
    log: &Path,
    tail: Tail,
    faults: mpsc::UnboundedSender<FaultReport>,
) -> std::io::Result<()> {
    let mut file = tokio::fs::File::create(log).await?;
    let mut lines = BufReader::new(reader);
    let mut buf = Vec::with_capacity(256);
    let mut recent: VecDeque<String> = VecDeque::with_capacity(BEFORE + 1);
    let mut pending: Option<Pending> = None;
    loop {
        let read = match &pending {
            None => lines.read_until(b'\n', &mut buf).await.map(Some),
            Some(p) => {
                let wake = p.until.min(Instant::now() + QUIET);
                match tokio::time::timeout_at(wake, lines.read_until(b'\n', &mut buf)).await {
                    Ok(r) => r.map(Some),
                    Err(_) => Ok(None),
                }
            }
        };
        let n = match read {
            Ok(Some(n)) => n,
            // The window closed with no new line: send the fault.
            Ok(None) => {
                if let Some(p) = pending.take() {
                    let _ = faults.send(p.report);
                }
                continue;
            }
            Err(e) => {
                flush(&mut pending, &faults);
                return Err(e);
            }
        };
        if n == 0 && !buf.is_empty() {
            // The last line, without its newline, whose start a timed-out read had taken.
            file.write_all(&buf).await?;
            tail.push(String::from_utf8_lossy(&buf).trim_end_matches('\r').to_string());
            buf.clear();
        }
        if n == 0 {
            flush(&mut pending, &faults);
            file.flush().await?;
            return Ok(());
        }
        // A read cut short by the window's timeout leaves its partial line in `buf` (read_until
        // is cancel-safe that way): `buf` is only emptied once a whole line is taken.
        file.write_all(&buf).await?;
        let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
        buf.clear();
        tail.push(line.clone());
        if let Some(p) = &mut pending {
            p.report.lines.push(line.clone());
            let full = p.report.lines.len() >= BEFORE + 1 + AFTER_MAX;
            if ends_trace(&line) || full || Instant::now() >= p.until {
                let p = pending.take().unwrap();
                let _ = faults.send(p.report);
            }
            // A new fault inside another's trace (oops → panic) still counts on its own.
            if let Some(fault) = classify(&line) {
                if pending.is_none() || is_fatal(fault) {
                    flush(&mut pending, &faults);
                    pending = Some(start(fault, &line, &recent));
                }
            }
        } else if let Some(fault) = classify(&line) {
            pending = Some(start(fault, &line, &recent));
        }
        if recent.len() == BEFORE {
            recent.pop_front();
        }
        recent.push_back(line);
    }
}

fn start(fault: GuestFault, line: &str, recent: &VecDeque<String>) -> Pending {
    let mut lines: Vec<String> = recent.iter().cloned().collect();
    lines.push(line.to_string());
    Pending {
        report: FaultReport { fault, message: message(line).to_string(), lines, fatal: is_fatal(fault) },
        until: Instant::now() + WINDOW,
    }
}

fn flush(pending: &mut Option<Pending>, faults: &mpsc::UnboundedSender<FaultReport>) {
    if let Some(p) = pending.take() {
        let _ = faults.send(p.report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANIC: &str = "\
[    1.412380] Run /nonexistent as init process
[    1.413022] Failed to execute /nonexistent (error -2).  Attempting defaults...
[    1.415190] Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.
[    1.416500] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1
[    1.417000] Call Trace:
[    1.417200]  <TASK>
[    1.417400]  dump_stack_lvl+0x33/0x46
[    1.417900]  panic+0x10c/0x2b5
[    1.418300]  </TASK>
[    1.418900] Kernel Offset: disabled
[    1.419200] ---[ end Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance. ]---
";

    const OOPS: &str = "\
[   42.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   42.100100] #PF: supervisor read access in kernel mode
[   42.100200] #PF: error_code(0x0000) - not-present page
[   42.100300] PGD 0 P4D 0
[   42.100400] Oops: 0000 [#1] PREEMPT SMP NOPTI
[   42.100500] CPU: 1 PID: 230 Comm: ip Not tainted 6.1.0 #1
[   42.100600] RIP: 0010:ip_del_fnhe+0x5a/0x130
[   42.100700] ---[ end trace 0000000000000000 ]---
";

    #[test]
    fn classifies_real_fault_lines() {
        let cases = [
            ("[    1.415190] Kernel panic - not syncing: No working init found.", Some(GuestFault::Panic)),
            ("[   42.100400] Oops: 0000 [#1] PREEMPT SMP NOPTI", Some(GuestFault::Oops)),
            ("[   42.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008", Some(GuestFault::Bug)),
            ("[   12.000000] kernel BUG at net/ipv4/route.c:1234!", Some(GuestFault::Bug)),
            (
                "[   12.000000] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP",
                Some(GuestFault::Oops),
            ),
            ("[   60.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:2:87]", Some(GuestFault::SoftLockup)),
            ("[  245.760000] INFO: task ip:312 blocked for more than 122 seconds.", Some(GuestFault::HungTask)),
            ("[   30.000000] WARNING: CPU: 0 PID: 1 at net/core/dev.c:10431 netdev_run_todo+0x2e/0x300", Some(GuestFault::Warning)),
            ("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r", Some(GuestFault::Panic)),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line), want, "{line}");
        }
    }

    #[test]
    fn the_incident_signature_and_ordinary_lines_are_not_faults() {
        for line in [
            "[   75.390000] unregister_netdevice: waiting for cli-veth to become free. Usage count = 4",
            "[    0.000000] Linux version 6.1.0 (root@host) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP",
            "[    0.512000] Unknown kernel command line parameters \"lab.mode=run\", will be passed to user space.",
            "[    3.000000] ip (312) used greatest stack depth: 13000 bytes left",
            "[    3.000000] rcu: Hierarchical RCU implementation.",
            "lab-guest: the scenario mentions BUG: in its notes",
            "",
        ] {
            assert_eq!(classify(line), None, "{line}");
        }
    }

    #[test]
    fn timestamps_are_stripped_and_only_fatal_faults_stop_the_run() {
        assert_eq!(message("[ 1234.567890] Oops: x\r\n"), "Oops: x");
        assert_eq!(message("[not a stamp] x"), "[not a stamp] x");
        assert!(is_fatal(GuestFault::Panic) && is_fatal(GuestFault::HungTask) && is_fatal(GuestFault::SoftLockup));
        assert!(!is_fatal(GuestFault::Warning));
    }

    async fn run_watch(text: &'static str) -> (Vec<FaultReport>, String, Tail) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let tail = Tail::default();
        watch(text.as_bytes(), &log, tail.clone(), tx).await.unwrap();
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        (out, std::fs::read_to_string(&log).unwrap(), tail)
    }

    #[tokio::test]
    async fn a_panic_is_reported_with_its_context_and_the_log_is_whole() {
        let (faults, log, tail) = run_watch(PANIC).await;
        assert_eq!(log, PANIC);
        assert_eq!(faults.len(), 1, "{faults:?}");
        let f = &faults[0];
        assert_eq!(f.fault, GuestFault::Panic);
        assert!(f.fatal);
        assert!(f.message.starts_with("Kernel panic - not syncing: No working init found."));
        assert!(f.lines[0].contains("Run /nonexistent as init process"), "lines before the fault");
        assert!(f.lines.last().unwrap().contains("---[ end Kernel panic"), "trace up to its end marker");
        assert_eq!(tail.last(1), vec![PANIC.lines().last().unwrap().to_string()]);
    }

    #[tokio::test]
    async fn an_oops_after_a_bug_line_is_a_second_report() {
        let (faults, _, _) = run_watch(OOPS).await;
        let kinds: Vec<_> = faults.iter().map(|f| f.fault).collect();
        assert_eq!(kinds, [GuestFault::Bug, GuestFault::Oops]);
        assert!(faults[1].lines.iter().any(|l| l.contains("RIP: 0010:ip_del_fnhe")));
    }

    #[tokio::test]
    async fn a_fault_is_reported_within_the_window_while_the_console_stays_open() {
        let (mut guest, host) = tokio::io::duplex(4096);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn({
            let log = log.clone();
            async move { watch(host, &log, Tail::default(), tx).await }
        });
        let t0 = Instant::now();
        guest
            .write_all(b"[  245.760000] INFO: task ip:312 blocked for more than 122 seconds.\n[  245.760100]       Not tainted 6.1.0 #1\n")
            .await
            .unwrap();
        let r = rx.recv().await.unwrap();
        assert!(t0.elapsed() <= WINDOW + Duration::from_millis(200), "reported after {:?}", t0.elapsed());
        assert_eq!(r.fault, GuestFault::HungTask);
        assert_eq!(r.lines.len(), 2);
        drop(guest);
        task.await.unwrap().unwrap();
    }
}
