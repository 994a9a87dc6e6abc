//! Reports out of a stream of console lines: each report from its first line (a start of
//! [`crate::table`]) up to its end marker (`---[ end trace`), the next report, or a cap,
//! with a few lines before it for context. Pure and synchronous: the VM console feeds it
//! line by line (and closes a report when its time window ends), `lab triage` a whole file.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::input::Line;
use crate::prefix::strip;
use crate::table::{RULES, TABLE};
use crate::title::title;
use crate::{Fault, FaultClass};

/// Lines before a report's first line kept with it.
pub const BEFORE: usize = 5;
/// At most this many lines after it: a KASAN report with its allocation and free stacks,
/// or an oops with registers and trace, fits.
pub const AFTER_MAX: usize = 150;
/// Lines of a report read for its title.
const TITLE_LINES: usize = 100;

/// A report being read.
struct Open {
    rule: usize,
    fatal: bool,
    line_number: usize,
    time: Option<f64>,
    /// Index in `lines` of the first line.
    first: usize,
    /// A slab debug report, whose object dumps (a 4 KiB object is 256 lines) hold no frame.
    slab: bool,
    /// Its lines of memory dumps, which [`AFTER_MAX`] and the title's window pass over.
    dumps: usize,
    lines: Vec<String>,
}

/// Cuts a stream of lines into fault reports.
#[derive(Default)]
pub struct Collector {
    line_number: usize,
    recent: VecDeque<String>,
    open: Option<Open>,
}

impl Collector {
    /// Takes the next line; returns the reports it closed (the one it ends or interrupts).
    pub fn push(&mut self, line: &str) -> Option<Fault> {
        self.line_number += 1;
        let stripped = strip(line);
        let start = TABLE.recognise(stripped.msg);
        let mut closed = None;
        match (&mut self.open, start) {
            (Some(open), Some(s)) if RULES[s.rule].follows => {
                open.fatal |= RULES[s.rule].fatal;
                open.lines.push(line.to_string());
            }
            (Some(_), Some(_)) => closed = self.flush(),
            (Some(open), None) => {
                if open.take(line, stripped.msg) || stripped.msg.starts_with("---[ end ") {
                    closed = self.flush();
                }
            }
            (None, _) => {}
        }
        if let Some(s) = start {
            let follows_open = self.open.is_some();
            if !follows_open {
                let mut lines: Vec<String> = self.recent.iter().cloned().collect();
                let first = lines.len();
                lines.push(line.to_string());
                let rule = &RULES[s.rule];
                self.open = Some(Open {
                    rule: s.rule,
                    fatal: rule.fatal,
                    line_number: self.line_number,
                    time: stripped.time(),
                    first,
                    slab: rule.class == FaultClass::Slab,
                    dumps: 0,
                    lines,
                });
            }
        }
        // The context ring reuses its buffers: most lines are never part of a report.
        let mut slot = if self.recent.len() == BEFORE { self.recent.pop_front().unwrap_or_default() } else { String::new() };
        slot.clear();
        slot.push_str(line);
        self.recent.push_back(slot);
        closed
    }

    /// Counts a line that is not the kernel's (another program's, in a syslog file): line
    /// numbers stay those of the input, and the open report goes on over it.
    pub fn skip(&mut self) {
        self.line_number += 1;
    }

    /// The line number of the report being read, if one is.
    pub fn open_at(&self) -> Option<usize> {
        self.open.as_ref().map(|o| o.line_number)
    }

    /// Closes the report being read, if any (its window ended, or the log did).
    pub fn flush(&mut self) -> Option<Fault> {
        let open = self.open.take()?;
        // The title's frames are in the report's first lines; a long tail (memory dumps,
        // other CPUs' stacks) need not be read for it.
        // Memory dumps (a 4 KiB slab object is 256 lines of them) hold no frame.
        let with_dumps = open.dumps > 0;
        let msgs: Vec<&str> =
            open.lines[open.first..].iter().map(|l| strip(l).msg).filter(|m| !with_dumps || !is_dump(m)).take(TITLE_LINES).collect();
        let rule = &RULES[open.rule];
        Some(Fault {
            class: rule.class,
            title: title(open.rule, msgs[0], &msgs[1..]),
            first_line: msgs[0].to_string(),
            line_number: open.line_number,
            time: open.time,
            fatal: open.fatal,
            lines: open.lines,
        })
    }
}

impl Open {
    /// Takes the report's next line; whether the report is now longer than [`AFTER_MAX`]
    /// lines, not counting a slab report's memory dumps.
    fn take(&mut self, line: &str, msg: &str) -> bool {
        self.lines.push(line.to_string());
        self.dumps += usize::from(self.slab && is_dump(msg));
        self.lines.len() - self.first - self.dumps > AFTER_MAX
    }
}

/// A line of a hex dump (`Object 00000000a1b2c3d4: 6b 6b ...`, `Redzone  ...`,
/// `ffff888004b3c780: fa fb ...`): an optional label, an address of 8 to 16 hex digits, `: `.
fn is_dump(msg: &str) -> bool {
    // The `: ` is within the first 32 bytes (a label of at most 12, the address), right after
    // a hex digit: most lines are rejected without a full scan.
    let b = msg.as_bytes();
    let Some(colon) = b.iter().take(32).position(|&c| c == b':') else { return false };
    if colon < 8 || !b[colon - 1].is_ascii_hexdigit() || b.get(colon + 1) != Some(&b' ') {
        return false;
    }
    let (head, tail) = (&msg[..colon], &b[colon + 2..]);
    let (label, addr) = head.trim_end().rsplit_once(' ').unwrap_or(("", head));
    let addr = addr.trim_start_matches('>');
    (8..=16).contains(&addr.len())
        && addr.bytes().all(|c| c.is_ascii_hexdigit())
        && label.trim().len() <= 12
        && tail.len() >= 2
        && tail[..2].iter().all(u8::is_ascii_hexdigit)
}

/// Every fault report in `text` (a raw kernel log), in order. A panic right after a report
/// it ends (the `Fatal exception` after an oops' trace) is part of that report, not one of
/// its own.
pub fn scan(text: &str) -> Vec<Fault> {
    scan_lines(text.lines().map(|l| Line::Kernel(Cow::Borrowed(l))))
}

/// Every fault report in `lines` ([`crate::input::lines`] of a log in any format), in order.
pub fn scan_lines<'a>(lines: impl IntoIterator<Item = Line<'a>>) -> Vec<Fault> {
    let mut c = Collector::default();
    let mut out: Vec<Fault> = Vec::new();
    let push = |f: Fault, out: &mut Vec<Fault>| match out.last_mut() {
        Some(prev) if f.follows_rule() && f.line_number <= prev.line_number + prev.lines.len() + 40 => {
            prev.fatal = true;
            let new: Vec<String> = f.lines.into_iter().filter(|l| !prev.lines.contains(l)).collect();
            prev.lines.extend(new);
        }
        _ => out.push(f),
    };
    for line in lines {
        match line {
            Line::Kernel(l) => {
                if let Some(f) = c.push(&l) {
                    push(f, &mut out);
                }
            }
            Line::Other => c.skip(),
        }
    }
    if let Some(f) = c.flush() {
        push(f, &mut out);
    }
    out
}

impl Fault {
    /// Whether this report's first line only continues another (`Oops:`, `Fatal exception`).
    fn follows_rule(&self) -> bool {
        TABLE.recognise(&self.first_line).is_some_and(|s| RULES[s.rule].follows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultClass;

    /// The lab's own guest: an LKDTM WARNING in the 6.1 kernel, trimmed.
    const WARNING: &str = "\
[   20.100000] lkdtm: Performing direct entry WARNING
[   20.100100] ------------[ cut here ]------------
[   20.100200] WARNING: CPU: 0 PID: 230 at drivers/misc/lkdtm/bugs.c:89 lkdtm_WARNING+0x1b/0x30
[   20.100300] Modules linked in:
[   20.100400] RIP: 0010:lkdtm_WARNING+0x1b/0x30
[   20.100500] Call Trace:
[   20.100600]  <TASK>
[   20.100700]  lkdtm_do_action+0x16/0x30
[   20.100800]  direct_entry+0xe1/0x100
[   20.100900]  </TASK>
[   20.101000] ---[ end trace 0000000000000000 ]---
[   20.200000] lab-guest: next step
";

    #[test]
    fn a_report_runs_from_its_first_line_to_its_end_marker() {
        let faults = scan(WARNING);
        assert_eq!(faults.len(), 1, "{faults:?}");
        let f = &faults[0];
        assert_eq!((f.class, f.title.as_str(), f.line_number, f.fatal), (FaultClass::Warning, "WARNING in lkdtm_WARNING", 3, false));
        assert_eq!(f.time, Some(20.1002));
        assert!(f.lines[0].contains("lkdtm: Performing"), "context before");
        assert!(f.lines.last().unwrap().contains("---[ end trace"));
    }

    #[test]
    fn the_panic_that_ends_an_oops_is_part_of_it() {
        let log = "\
[   42.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   42.100200] #PF: error_code(0x0000) - not-present page
[   42.100400] Oops: 0000 [#1] PREEMPT SMP NOPTI
[   42.100600] RIP: 0010:ip_del_fnhe+0x5a/0x130
[   42.100700] ---[ end trace 0000000000000000 ]---
[   42.100800] RIP: 0010:ip_del_fnhe+0x5a/0x130
[   42.100900] Kernel panic - not syncing: Fatal exception
[   42.101000] ---[ end Kernel panic - not syncing: Fatal exception ]---
";
        let faults = scan(log);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].title, "BUG: unable to handle kernel NULL pointer dereference in ip_del_fnhe");
        assert!(faults[0].fatal && faults[0].lines.last().unwrap().contains("end Kernel panic"));
    }

    #[test]
    fn kmemleaks_own_report_is_a_memory_leak_titled_by_its_allocator() {
        // The lines mm/kmemleak.c (6.1) prints on a `verbose` scan, every one with its pr_fmt.
        let log = "\
[   31.200000] kmemleak: unreferenced object 0xffff888004b3c780 (size 64):
[   31.200100] kmemleak:   comm \"ip\", pid 212, jiffies 4294901234 (age 12.104s)
[   31.200200] kmemleak:   hex dump (first 32 bytes):
[   31.200300] kmemleak:     00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
[   31.200400] kmemleak:   backtrace:
[   31.200500] kmemleak:     [<00000000a1b2c3d4>] kmalloc_trace+0x26/0x90
[   31.200600] kmemleak:     [<00000000b1b2c3d4>] fib6_nh_init+0x1a5/0x7f0
[   31.200700] kmemleak:     [<00000000c1b2c3d4>] ip6_route_info_create+0x3b1/0x5e0
[   31.200800] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
";
        let faults = scan(log);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!((faults[0].class, faults[0].title.as_str()), (FaultClass::MemoryLeak, "memory leak in fib6_nh_init"));
        assert_eq!(faults[0].first_line, "unreferenced object 0xffff888004b3c780 (size 64):");
    }

    #[test]
    fn arms_internal_error_continues_the_report_it_follows() {
        // syzkaller corpus 243 (arm, 4.17), trimmed: one report, titled by its first line.
        let log = "\
syzkaller login: Unable to handle kernel paging request at virtual address fc14ef08
pgd = c60b8887
Internal error: Oops: 5 [#1] SMP ARM
Modules linked in:
PC is at migrate_task_rq_fair+0x58/0xa8
LR is at set_task_cpu+0x4c/0xf8
";
        let faults = scan(log);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].title, "BUG: unable to handle kernel paging request in migrate_task_rq_fair");
    }

    #[test]
    fn a_panic_inside_a_report_ends_it_rather_than_starting_another() {
        // syzkaller corpus 642, trimmed: the panic comes before the stack that names the bug.
        let log = "\
[ 2500.529878][T12771] BUG: scheduling while atomic: syz-executor.1/12771/0x00000002
[ 2500.547572][T12771] [<ffffffff812b2934>] kernel_fpu_begin_mask+0x64/0x260
[ 2500.558965][T12771] Kernel panic - not syncing: scheduling while atomic
[ 2500.584832][T12771] Call Trace:
[ 2500.588127][T12771]  dump_stack_lvl+0xcd/0x134
[ 2500.592949][T12771]  panic+0x306/0x73d
[ 2500.622673][T12771]  __schedule_bug.cold+0x10c/0x143
[ 2500.649224][T12771]  schedule+0xd3/0x270
[ 2500.653313][T12771]  exit_to_user_mode_prepare+0x14a/0x290
";
        let faults = scan(log);
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].title, "BUG: scheduling while atomic in exit_to_user_mode_prepare");
    }
}
