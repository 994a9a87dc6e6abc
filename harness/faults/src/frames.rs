//! The guilty frame of a report: which function a title names (`WARNING in <frame>`).
//!
//! The kernel prints the same shape everywhere — a `RIP:`/`pc :` line, then a stack after
//! `Call Trace:` (or `backtrace:`, `Allocated by task N:`) with one `func+0xoff/0xsize` per
//! line — so one parser serves every class; what differs per class is where to start and
//! which frames are plumbing to skip (the reporting machinery, allocators, locks). The
//! skip lists and the stall and hang heuristics follow syzkaller's `pkg/report/linux.go`,
//! so titles group the way the kernel community's dashboards group them.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Where a class's guilty frame is looked for.
#[derive(Debug, Clone, Copy)]
pub enum Frames {
    /// The title names no frame.
    None,
    /// The function the first line names (`... in func+0x`) if the rule's start pattern
    /// captures one, then the faulting `RIP:` if `rip`, then the stack; the first frame
    /// not matching `skip` (nor the common skip list).
    Stack { rip: bool, skip: &'static [&'static str] },
    /// lockdep: the first two `at: func+0x` lines, then the stack.
    LockAt { skip: &'static [&'static str] },
    /// RCU stall: the frame just above the first entry point (syscall, workqueue, timer) on
    /// the interrupted stack: where the CPU was looping.
    Stall,
    /// Soft lockup, stack overflow: the same, on the stack of the `RIP:` (if `rip`) and the
    /// `Call Trace:` (a panic's stack after it, with its own timer interrupt, is not the
    /// lockup's): a loop or a recursion is named by where it was entered.
    Entered { rip: bool, skip: &'static [&'static str] },
    /// Hung task: the first frame that is not scheduling or waiting; `rtnl_lock` and
    /// `synchronize_rcu` stand for the lock a whole class of hangs waits on.
    Hang,
    /// A slab object's owner: the function of SLUB's `Allocated in func+0x` line, then the
    /// allocation stack under it (stack depot), then the stack.
    Allocated { skip: &'static [&'static str] },
    /// The first group of this pattern on a following line (`last function: (\w+)`).
    Named(&'static str),
    /// The stack right after the first line containing `after` (a bad page's `page last
    /// allocated`: no such line, no frame), or, with none, right after the report's first
    /// line (KMSAN prints no `Call Trace:`); up to the next stack.
    Following { after: Option<&'static str>, skip: &'static [&'static str] },
}

/// Frames common to every stack that never name the bug (syzkaller's list, abridged).
const COMMON_SKIP: &[&str] = &[
    "__sanitizer",
    "__asan",
    "kasan",
    "hwasan",
    "__msan",
    "kmsan",
    "kcsan_setup_watchpoint",
    "check_memory_region",
    "check_heap_object",
    "check_object",
    "read_word_at_a_time",
    "(read|write)_once_.*nocheck",
    "print_address_description",
    "panic",
    "invalid_op",
    "report_bug",
    "fixup_bug",
    "print_report",
    "print_usage_bug",
    "do_error",
    "_trap$|do_trap",
    "show_stack",
    "dump_stack",
    "walk_stack",
    "dump_backtrace",
    "warn_slowpath",
    "warn_alloc",
    "warn_bogus",
    "__warn",
    "alloc_page",
    "k?v?(?:m|z|c)alloc",
    "krealloc",
    "kmem_cache",
    "allocate_slab",
    "folio_(?:alloc|unlock)",
    "filemap_alloc_folio",
    "__filemap_get_folio",
    "find_or_create_page",
    "do_read_cache_folio",
    "read_cache_page",
    "pagecache_get_page",
    "grab_cache_page_write_begin",
    "slab_",
    "debug_object",
    "timer_is_static_object",
    "work_is_static_object",
    "__might_fault",
    "print_unlock",
    "imbalance_bug",
    "lockdep",
    "bh_enable",
    "bh_disable",
    "perf_trace",
    "lock_acquire",
    "lock_release",
    "lock_class",
    "mark_lock",
    "(reacquire|mark)_held_locks",
    "raw_spin_rq",
    "spin_lock",
    "spin_trylock",
    "spin_unlock",
    "read_lock",
    "read_trylock",
    "write_lock",
    "write_trylock",
    "read_unlock",
    "write_unlock",
    "^down$",
    "down_read",
    "down_write",
    "down_trylock",
    "up_read",
    "up_write",
    "^mutex_",
    "^__mutex_",
    "^rt_mutex_",
    "owner_on_cpu",
    "osq_lock",
    "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit",
    "__wake_up",
    "ksys_",
    "^refcount_",
    "^kref_",
    "ref_tracker",
    "seqprop_assert",
    "memcpy",
    "memcmp",
    "memset",
    "memchr",
    "memmove",
    "memdup",
    "strcmp",
    "strncmp",
    "strcpy",
    "strlcpy",
    "strncpy",
    "strscpy",
    "strlen",
    "strstr",
    "strnstr",
    "strnlen",
    "strchr",
    "strdup",
    "strndup",
    "copy_to_user",
    "copy_from_user",
    "copy_to_iter",
    "copy_from_iter",
    "copy_page_to_iter",
    "copy_page_from_iter",
    "copy_folio_to_iter",
    "^copyin$",
    "^copyout$",
    "put_user",
    "get_user",
    "might_fault",
    "might_sleep",
    "list_add",
    "list_del",
    "list_replace",
    "list_move",
    "list_splice",
    "^rb_",
    "^__rb_",
    "_indirect_thunk_",
    "string",
    "pointer",
    "snprintf",
    "scnprintf",
    "kasprintf",
    "kvasprintf",
    "printk",
    "va_format",
    "dev_info",
    "dev_notice",
    "dev_warn",
    "dev_err",
    "dev_alert",
    "dev_crit",
    "dev_emerg",
    "program_check_exception",
    "program_check_common",
    "del_timer",
    "flush_work",
    "__cancel_work_timer",
    "cancel_work_sync",
    "try_to_grab_pending",
    "flush_workqueue",
    "drain_workqueue",
    "destroy_workqueue",
    "queue_work",
    "finish_wait",
    "kthread_stop",
    "kobject_",
    "add_uevent_var",
    "get_device_parent",
    "device_add",
    "device_del",
    "device_unregister",
    "device_destroy",
    "device_release",
    "devres_release_all",
    "hwrng_unregister",
    "i2c_del_adapter",
    "__unregister_client",
    "device_for_each_child",
    "rollback_registered",
    "unregister_netdev",
    "sysfs_remove",
    "device_remove_file",
    "tty_unregister_device",
    "dummy_urb_enqueue",
    "usb_kill_urb",
    "usb_kill_anchored_urbs",
    "usb_control_msg",
    "usb_hcd_submit_urb",
    "usb_submit_urb",
    "^complete$",
    "wait_for_completion",
    "^kv?free$",
    "kfree_skb",
    "readb$",
    "readw$",
    "readl$",
    "readq$",
    "writeb$",
    "writew$",
    "writel$",
    "writeq$",
    "logic_in",
    "logic_out",
    "^crc\\d+",
    "crc_itu_t",
    "__might_resched",
    "assertfail",
    "^iput$",
    "^iput_final$",
    "^ihold$",
    "hex_dump_to_buffer",
    "print_hex_dump",
    "^klist_",
    "(trace|lockdep)_(hard|soft)irq",
    "^(un)?lock_page",
    "stack_trace_consume_entry",
    "arch_stack_walk",
    "stack_trace_save",
    "insert_work",
    "__queue_delayed_work",
    "queue_delayed_work_on",
    "ida_free",
    "do_(kernel|translation)_fault",
    "do_mem_abort",
    "el1_abort",
    "el1h_64_sync(?:_handler)?",
    "print_tainted",
    "xas_(?:start|load|find)",
    "find_lock_entries",
    "truncate_inode_pages_range",
    "__phys_addr",
    "__fortify_report",
    "cleanup_srcu_struct",
    "rhashtable_lookup",
    "extract_(user|iter)_to_sg",
    "drop_nlink",
    "^get_taint$",
    "^put_device$",
    "lock_timer_base",
    "__timer_delete_sync",
    "sk_stop_timer_sync",
    "__mod_timer",
    "fast_dput",
    "dput",
    "mark_buffer_dirty",
    "should_fail",
];

/// Syscall wrappers' prefixes: `__x64_sys_rmdir` is titled `sys_rmdir`, `compat_SyS_mount`
/// `mount`, `__se_sys_mremap` `mremap`: the one that leaves the shortest name is taken off.
const STRIP_PREFIXES: &[&str] = &[
    "SYSC_",
    "SyS_",
    "sys_",
    "__x64_",
    "__ia32_",
    "__arm64_",
    "____sys_",
    "___sys_",
    "__sys_",
    "__se_",
    "__se_sys_",
    "__do_sys_",
    "compat_SYSC_",
    "compat_SyS_",
    "ksys_",
];

/// Entry points: a stall's representative frame is the one just above the first of these.
const STALL_ANCHORS: &[&str] = &[
    "process_one_work",
    "do_syscall_",
    "do_fast_syscall_",
    "sysenter_dispatch",
    "tracesys_phase2",
    "el0_svc_handler",
    "invoke_syscall",
    "ret_fast_syscall",
    "netif_receive_skb",
    "do_softirq",
    "call_timer_fn",
    "_run_timers",
    "run_timer_softirq",
    "hrtimer_run",
    "run_ksoftirqd",
    "smpboot_thread_fn",
    "^kthread$",
    "start_secondary",
    "cpu_startup_entry",
    "ret_from_fork",
    "vfs_write",
    "vfs_read",
    "vfs_iter_read",
    "vfs_iter_write",
    "do_iter_read",
    "do_iter_write",
    "call_read_iter",
    "call_write_iter",
    "new_sync_read",
    "new_sync_write",
    "vfs_ioctl",
    "ksys_ioctl",
    "compat_ioctl",
    "compat_sys_ioctl",
    "blkdev_driver_ioctl",
    "blkdev_ioctl",
    "do_iter_readv_writev",
    "^call_mmap",
    "mmap_region",
    "do_mmap",
    "do_dentry_open",
    "vfs_open",
    "^sock_sendmsg",
    "^sock_recvmsg",
    "^sock_release",
    "^__sock_release",
    "^setsockopt$",
    "kernel_setsockopt",
    "sock_common_setsockopt",
    "^listen$",
    "kernel_listen",
    "sk_common_release",
    "^sock_mmap",
    "^accept$",
    "kernel_accept",
    "^sock_do_ioctl",
    "^sock_ioctl",
    "^compat_sock_ioctl",
    "^nfnetlink_rcv_msg",
    "^rtnetlink_rcv_msg",
    "^netlink_dump",
    "^(sys_)?(socketpair|connect|ioctl)",
    "__do_fault",
    "do_page_fault",
    "^page_fault$",
    "__fput",
    "task_work_run",
    "exit_to_usermode",
    "smp_call_function",
    "tasklet_action",
    "tasklet_hi_action",
];

/// Hung-task frames that only say the task waits.
const HANG_SKIP: &[&str] = &[
    "sched",
    "_lock",
    "_slowlock",
    "down",
    "rwsem",
    "completion",
    "kthread",
    "wait",
    "synchronize",
    "context_switch",
    "__switch_to",
    "cancel_delayed_work",
    "rcu_barrier",
];

/// A stack line: x86 and arm64 (` func+0x1/0x2`, `[<ffff>] func+0x`), ppc64 (`[c000...]
/// [c000...] func+0x`, `.func` under the ELFv1 ABI), s390 (` [<0000...>] func+0x`), and
/// 3.x x86's first frame of an interrupt stack (` <IRQ>  [<ffff...>] func+0x`).
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:<(?:IRQ|EOI|NMI|TASK)>\s*)?(?:\[<?(?:0x)?[0-9a-f]+>?\]\s*){0,2}\.?([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x")
        .expect("frame")
});
/// arm's unwinder: `[<8016>] (callee) from [<8163>] (caller+0x88/0x3a0)`, both frames.
static ARM_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\[<?(?:0x)?[0-9a-f]+>?\] \(([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\) from \[<?(?:0x)?[0-9a-f]+>?\] \(([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x")
        .expect("arm frame")
});
/// The faulting instruction: x86's `RIP: 0010:f+0x`, ppc64's `NIP [c000...] f+0x`, arm64's
/// `pc : f+0x` (`PC is at f+0x` before 4.x), s390's `Krnl PSW : <mask> <addr> (f+0x`.
static RIP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|\s)(?:(?:RIP|IP|NIP|pc ?|PC is at):? ?(?:[0-9]+:)?|Krnl PSW : (?:0x)?[0-9a-f]+ (?:0x)?[0-9a-f]+ \()(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){0,2}\.?([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x",
    )
    .expect("rip")
});
static ALLOCATED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Allocated in \.?([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x").expect("allocated in"));
static STACK_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Call [Tt]race|Allocated(?: by task \d+)?:|Freed(?: by task \d+)?:|[^k] backtrace(?: \(crc [[:xdigit:]]*\))?:|^backtrace:|Backtrace:")
        .expect("stack start")
});
static LOCK_AT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"at: (?:\[<?(?:0x)?[0-9a-f]+>?\]\s+)?([a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x").expect("lock at"));
static STALL_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"apic_timer_interrupt|Exception stack|el1h_64_irq").expect("stall start"));
static COMMON: LazyLock<RegexSet> = LazyLock::new(|| RegexSet::new(COMMON_SKIP).expect("common skip"));
static ANCHORS: LazyLock<RegexSet> = LazyLock::new(|| RegexSet::new(STALL_ANCHORS).expect("stall anchors"));

/// The function of a stack line (`  foo+0x12/0x40`, `[<ffff>] foo+0x12/0x40`); a `? ` frame
/// (unreliable) is not one.
pub fn frame(msg: &str) -> Option<&str> {
    FRAME.captures(msg).map(|c| c.get(1).expect("group").as_str())
}

/// The function of the faulting instruction (`RIP: 0010:foo+0x1/0x2`, arm64's `pc : foo+0x`);
/// user space (`RIP: 0033:`) is no kernel frame.
pub fn rip(msg: &str) -> Option<&str> {
    if msg.contains("RIP: 0033:") {
        return None;
    }
    RIP.captures(msg).map(|c| c.get(1).expect("group").as_str())
}

/// The frames of the first stack in `msgs` (the lines after the report's first line).
fn stack<'a>(msgs: &[&'a str]) -> Vec<&'a str> {
    let Some(start) = msgs.iter().position(|m| STACK_START.is_match(m)) else { return Vec::new() };
    let mut out = Vec::new();
    for m in &msgs[start + 1..] {
        if let Some(f) = frame(m) {
            out.push(f);
        } else if let Some(c) = ARM_FRAME.captures(m) {
            out.extend([1, 2].map(|i| c.get(i).expect("group").as_str()));
        } else if STACK_START.is_match(m) || !out.is_empty() && (m.starts_with("---[ end") || m.is_empty()) {
            // An empty stack then another (a double fault's, a panic's) is no stack.
            break;
        }
    }
    out
}

fn skipped(f: &str, skip: &RegexSet) -> bool {
    COMMON.is_match(f) || skip.is_match(f)
}

/// A rule's own skip list, compiled (once per rule, by the table).
pub fn skip_set(how: Frames) -> RegexSet {
    let list: &[&str] = match how {
        Frames::Stack { skip, .. }
        | Frames::LockAt { skip }
        | Frames::Following { skip, .. }
        | Frames::Entered { skip, .. }
        | Frames::Allocated { skip } => skip,
        Frames::Stall => &["apic_timer_interrupt", "rcu"],
        _ => &[],
    };
    RegexSet::new(list).expect("skip list")
}

/// The guilty frame for `how`, given the function the first line names (if any) and the
/// report's following lines, without a syscall wrapper's prefix.
pub fn guilty<'a>(how: Frames, skip: &RegexSet, inline: Option<&'a str>, msgs: &[&'a str]) -> Option<&'a str> {
    find(how, skip, inline, msgs).map(strip_prefix)
}

fn strip_prefix(f: &str) -> &str {
    STRIP_PREFIXES.iter().filter_map(|p| f.strip_prefix(p).filter(|r| !r.is_empty())).min_by_key(|r| r.len()).unwrap_or(f)
}

fn find<'a>(how: Frames, skip: &RegexSet, inline: Option<&'a str>, msgs: &[&'a str]) -> Option<&'a str> {
    match how {
        Frames::None => None,
        Frames::Stack { rip: with_rip, .. } => {
            inline.into_iter().chain(rip_if(with_rip, msgs)).chain(stack(msgs)).find(|f| !skipped(f, skip))
        }
        Frames::LockAt { .. } => {
            // The lock acquired, then the one held (when the first is workqueue plumbing).
            let ats = msgs.iter().enumerate().filter_map(|(i, m)| lock_at(m, msgs.get(i + 1))).take(2);
            ats.chain(stack(msgs)).find(|f| !skipped(f, skip))
        }
        Frames::Stall => {
            // The interrupted context: after the timer interrupt's entry, if the report has it.
            let from = msgs.iter().position(|m| STALL_START.is_match(m)).map_or(0, |i| i + 1);
            let after = &msgs[from..];
            let rip_frame = after.iter().find_map(|m| rip(m));
            let frames: Vec<&str> = if from > 0 {
                rip_frame.into_iter().chain(after.iter().filter_map(|m| frame(m))).collect()
            } else {
                rip_frame.into_iter().chain(stack(after)).collect()
            };
            entered(frames, skip)
        }
        Frames::Entered { rip: with_rip, .. } => entered(rip_if(with_rip, msgs).into_iter().chain(stack(msgs)), skip),
        // The common plumbing goes first, as for every stack (`__flush_work`, `usb_control_msg`).
        Frames::Hang => hang(&stack(msgs).into_iter().filter(|f| !skipped(f, skip)).collect::<Vec<_>>()),
        Frames::Following { after, .. } => {
            let from = match after {
                Some(after) => msgs.iter().position(|m| m.contains(after))? + 1,
                None => 0,
            };
            // Up to the next stack; other lines (interleaved output) are passed over.
            let rest = msgs[from..].iter().take_while(|m| !STACK_START.is_match(m));
            rest.filter_map(|m| frame(m)).find(|f| !skipped(f, skip))
        }
        Frames::Allocated { .. } => owner(msgs).into_iter().chain(stack(msgs)).find(|f| !skipped(f, skip)),
        Frames::Named(pattern) => {
            let re = Regex::new(pattern).ok()?;
            msgs.iter().find_map(|m| re.captures(m).and_then(|c| c.get(1)).map(|g| g.as_str()))
        }
    }
}

/// The function of the first `Allocated in` line, then the stack depot's frames under it.
fn owner<'a>(msgs: &[&'a str]) -> Vec<&'a str> {
    let Some(at) = msgs.iter().position(|m| ALLOCATED.is_match(m)) else { return Vec::new() };
    let func = ALLOCATED.captures(msgs[at]).map(|c| c.get(1).expect("group").as_str());
    func.into_iter().chain(msgs[at + 1..].iter().map_while(|m| frame(m))).collect()
}

/// The function of a lockdep `at:` line: on it (`..., at: func+0x`), or on the next when the
/// line ends there (`is trying to release lock (x) at:` then `[<ffff...>] func+0x`).
fn lock_at<'a>(m: &'a str, next: Option<&&'a str>) -> Option<&'a str> {
    match LOCK_AT.captures(m) {
        Some(c) => Some(c.get(1).expect("group").as_str()),
        None if m.trim_end().ends_with(" at:") => next.and_then(|n| frame(n)),
        None => None,
    }
}

/// The faulting `RIP:` frame, when the rule reads it.
fn rip_if<'a>(with_rip: bool, msgs: &[&'a str]) -> Option<&'a str> {
    if with_rip {
        msgs.iter().find_map(|m| rip(m))
    } else {
        None
    }
}

/// Of `frames` (plumbing passed over), where the looping or recursing code was entered, else
/// the first.
fn entered<'a>(frames: impl IntoIterator<Item = &'a str>, skip: &RegexSet) -> Option<&'a str> {
    let frames: Vec<&str> = frames.into_iter().filter(|f| !skipped(f, skip)).collect();
    stall(&frames).or_else(|| frames.first().copied())
}

fn stall<'a>(frames: &[&'a str]) -> Option<&'a str> {
    let mut prev = *frames.first()?;
    for f in frames {
        if ANCHORS.is_match(f) {
            return Some(if f.contains("smp_call_function") { "smp_call_function" } else { prev });
        }
        prev = f;
    }
    None
}

fn hang<'a>(frames: &[&'a str]) -> Option<&'a str> {
    for f in frames {
        if f.contains("rtnl_lock") {
            return Some(f);
        }
        if ["synchronize_rcu", "synchronize_srcu", "synchronize_net", "synchronize_sched"].iter().any(|a| f.contains(a)) {
            return Some("synchronize_rcu");
        }
    }
    frames.iter().copied().find(|f| !HANG_SKIP.iter().any(|s| f.contains(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_lines_of_every_shape_give_their_function() {
        assert_eq!(frame(" dump_stack_lvl+0x33/0x46"), Some("dump_stack_lvl"));
        assert_eq!(frame(" [<ffffffff8100d4a5>] ip_del_fnhe.isra.0+0x5a/0x130"), Some("ip_del_fnhe"));
        assert_eq!(frame(" ? __schedule+0x1/0x2"), None, "unreliable frames do not count");
        assert_eq!(rip("RIP: 0010:netdev_run_todo+0x2e/0x300"), Some("netdev_run_todo"));
        assert_eq!(rip("RIP: 0033:0x7f00"), None);
        assert_eq!(rip("pc : __list_del_entry_valid+0x90/0xc0"), Some("__list_del_entry_valid"));
        // syzkaller corpus 622 and 738: the prefix leaving the shortest name goes.
        assert_eq!(strip_prefix("__se_sys_memfd_secret"), "memfd_secret");
        assert_eq!(strip_prefix("__x64_sys_mremap"), "sys_mremap");
    }

    #[test]
    fn a_warning_names_the_faulting_function_and_a_hang_what_it_waits_on() {
        // Shapes from this lab's 6.1 guest (LKDTM WARNING) and syzbot's hung-task reports.
        let warn = ["Modules linked in:", "RIP: 0010:lkdtm_WARNING+0x1b/0x30", "Call Trace:", " <TASK>", " lkdtm_do_action+0x10/0x20"];
        let of = |how: Frames, msgs: &[&'static str]| guilty(how, &skip_set(how), None, msgs).map(str::to_string);
        assert_eq!(of(Frames::Stack { rip: true, skip: &[] }, &warn).as_deref(), Some("lkdtm_WARNING"));
        let hung = [
            "Call Trace:",
            " __schedule+0x1/0x2",
            " schedule+0x1/0x2",
            " rwsem_down_write_slowpath+0x1/0x2",
            " rtnl_lock+0x1/0x2",
            " register_netdevice_notifier+0x1/0x2",
        ];
        assert_eq!(of(Frames::Hang, &hung).as_deref(), Some("rtnl_lock"));
        let leak = ["backtrace:", "  [<ffffffff81>] kmalloc_trace+0x1/0x2", "  [<ffffffff82>] rt_bind_exception+0x1/0x2"];
        assert_eq!(of(Frames::Stack { rip: false, skip: &["kmemleak", "alloc"] }, &leak).as_deref(), Some("rt_bind_exception"));
    }

    #[test]
    fn a_hang_passes_over_the_common_plumbing_too() {
        // syzkaller corpus 446, trimmed: __flush_work and cancel_delayed_work_sync only wait.
        let hung = [
            "Call Trace:",
            " __schedule+0x86c/0x1ed0",
            " wait_for_completion+0x427/0x8a0",
            " __flush_work+0x59c/0x9b0",
            " __cancel_work_timer+0x4ba/0x820",
            " cancel_delayed_work_sync+0x1a/0x20",
            " tls_sw_free_resources_tx+0x1df/0xcf0",
        ];
        assert_eq!(guilty(Frames::Hang, &skip_set(Frames::Hang), None, &hung), Some("tls_sw_free_resources_tx"));
    }

    #[test]
    fn an_arm_backtrace_gives_callee_and_caller() {
        // syzkaller corpus 567 (arm, 5.10): kthread_stop is plumbing, its caller is guilty.
        let arm = [
            "PC is at kthread_stop+0x60/0x524",
            "Backtrace: ",
            "[<801654a4>] (kthread_stop) from [<8163f8d8>] (vhci_shutdown_connection+0x88/0x3a0)",
            " r7:83675be0 r6:843d38dc r5:83675bbc r4:84a90358",
            "[<8163f850>] (vhci_shutdown_connection) from [<8163b930>] (event_handler+0xd0/0x1c0)",
        ];
        let how = Frames::Stack { rip: true, skip: &[] };
        assert_eq!(guilty(how, &skip_set(how), None, &arm), Some("vhci_shutdown_connection"));
    }
}
