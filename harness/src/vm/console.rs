//! The guest's serial console: every byte saved to `console.log`, every line fed to the
//! fault recogniser ([`lab_faults`]), and each kernel report sent with its class, title
//! and lines when it ends: at its end marker, at the next report, three seconds after its
//! first line, or when the console has been quiet for a second.
//!
//! Fatal reports (panic, oops, `kernel BUG at`, hung task, soft lockup) stop the run; the
//! others (WARNING, lockdep, KASAN, leaks, stalls) are named and the run goes on.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::{Event, FaultClass, GuestFault};
use lab_faults::{Collector, Fault};

/// Lines of console kept in memory for reports (the whole console is in the log file).
pub const TAIL_LINES: usize = 200;
/// A fault's report is sent at most this long after its first line...
const WINDOW: Duration = Duration::from_secs(3);
/// ... or when the console has been quiet this long, or at the end-of-trace marker. Under
/// TCG an oops early in boot prints its trace over the slow 8250 console: at 250 ms the
/// report (and QEMU) was cut off after the `Oops:` line, and the trace was lost.
const QUIET: Duration = Duration::from_secs(1);

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

/// A fault seen on the console.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    pub fault: GuestFault,
    /// The fault's first line, without prefixes.
    pub message: String,
    /// A few lines before the fault, it, and the report after it.
    pub lines: Vec<String>,
    pub fatal: bool,
    pub class: Option<FaultClass>,
    /// `WARNING in lkdtm_WARNING`.
    pub title: Option<String>,
    /// The printk timestamp of the first line, seconds since the guest's boot.
    pub time: Option<f64>,
}

impl From<Fault> for FaultReport {
    fn from(f: Fault) -> Self {
        FaultReport {
            fault: f.guest_fault(),
            fatal: f.fatal,
            class: Some(f.class),
            title: Some(f.title),
            time: f.time,
            message: f.first_line,
            lines: f.lines,
        }
    }
}

impl FaultReport {
    /// The event that names it on the timeline.
    pub fn event(&self) -> Event {
        Event::GuestFault {
            fault: self.fault,
            message: self.message.clone(),
            lines: self.lines.clone(),
            class: self.class,
            title: self.title.clone(),
        }
    }

    /// "WARNING in foo" (or the first line, for a report without a title), for notes.
    pub fn name(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.message)
    }
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

/// The reports being cut from the console, and when the open one must go out.
struct Reports {
    collector: Collector,
    until: Option<Instant>,
    out: mpsc::UnboundedSender<FaultReport>,
}

impl Reports {
    fn push(&mut self, line: &str) {
        let was = self.collector.open_at();
        if let Some(f) = self.collector.push(line) {
            let _ = self.out.send(f.into());
        }
        match self.collector.open_at() {
            None => self.until = None,
            Some(at) if Some(at) != was => self.until = Some(Instant::now() + WINDOW),
            Some(_) if self.until.is_some_and(|u| Instant::now() >= u) => self.flush(),
            Some(_) => {}
        }
    }

    fn flush(&mut self) {
        if let Some(f) = self.collector.flush() {
            let _ = self.out.send(f.into());
        }
        self.until = None;
    }
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
    let mut reports = Reports { collector: Collector::default(), until: None, out: faults };
    loop {
        let read = match reports.until {
            None => lines.read_until(b'\n', &mut buf).await.map(Some),
            Some(until) => {
                let wake = until.min(Instant::now() + QUIET);
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
                reports.flush();
                continue;
            }
            Err(e) => {
                reports.flush();
                return Err(e);
            }
        };
        if n == 0 && !buf.is_empty() {
            // The last line, without its newline, whose start a timed-out read had taken.
            file.write_all(&buf).await?;
            let line = String::from_utf8_lossy(&buf).trim_end_matches('\r').to_string();
            reports.push(&line);
            tail.push(line);
            buf.clear();
        }
        if n == 0 {
            reports.flush();
            file.flush().await?;
            return Ok(());
        }
        // A read cut short by the window's timeout leaves its partial line in `buf` (read_until
        // is cancel-safe that way): `buf` is only emptied once a whole line is taken.
        file.write_all(&buf).await?;
        let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
        buf.clear();
        reports.push(&line);
        tail.push(line);
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

    /// The coarse kind and fatality the console gives one line.
    fn classify(line: &str) -> Option<(GuestFault, bool)> {
        lab_faults::scan(line).first().map(|f| (f.guest_fault(), f.fatal))
    }

    #[test]
    fn classifies_real_fault_lines() {
        use GuestFault::*;
        let cases = [
            ("[    1.415190] Kernel panic - not syncing: No working init found.", Some((Panic, true))),
            ("[   42.100400] Oops: 0000 [#1] PREEMPT SMP NOPTI", Some((Oops, true))),
            ("[   42.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008", Some((Oops, true))),
            ("[   12.000000] kernel BUG at net/ipv4/route.c:1234!", Some((Bug, true))),
            (
                "[   12.000000] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP",
                Some((Oops, true)),
            ),
            ("[   60.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:2:87]", Some((SoftLockup, true))),
            ("[  245.760000] INFO: task ip:312 blocked for more than 122 seconds.", Some((HungTask, true))),
            ("[   30.000000] WARNING: CPU: 0 PID: 1 at net/core/dev.c:10431 netdev_run_todo+0x2e/0x300", Some((Warning, false))),
            ("[   39.549363][ T5855] WARNING: possible circular locking dependency detected", Some((Warning, false))),
            ("[   75.390000] unregister_netdevice: waiting for cli-veth to become free. Usage count = 4", Some((Warning, false))),
            ("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r", Some((Panic, true))),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line), want, "{line}");
        }
    }

    #[test]
    fn ordinary_lines_are_not_faults() {
        for line in [
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
        assert_eq!(f.title.as_deref(), Some("kernel panic: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance."));
        assert!(f.lines[0].contains("Run /nonexistent as init process"), "lines before the fault");
        assert!(f.lines.last().unwrap().contains("---[ end Kernel panic"), "trace up to its end marker");
        assert_eq!(tail.last(1), vec![PANIC.lines().last().unwrap().to_string()]);
    }

    #[tokio::test]
    async fn the_oops_line_after_a_bug_line_is_part_of_its_report() {
        let (faults, _, _) = run_watch(OOPS).await;
        let kinds: Vec<_> = faults.iter().map(|f| f.fault).collect();
        assert_eq!(kinds, [GuestFault::Oops]);
        assert_eq!(faults[0].title.as_deref(), Some("BUG: unable to handle kernel NULL pointer dereference in ip_del_fnhe"));
        assert!(faults[0].lines.iter().any(|l| l.contains("RIP: 0010:ip_del_fnhe")));
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
