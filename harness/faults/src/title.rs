//! A report's title in the field's manner (`KASAN: slab-out-of-bounds Read in memcpy`,
//! `WARNING in lock_downgrade`, `INFO: task hung in rtnl_lock`): the rule's template filled
//! from its first line's groups, the report's access kind and its guilty frame.
//!
//! As syzkaller does, a title whose frame cannot be found says `in corrupted`: the report
//! was cut or interleaved, and the title must not pretend otherwise.

use std::sync::LazyLock;

use regex::Regex;

use crate::frames;
use crate::table::{RULES, TABLE};

/// What varies between occurrences of one bug, taken out of a title as syzkaller's dashboards
/// do (`KCSAN: data-race in f+0x55/0xb10` is `... in f`, `unknown-block(0,0)` is
/// `unknown-block(NUM,NUM)`), each applied until the title no longer changes.
static VARYING: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"syz-executor\.?[0-9]+((/|:)[0-9]+)?", "syz-executor"),
        (r"syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller"),
        (r"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", "${1}ADDR"),
        (r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", "IP"),
        (r"(\.\w+)(:[0-9]+)+", "${1}:LINE"),
        (r"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", "${1}"),
        (r"CPU#[0-9]+", "CPU"),
        (r"(\W)(\d+)(\W|$)", "${1}NUM${3}"),
        (r"(\d+){7,}", "NUM"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("varying part"), to))
    .collect()
});

fn without_varying(mut title: String) -> String {
    for (re, to) in VARYING.iter() {
        while let std::borrow::Cow::Owned(next) = re.replace_all(&title, *to) {
            if next == title {
                break;
            }
            title = next;
        }
    }
    title
}

static ACCESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(Read|Write) (?:of size|at addr)").expect("access"));

/// The title of the report rule `rule` starts with `first` (a message without prefixes),
/// followed by `rest` (the next messages of the report).
///
/// A template whose access kind is not in the report (a KASAN report cut short, or an old
/// kernel's that names none) does not apply: the next rule matching `first` titles it, as
/// syzkaller falls back to `KASAN: <the rest of the line>`.
pub fn title(rule: usize, first: &str, rest: &[&str]) -> String {
    let filled = (rule..RULES.len()).filter(|&i| TABLE.regex(i).is_match(first)).find_map(|i| fill(i, first, rest));
    without_varying(filled.unwrap_or_else(|| RULES[rule].title.replace("{access}", "corrupted")))
}

/// Rule `rule`'s template filled, or none if the access kind it names is missing.
fn fill(rule: usize, first: &str, rest: &[&str]) -> Option<String> {
    let r = &RULES[rule];
    let caps = TABLE.regex(rule).captures(first);
    let group = |i: usize| caps.as_ref().and_then(|c| c.get(i)).map_or("", |m| m.as_str().trim_end());
    let named = |n: &str| caps.as_ref().and_then(|c| c.name(n)).map_or("", |m| m.as_str().trim_end());
    let inline = caps.as_ref().and_then(|c| c.name("func")).map(|m| m.as_str());
    let mut out = String::with_capacity(r.title.len() + 32);
    let mut t = r.title;
    while let Some(open) = t.find('{') {
        out.push_str(&t[..open]);
        let close = open + t[open..].find('}').expect("template braces");
        match &t[open + 1..close] {
            "frame" => out.push_str(frames::guilty(r.frames, TABLE.skip(rule), inline, rest).unwrap_or("corrupted")),
            "access" => {
                let access = rest.iter().take(40).find_map(|m| ACCESS.captures(m)).map(|c| c.get(1).expect("group").as_str());
                out.push_str(access?);
            }
            "kind" => out.push_str(crate::slab::kind(named("kind"))),
            n => out.push_str(n.parse().map_or_else(|_| named(n), group)),
        }
        t = &t[close + 1..];
    }
    out.push_str(t);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(first: &str, rest: &[&str]) -> String {
        title(TABLE.recognise(first).expect("a start").rule, first, rest)
    }

    #[test]
    fn titles_read_like_the_field_names_them() {
        // From syzkaller's corpus (pkg/report/testdata/linux/report), cut to what matters.
        let kasan = of(
            "BUG: KASAN: slab-out-of-bounds in memcpy+0x1d/0x40 mm/kasan/kasan.c:31",
            &[
                "Read of size 8 at addr ffff8801c0e3d7b8 by task syz-executor0/3190",
                "Call Trace:",
                " dump_stack+0x1/0x2",
                " memcpy+0x1d/0x40",
                " xfrm_selector_match+0x5/0x9",
            ],
        );
        // memcpy is plumbing: the title names its caller, as syzbot's do.
        assert_eq!(kasan, "KASAN: slab-out-of-bounds Read in xfrm_selector_match");
        let warn =
            of("WARNING: CPU: 1 PID: 4126 at kernel/locking/rwsem.c:1488 lock_downgrade+0x1/0x2", &["RIP: 0010:lock_downgrade+0x1/0x2"]);
        assert_eq!(warn, "WARNING in lock_downgrade");
        let netdev = of("unregister_netdevice: waiting for lo to become free. Usage count = 2", &[]);
        assert_eq!(netdev, "unregister_netdevice: waiting for DEV to become free");
        let deadlock = of(
            "WARNING: possible circular locking dependency detected",
            &["syz-executor/123 is trying to acquire lock:", " (&pipe->mutex/1){+.+.}, at: [<ffffffff81>] pipe_lock+0x56/0x70"],
        );
        assert_eq!(deadlock, "possible deadlock in pipe_lock");
        assert_eq!(of("general protection fault: 0000 [#1] SMP", &["Modules linked in:"]), "general protection fault in corrupted");
    }

    #[test]
    fn what_varies_between_occurrences_leaves_the_title() {
        // syzkaller corpus 428 and 617.
        assert_eq!(of("BUG: KCSAN: data-race in e1000_clean_rx_irq+0x551/0xb10", &[]), "KCSAN: data-race in e1000_clean_rx_irq");
        assert_eq!(
            of("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", &[]),
            "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)"
        );
    }

    #[test]
    fn a_kasan_report_without_its_access_kind_is_titled_by_its_line() {
        // syzkaller corpus 104 (4.x: no `Read of size` line) and 79.
        let old = "BUG: KASAN: slab-out-of-bounds in gup_huge_pmd+0x739/0x770 at addr ffff8800b46111c0";
        assert_eq!(of(old, &["Call Trace:", " gup_huge_pmd+0x1/0x2"]), "KASAN: slab-out-of-bounds in gup_huge_pmd at addr ADDR");
        let part = "BUG: KASAN: use-after-free in do_con_write.part.23+0x1c50/0x1cb0 at addr ffff88000012c43a";
        assert_eq!(of(part, &[]), "KASAN: use-after-free in do_con_write.part.NUM at addr ADDR");
    }

    #[test]
    fn a_kmsan_report_is_titled_by_the_stack_under_its_first_line() {
        // syzkaller corpus 703: no `Call Trace:`, and crc32 is plumbing.
        let rest = [
            " crc32_le_base+0x43c/0xd80",
            " nilfs_add_checksums_on_logs+0xb2c/0xe70",
            " nilfs_segctor_do_construct+0x9d40/0xde70",
            "",
            "Uninit was created at:",
            " __alloc_pages+0x9a4/0xe00",
        ];
        let first = "BUG: KMSAN: uninit-value in crc32_le_base+0x43c/0xd80";
        assert_eq!(of(first, &rest), "KMSAN: uninit-value in nilfs_add_checksums_on_logs");
    }

    #[test]
    fn lockdep_and_dentry_reports_name_what_syzkaller_names() {
        // syzkaller corpus 466: the lock acquired is taken in workqueue plumbing, so the
        // lock already held names the deadlock.
        let rest = [
            "syz-executor.5/3699 is trying to acquire lock:",
            "ffff88803d3d5d28 ((wq_completion)wg-kex-wireguard1){+.+.}, at: flush_workqueue+0xe6/0x1520",
            "but task is already holding lock:",
            "ffff88805ffdce80 (&wg->static_identity.lock){++++}, at: wg_set_device+0xfb7/0x1490",
            "Call Trace:",
            " print_circular_bug+0x1/0x2",
        ];
        assert_eq!(of("WARNING: possible circular locking dependency detected", &rest), "possible deadlock in wg_set_device");
        // syzkaller corpus 87.
        let dentry = "BUG: Dentry ffff880175978600{i=8bb9,n=lo}  still in use (1) [unmount of proc proc]";
        assert_eq!(of(dentry, &[]), "BUG: Dentry still in use in unmount");
    }

    #[test]
    fn a_lockup_reads_its_own_stack_and_an_empty_stack_is_none() {
        // syzkaller corpus 265, trimmed: the panic's stack after the lockup's has its own
        // timer interrupt, which must not be taken for the lockup's.
        let rest = [
            "RIP: 0010:_raw_spin_unlock_irqrestore+0xa1/0xc0",
            "Call Trace:",
            " snd_virmidi_output_trigger+0x522/0x6c0",
            " snd_rawmidi_write+0x2e2/0xdc0",
            " vfs_write+0x1f8/0x560",
            "Kernel panic - not syncing: softlockup: hung tasks",
            "Call Trace:",
            " <IRQ>",
            " watchdog_timer_fn+0x1/0x2",
            " apic_timer_interrupt+0x1/0x2",
            " </IRQ>",
        ];
        assert_eq!(
            of("watchdog: BUG: soft lockup - CPU#1 stuck for 134s! [syz-executor2:10431]", &rest),
            "BUG: soft lockup in snd_rawmidi_write"
        );
        // syzkaller corpus 315: the double fault's own stack is empty, the panic's is not its.
        let df = [
            "RIP: 0010:trace_hardirqs_off_thunk+0xb/0x1c",
            "Call Trace:",
            "Kernel panic - not syncing: Machine halted.",
            "Call Trace:",
            " df_debug+0x32/0x32",
        ];
        assert_eq!(of("PANIC: double fault, error_code: 0x0", &df), "PANIC: double fault in corrupted");
    }

    #[test]
    fn a_stack_overflow_is_named_where_its_stack_was_entered() {
        // syzkaller corpus 330, trimmed: the frame above the worker's entry names it.
        let rest = [
            "Call Trace:",
            " dump_stack+0x1d3/0x2c6",
            " panic+0x2ad/0x55f",
            " __schedule+0x1ec6/0x1ed0",
            " retint_kernel+0x1b/0x2d",
            " rmap_walk+0x119/0x350",
            "syz-executor2 (20558) used greatest stack depth: 4808 bytes left",
            " shrink_node+0x3e1/0x17f0",
            " wb_writeback+0xa73/0xfc0",
            " wb_workfn+0xd65/0x1790",
            " process_one_work+0xc90/0x1c40",
        ];
        let first = "Kernel panic - not syncing: corrupted stack end detected inside scheduler";
        assert_eq!(of(first, &rest), "kernel panic: corrupted stack end in wb_workfn");
    }

    #[test]
    fn a_bad_page_is_titled_by_where_it_was_allocated() {
        // syzkaller corpus 725, trimmed: allocator frames skipped, then the caller.
        let rest = [
            "page last allocated via order 0, migratetype Unmovable, gfp_mask 0x40c40(GFP_NOFS|__GFP_COMP),",
            " post_alloc_hook+0x1f3/0x230",
            " get_page_from_freelist+0x2e4c/0x2f10",
            " __filemap_get_folio+0x44e/0xc10",
            " pagecache_get_page+0x2c/0x200",
            " __get_metapage+0x2b4/0x1050",
        ];
        let first = "BUG: Bad page state in process syz.0.16  pfn:4bd35";
        assert_eq!(of(first, &rest), "BUG: Bad page state in __get_metapage");
        assert_eq!(of(first, &rest[1..]), "BUG: Bad page state in corrupted", "no allocation stack, no frame");
    }
}
