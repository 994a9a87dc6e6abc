//! The table of report starts: which kernel line opens a fault report, its class, whether the
//! kernel dies of it, and how its title is built — modelled on syzkaller's `linuxOopses`
//! (`pkg/report/linux.go`), written anew for the lab.
//!
//! Compiled once: a single search for the table's keywords runs over every line (one
//! `RegexSet` of all start patterns measured 11-19 MB/s; the keyword gate 111 MB/s), and only
//! a line holding a keyword tries the rules that contain it. The first rule in table order
//! that matches wins, so the specific forms stand before the general ones; a unit test
//! checks that every rule holds a keyword, so the gate hides none.
//!
//! Title templates: `{1}`.. are the start pattern's groups, `{frame}` the guilty frame
//! ([`crate::frames`]), `{access}` the `Read`/`Write` of a KASAN report, `{kind}` a slab
//! report's `kind` group as [`crate::slab::kind`] words it, `{what}` the named group `what`.
//! Patterns may use `{FUNC}` (a function named on the line, the named group `func`), `{SRC}`
//! (`file.c:12`), `{CACHE}` (a slab cache's name) and `{TAINT}` (`(Not tainted)`, `(Tainted: G B)`).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet};

use crate::frames::Frames;
use crate::FaultClass as C;

/// One kind of report start.
pub struct Rule {
    pub start: &'static str,
    pub class: C,
    /// The kernel dies of it (or is about to): the run stops at once.
    pub fatal: bool,
    pub title: &'static str,
    pub frames: Frames,
    /// A line that continues the report already open (the `Oops:` after `BUG: unable to
    /// handle`, the panic after a WARNING under `panic_on_warn`) rather than starting one.
    pub follows: bool,
    /// Matched at the message's start only (the catch-alls: a `BUG:` inside a sentence is
    /// not a report); the others also after other text on the line, as consoles interleave
    /// (`syzkaller login: [ 16.3] INFO: ...`, `** 93 printk messages dropped ** ...`).
    pub anchored: bool,
}

const fn rule(start: &'static str, class: C, fatal: bool, title: &'static str, frames: Frames) -> Rule {
    Rule { start, class, fatal, title, frames, follows: false, anchored: false }
}

const fn stack(skip: &'static [&'static str]) -> Frames {
    Frames::Stack { rip: false, skip }
}

const fn rip(skip: &'static [&'static str]) -> Frames {
    Frames::Stack { rip: true, skip }
}

/// KMSAN's stack follows its first line, without `Call Trace:`.
const fn kmsan(skip: &'static [&'static str]) -> Frames {
    Frames::Following { after: None, skip }
}

const LOCK: Frames = Frames::LockAt { skip: &["process_one_work", "flush_workqueue", "drain_workqueue", "destroy_workqueue"] };
const NONE: Frames = Frames::None;
const UBSAN_SKIP: &[&str] = &["ubsan", "overflow"];
const LEAK_SKIP: &[&str] = &[
    "kmemleak",
    "mmap",
    "kmem",
    "slab",
    "alloc",
    "create_object",
    "idr_get",
    "list_lru_init",
    "kasprintf",
    "kvasprintf",
    "pcpu_create",
    "strdup",
    "strndup",
    "memdup",
];

/// The slab debuggers' own machinery and the allocator's entry points: never the bug.
const SLAB_SKIP: &[&str] = &[
    "check_bytes_and_report",
    "alloc_debug_processing",
    "free_debug_processing",
    "free_to_partial_list",
    "on_freelist",
    "object_err",
    "slab_err",
    "slab_bug",
    "print_trailer",
    "list_slab_objects",
    "free_partial",
    "kmem_cache_close",
    "shutdown_cache",
    "validate_slab",
    "cache_free_debugcheck",
    "verify_redzone_free",
    "cache_alloc_debugcheck",
    "check_poison_obj",
    "slab_put_obj",
    "free_block",
    "cache_flusharray",
    "___cache_free",
    "cache_alloc_refill",
    "kfree",
    "rcu_do_batch",
    "rcu_core",
];

/// The table, specific forms first.
pub static RULES: &[Rule] = &[
    // Sanitizers.
    rule(
        r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {FUNC}",
        C::Kasan,
        false,
        "KASAN: invalid-free in {frame}",
        stack(&["slab_", "kfree", "vunmap", "vfree"]),
    ),
    rule(
        r"BUG: KASAN: ([a-z\-]+) in {FUNC}",
        C::Kasan,
        false,
        "KASAN: {1} {access} in {frame}",
        stack(&["kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"]),
    ),
    rule(r"BUG: KASAN: ([a-z\-]+) on address", C::Kasan, false, "KASAN: {1} {access}", NONE),
    rule(r"BUG: KASAN: (.*)", C::Kasan, false, "KASAN: {1}", NONE),
    rule(
        r"BUG: KMSAN: kernel-usb-infoleak",
        C::Kmsan,
        false,
        "KMSAN: kernel-usb-infoleak in {frame}",
        kmsan(&["alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg"]),
    ),
    rule(
        r"BUG: KMSAN: ([a-z\-]+) in {FUNC}",
        C::Kmsan,
        false,
        "KMSAN: {1} in {frame}",
        // Generic crypto is where uninit data is hit, not the bug.
        kmsan(&["alloc_skb", "netlink_ack", "netlink_rcv_skb", "_encrypt$", "^(?:crypto|cipher|drbg|rng)_"]),
    ),
    rule(r"BUG: KCSAN: (.*)", C::Kcsan, false, "KCSAN: {1}", NONE),
    rule(r"BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {FUNC}", C::Kfence, false, "KFENCE: {1} {2} in {frame}", stack(&[])),
    rule(
        r"BUG: KFENCE: (invalid free|invalid read|invalid write|memory corruption) in {FUNC}",
        C::Kfence,
        false,
        "KFENCE: {1} in {frame}",
        stack(&[]),
    ),
    // The slab allocators' own debugging. SLUB's `slab_bug()` (6.x: `BUG <cache> (<taint>):
    // <what>`, 3.x: `BUG <cache>: <what>`); an overwrite is named by the object's owner
    // (`Allocated in`), the rest by the stack that freed or destroyed.
    rule(
        r"BUG {CACHE}(?: {TAINT})?: (?P<kind>(?:Left |Right |End |Object )?(?:Redzone|Poison|[Pp]adding) overwritten|Free(?:pointer|chain) corrupt)",
        C::Slab,
        false,
        "SLUB: {kind} in {frame}",
        Frames::Allocated { skip: SLAB_SKIP },
    ),
    rule(r"BUG {CACHE} {TAINT}: (?P<kind>.+)", C::Slab, false, "SLUB: {kind} in {frame}", stack(SLAB_SKIP)),
    rule(
        r"BUG {CACHE}: (?P<kind>Object already free|Objects remaining|Invalid object pointer|Wrong (?:number of objects|object count)|Not a valid slab page|Attempt to free object|Freelist Pointer check fails|Slab has \d+ allocated objects|Bulk free expected|(?:objects|inuse) \d+ > max)",
        C::Slab,
        false,
        "SLUB: {kind} in {frame}",
        stack(SLAB_SKIP),
    ),
    // SLAB's (`CONFIG_DEBUG_SLAB`): `slab_error()`, a poison check, a double free.
    rule(r"slab error in [a-z_]+\(\): cache `[^']*': (?P<kind>.+)", C::Slab, false, "SLAB: {kind} in {frame}", stack(SLAB_SKIP)),
    rule(
        r"Slab corruption {TAINT}: \S+ start=",
        C::Slab,
        false,
        "SLAB: slab corruption in {frame}",
        Frames::Named(r"Last user: (?:\[<?[0-9a-f]+>?\])?\(\.?([a-zA-Z0-9_]+)"),
    ),
    rule(r"slab: double free detected in cache '", C::Slab, false, "SLAB: double free in {frame}", stack(SLAB_SKIP)),
    rule(r"UBSAN: Undefined behaviour in", C::Ubsan, false, "UBSAN: undefined-behaviour in {frame}", stack(UBSAN_SKIP)),
    rule(r"UBSAN: array-index-out-of-bounds in", C::Ubsan, false, "UBSAN: array-index-out-of-bounds in {frame}", stack(UBSAN_SKIP)),
    rule(r"UBSAN: (.*?) in", C::Ubsan, false, "UBSAN: {1} in {frame}", stack(UBSAN_SKIP)),
    // The CPU trapped.
    rule(
        r"BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)",
        C::Oops,
        true,
        "BUG: unable to handle kernel paging request in {frame}",
        rip(&[]),
    ),
    rule(
        r"BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)",
        C::Oops,
        true,
        "BUG: unable to handle kernel NULL pointer dereference in {frame}",
        rip(&[]),
    ),
    rule(r"BUG: (?:unable to handle kernel|Unable to handle kernel)", C::Oops, true, "BUG: unable to handle kernel", NONE),
    rule(
        r"Unable to handle kernel (paging request|NULL pointer dereference|access to user memory|pointer dereference|execute from non-executable memory|write to read-only memory)",
        C::Oops,
        true,
        "BUG: unable to handle kernel {1} in {frame}",
        rip(&[]),
    ),
    rule(r"general protection fault", C::Oops, true, "general protection fault in {frame}", rip(&[])),
    // s390's `die()`: `<what>: <code> ilc:<n> [#<n>]` (`Oops`, `illegal operation`, `monitor
    // event` for BUG()); after `Unable to handle kernel` or `kernel BUG at` it continues them.
    Rule {
        follows: true,
        ..rule(r"(?P<what>[A-Za-z][a-z ]*[a-z]): [0-9a-f]{4} ilc:\d+ \[#\d+\]", C::Oops, true, "{what} in {frame}", rip(&[]))
    },
    rule(r"stack segment: ", C::Oops, true, "stack segment fault in {frame}", rip(&[])),
    rule(r"divide[ _]error: ", C::Oops, true, "divide error in {frame}", rip(&[])),
    // x86's BUG() traps with ud2: after `kernel BUG at` it continues that report.
    Rule { follows: true, ..rule(r"invalid opcode: ", C::Oops, true, "invalid opcode in {frame}", rip(&[])) },
    rule(r"int3: ", C::Oops, true, "int3 in {frame}", rip(&[])),
    rule(r"PANIC: double fault", C::Oops, true, "PANIC: double fault in {frame}", rip(&[])),
    rule(
        r"BUG: .*stack guard page was hit at",
        C::Oops,
        true,
        "BUG: stack guard page was hit in {frame}",
        Frames::Entered { rip: true, skip: &[] },
    ),
    // arm's oops line: after `Unable to handle kernel` or `Unhandled fault:` it continues that report.
    Rule { follows: true, ..rule(r"Internal error: ", C::Oops, true, "Internal error in {frame}", rip(&[])) },
    rule(r"Alignment trap: ", C::Oops, true, "Alignment trap in {frame}", rip(&[])),
    rule(r"Unhandled fault: ", C::Oops, true, "Unhandled fault in {frame}", rip(&[])),
    // Stalls and lockups.
    rule(r"BUG: soft lockup", C::SoftLockup, true, "BUG: soft lockup in {frame}", Frames::Entered { rip: true, skip: &[] }),
    rule(
        r"INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall",
        C::Stall,
        false,
        "INFO: rcu detected stall in {frame}",
        Frames::Stall,
    ),
    rule(r"BUG: workqueue lockup", C::Stall, false, "BUG: workqueue lockup", NONE),
    rule(
        r"INFO: task \S+ blocked (?:in I/O wait )?for more than \d+ seconds",
        C::HungTask,
        true,
        "INFO: task hung in {frame}",
        Frames::Hang,
    ),
    rule(r"INFO: task \S+ can't die for more than .* seconds", C::HungTask, false, "INFO: task can't die in {frame}", stack(&["schedule"])),
    // lockdep.
    rule(r"(?:WARNING|INFO): possible circular locking dependency detected", C::Lockdep, false, "possible deadlock in {frame}", LOCK),
    rule(r"(?:WARNING|INFO): possible irq lock inversion dependency detected", C::Lockdep, false, "possible deadlock in {frame}", LOCK),
    rule(r"(?:WARNING|INFO): .*-safe -> .*-unsafe lock order detected", C::Lockdep, false, "possible deadlock in {frame}", LOCK),
    rule(r"(?:WARNING|INFO): possible recursive locking detected", C::Lockdep, false, "possible deadlock in {frame}", LOCK),
    // Old kernels' (`[ INFO: ... ]`) are named by the `at:` line, new ones by their stack.
    rule(r"INFO: inconsistent lock state", C::Lockdep, false, "inconsistent lock state in {frame}", LOCK),
    rule(r"WARNING: inconsistent lock state", C::Lockdep, false, "inconsistent lock state in {frame}", stack(&[])),
    rule(
        r"(WARNING|INFO): suspicious (?:RCU|rcu_dereference_check\(\)) usage",
        C::Lockdep,
        false,
        "{1}: suspicious RCU usage in {frame}",
        stack(&["rcu", "kmem", "slab"]),
    ),
    rule(
        r"INFO: trying to register non-static key",
        C::Lockdep,
        false,
        "INFO: trying to register non-static key in {frame}",
        stack(&["stack", "lock", "IRQ"]),
    ),
    rule(
        r"(BUG|WARNING): .*still has locks held!",
        C::Lockdep,
        false,
        "{1}: still has locks held in {frame}",
        Frames::LockAt { skip: &[] },
    ),
    rule(
        r"(BUG|WARNING): lock held when returning to user space",
        C::Lockdep,
        false,
        "{1}: lock held when returning to user space in {frame}",
        Frames::LockAt { skip: &[] },
    ),
    rule(
        r"(BUG|WARNING): bad unlock balance detected!",
        C::Lockdep,
        false,
        "{1}: bad unlock balance in {frame}",
        Frames::LockAt { skip: &[] },
    ),
    rule(r"(BUG|WARNING): held lock freed!", C::Lockdep, false, "{1}: held lock freed in {frame}", Frames::LockAt { skip: &[] }),
    rule(
        r"(?:BUG|WARNING): bad contention detected!",
        C::Lockdep,
        false,
        "WARNING: bad contention in {frame}",
        Frames::LockAt { skip: &[] },
    ),
    rule(r"WARNING: chain_key collision", C::Lockdep, false, "WARNING: chain_key collision in {frame}", stack(&[])),
    rule(
        r"BUG: (?:looking up invalid subclass|key [0-9a-f]+ has not been registered)",
        C::Lockdep,
        false,
        "BUG: lockdep bug in {frame}",
        stack(&["lock", "register_lock_class"]),
    ),
    rule(r"(?:BUG|WARNING): Nested lock was not taken", C::Lockdep, false, "WARNING: nested lock was not taken in {frame}", rip(&[])),
    rule(r"BUG: Invalid wait context", C::Lockdep, false, "WARNING: locking bug in {frame}", stack(&["lock_sock", "release_sock"])),
    rule(
        r"WARNING: .*kernel/locking/lockdep\.c.*lock_",
        C::Lockdep,
        false,
        "WARNING: locking bug in {frame}",
        rip(&["lock_sock", "release_sock"]),
    ),
    rule(
        r"BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
        C::Lockdep,
        false,
        "BUG: {1} {2} in {frame}",
        stack(&["spin_", "_lock", "_unlock"]),
    ),
    // Sleeping in atomic context.
    rule(r"BUG: scheduling while atomic", C::AtomicSleep, false, "BUG: scheduling while atomic in {frame}", stack(&["schedule"])),
    rule(
        r"BUG: sleeping function called from invalid context",
        C::AtomicSleep,
        false,
        "BUG: sleeping function called from invalid context in {frame}",
        stack(&[]),
    ),
    rule(
        r"BUG: using ([a-z_]+)\(\) in preemptible",
        C::AtomicSleep,
        false,
        "BUG: using {1}() in preemptible code in {frame}",
        stack(&["dump_stack", "preemption", "preempt", "debug_", "processor_id", "this_cpu"]),
    ),
    rule(
        r"BUG: workqueue leaked lock or atomic",
        C::AtomicSleep,
        false,
        "BUG: workqueue leaked lock or atomic in {frame}",
        Frames::Named(r"last function: ([a-zA-Z0-9_]+)"),
    ),
    // Leaks and references.
    rule(r"BUG: memory leak", C::MemoryLeak, false, "memory leak in {frame}", stack(LEAK_SKIP)),
    // kmemleak's own report, as the kernel prints it on a scan with `verbose` (the lab's debug
    // kernels); after syzkaller's `BUG: memory leak` it is that report's body.
    Rule {
        follows: true,
        ..rule(r"unreferenced object 0x[0-9a-f]+ \(size \d+\):", C::MemoryLeak, false, "memory leak in {frame}", stack(LEAK_SKIP))
    },
    rule(
        r"unregister_netdevice: waiting for \S+ to become free",
        C::Refcount,
        false,
        "unregister_netdevice: waiting for DEV to become free",
        NONE,
    ),
    rule(r"VFS: Busy inodes after unmount", C::Refcount, false, "VFS: Busy inodes after unmount (use-after-free)", NONE),
    rule(r"VFS: Close: file count is 0", C::Refcount, false, "VFS: Close: file count is zero (use-after-free)", NONE),
    // Memory state.
    rule(
        r"BUG: Bad page (state|cache)",
        C::Bug,
        false,
        "BUG: Bad page {1} in {frame}",
        // Where the page came from names the bug, not where its state was found bad.
        Frames::Following {
            after: Some("page last allocated"),
            skip: &[
                "(free|put|get|update|release)_page",
                "free_unref",
                "^_*folio",
                "truncate_inode_pages",
                "page_frag_free",
                "alloc",
                "vmap",
                "page_owner",
            ],
        },
    ),
    rule(r"BUG: Bad page map", C::Bug, false, "BUG: Bad page map", NONE),
    rule(r"BUG: Bad rss-counter state", C::Bug, false, "BUG: Bad rss-counter state", NONE),
    rule(r"BUG: non-zero (nr_ptes|nr_pmds) on freeing mm", C::Bug, false, "BUG: non-zero {1} on freeing mm", NONE),
    rule(r"BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ", C::Bug, false, "BUG: Dentry still in use in {1}", NONE),
    rule(r"BUG: Dentry .* still in use", C::Bug, false, "BUG: Dentry still in use in {frame}", stack(&[])),
    // kernel BUG at.
    rule(r"kernel BUG at mm/usercopy\.c", C::Bug, true, "BUG: bad usercopy in {frame}", rip(&["usercopy", "__check"])),
    rule(r"kernel BUG at lib/list_debug\.c", C::Bug, true, "BUG: corrupted list in {frame}", rip(&[])),
    rule(r"kernel BUG at ", C::Bug, true, "kernel BUG in {frame}", rip(&["^skb_"])),
    rule(r"Kernel BUG (.*)", C::Bug, true, "kernel BUG {1}", NONE),
    // WARNINGs with a known subject, then any WARNING.
    rule(
        r"WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)",
        C::Warning,
        false,
        "WARNING: ODEBUG bug in {frame}",
        rip(&["debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree", "__free_", "debug_check", "kobject_"]),
    ),
    rule(
        r"WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)",
        C::Warning,
        false,
        "WARNING: bad usercopy in {frame}",
        rip(&["usercopy", "__check"]),
    ),
    rule(r"WARNING: .*lib/kobject\.c.* (?:kobject_|at)", C::Warning, false, "WARNING: kobject bug in {frame}", rip(&["kobject_"])),
    rule(
        r"WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)",
        C::Warning,
        false,
        "WARNING: proc registration bug in {frame}",
        rip(&["proc_"]),
    ),
    rule(
        r"WARNING: .*lib/refcount\.c.* (?:refcount_|at)",
        C::Warning,
        false,
        "WARNING: refcount bug in {frame}",
        rip(&["refcount", "kobject_"]),
    ),
    rule(r"WARNING: .*mm/vmalloc\.c.*__vmalloc_node", C::Warning, false, "WARNING: zero-size vmalloc in {frame}", rip(&[])),
    rule(
        r"WARNING: .*mm/.*\.c.* k?.?malloc",
        C::Warning,
        false,
        "WARNING: kmalloc bug in {frame}",
        rip(&["kmalloc", "krealloc", "slab", "kmem"]),
    ),
    rule(
        r"WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
        C::Warning,
        false,
        "WARNING: kernel stack regs has bad '{1}' value",
        NONE,
    ),
    rule(r"WARNING: kernel stack (?:regs|frame pointer) .* has bad", C::Warning, false, "WARNING: kernel stack regs has bad value", NONE),
    // `__warn()` since 3.1x (with or without the file, `()` after the function until 4.x),
    // 2.6/3.x's `WARNING: at file:line func()`, and report_bug()'s own line on the arches that
    // printed no function (ppc64, s390, arm64 before 4.x): named by the NIP/PSW/pc.
    rule(r"WARNING: (?:CPU: \d+ PID: \d+ |\[.*\] )?(?:at )?(?:{SRC} )?(?:at )?{FUNC}", C::Warning, false, "WARNING in {frame}", rip(&[])),
    rule(r"WARNING: at {SRC} (?P<func>[a-zA-Z0-9_]+)\(\)", C::Warning, false, "WARNING in {frame}", rip(&[])),
    rule(
        r"WARNING: (?:CPU: \d+ PID: \d+ )?at (?:{SRC}|(?:0x)?[0-9a-f]+ \[verbose debug info unavailable\])",
        C::Warning,
        false,
        "WARNING in {frame}",
        rip(&[]),
    ),
    // Panics: those that follow another report first, then the ones that stand alone.
    Rule {
        follows: true,
        ..rule(
            r"Kernel panic - not syncing: (Fatal exception|panic_on_warn set|Fatal exception in interrupt|hung_task: blocked tasks)",
            C::Panic,
            true,
            "kernel panic: {1}",
            NONE,
        )
    },
    Rule { follows: true, ..rule(r"Oops: ", C::Oops, true, "Oops in {frame}", rip(&[])) },
    rule(
        r"Kernel panic - not syncing: stack-protector: .* in: {FUNC}",
        C::Panic,
        true,
        "kernel panic: stack is corrupted in {frame}",
        stack(&["stack_chk"]),
    ),
    rule(
        r"Kernel panic - not syncing: corrupted stack end",
        C::Panic,
        true,
        "kernel panic: corrupted stack end in {frame}",
        Frames::Entered { rip: false, skip: &["schedule", "retint_kernel"] },
    ),
    rule(
        r"Kernel panic - not syncing: kernel stack overflow",
        C::Panic,
        true,
        "kernel stack overflow in {frame}",
        Frames::Entered { rip: false, skip: &["bad_stack"] },
    ),
    rule(r"Kernel panic - not syncing: (Attempted to kill init!)", C::Panic, true, "kernel panic: {1}", NONE),
    rule(r"Kernel panic - not syncing: Couldn't open N_TTY ldisc", C::Panic, true, "kernel panic: Couldn't open N_TTY ldisc", NONE),
    // Any other panic right in a report is that report's end (`scheduling while atomic` panics
    // before printing its stack).
    Rule { follows: true, ..rule(r"Kernel panic - not syncing: (.*)", C::Panic, true, "kernel panic: {1}", NONE) },
    // A bare keyword: the report's first line was cut.
    Rule { anchored: true, ..rule(r"(BUG|WARNING|INFO):\s*$", C::Bug, false, "{1}: corrupted", NONE) },
    Rule { anchored: true, ..rule(r"BUG: (.+)", C::Bug, false, "BUG: {1}", NONE) },
];

/// Lines that look like a start but are not a kernel report (syzkaller's ignore lists; 4.x
/// KASAN printed the object through SLUB's `object_err()`, inside its own report).
const NOT_A_FAULT: &str = r"^-+\[ end |traps: \S+ general protection fault|BUG \S+ \([^)]*\): kasan: bad access detected|^(?:INFO: lockdep is turned off|INFO: Stall ended before state dump start|INFO: NMI handler|INFO: recovery required on readonly filesystem|WARNING: /etc/ssh/moduli|WARNING: workqueue cpumask|WARNING: [Tt]he mand mount option|WARNING: Unprivileged eBPF is enabled|WARNING: See https|WARNING: kernel not compiled with CPU_SRSO|BUG: no syscalls can create resource)";

/// Every start contains one of these words (a unit test checks it): a line without any is
/// no start, and one Aho-Corasick pass (SIMD) says so, naming the keywords it found.
const KEYWORDS: &[&str] = &[
    "BUG",
    "WARNING",
    // Not `INFO:`: lockdep's starts spell it `(?:WARNING|INFO): `.
    "INFO",
    "Kernel panic",
    "general protection fault",
    "unregister_netdevice",
    "UBSAN:",
    "Unable to handle kernel",
    "stack segment:",
    "divide",
    "invalid opcode:",
    "int3:",
    "PANIC:",
    "Internal error:",
    "Unhandled fault:",
    "Alignment trap:",
    "VFS:",
    "Oops:",
    "unreferenced object",
    "ilc:",
    "slab error in",
    "Slab corruption",
    "slab: double free",
];

/// The compiled table: one keyword search for the single pass over every line, then, on
/// the few lines that hold a keyword, the rules that contain it, in table order.
pub struct Table {
    gate: AhoCorasick,
    /// Per keyword, the rules whose start contains it, in table order.
    buckets: Vec<Vec<usize>>,
    rules: Vec<Regex>,
    skips: Vec<RegexSet>,
    not_a_fault: Regex,
}

/// The one table, compiled on first use.
pub static TABLE: LazyLock<Table> = LazyLock::new(Table::compile);

/// A line that starts a report: which rule, and the rule's regex match on its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub rule: usize,
}

impl Table {
    fn compile() -> Table {
        let patterns: Vec<String> = RULES.iter().map(pattern).collect();
        Table {
            gate: AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(KEYWORDS).expect("keywords"),
            buckets: KEYWORDS.iter().map(|k| (0..RULES.len()).filter(|&i| RULES[i].start.contains(k)).collect()).collect(),
            rules: patterns.iter().map(|p| Regex::new(p).expect("fault rule")).collect(),
            skips: RULES.iter().map(|r| crate::frames::skip_set(r.frames)).collect(),
            not_a_fault: Regex::new(NOT_A_FAULT).expect("ignore list"),
        }
    }

    /// The report `msg` (a message without prefixes) starts, if any.
    pub fn recognise(&self, msg: &str) -> Option<Start> {
        if msg.len() < 5 {
            return None;
        }
        // The first rule in table order among the buckets of the keywords on the line.
        let mut best: Option<usize> = None;
        for m in self.gate.find_iter(msg) {
            let k = m.pattern().as_usize();
            let limit = best.unwrap_or(usize::MAX);
            best = self.buckets[k].iter().copied().take_while(|&i| i < limit).find(|&i| self.rules[i].is_match(msg)).or(best);
        }
        let rule = best?;
        (!self.not_a_fault.is_match(msg)).then_some(Start { rule })
    }

    /// The compiled regex of rule `i`, for its groups.
    pub fn regex(&self, i: usize) -> &Regex {
        &self.rules[i]
    }

    /// Rule `i`'s own frames to skip, compiled.
    pub fn skip(&self, i: usize) -> &RegexSet {
        &self.skips[i]
    }
}

/// A start pattern as matched: at the message's start after at most one lower-case
/// subsystem tag (`rcu: INFO: ...`, `watchdog: BUG: soft lockup`), or, unless anchored,
/// after a space or `[` anywhere (old kernels bracket lockdep's: `[ INFO: ... ]`).
fn pattern(rule: &Rule) -> String {
    let body = rule
        .start
        .replace("{FUNC}", r"\.?(?P<func>[a-zA-Z0-9_]+)(?:\.[a-z0-9_.]+)?\+0x")
        .replace("{CACHE}", r"[a-zA-Z0-9_.\-]+")
        .replace("{TAINT}", r"\((?:Not tainted|Tainted: [^)]*)\)")
        .replace("{SRC}", r"[a-zA-Z0-9_\-./]+\.[a-z]+:[0-9]+");
    if rule.anchored {
        format!(r"^(?:[a-z_]+: )?(?:{body})")
    } else {
        format!(r"(?:^|[\s\[])(?:{body})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(msg: &str) -> Option<C> {
        TABLE.recognise(msg).map(|s| RULES[s.rule].class)
    }

    #[test]
    fn every_start_has_a_keyword_so_the_gate_hides_none() {
        for r in RULES {
            assert!(KEYWORDS.iter().any(|k| r.start.contains(k)), "{}", r.start);
        }
    }

    #[test]
    fn the_table_compiles_and_specific_forms_win() {
        assert_eq!(class("BUG: KASAN: slab-out-of-bounds in memcpy+0x1/0x2"), Some(C::Kasan));
        assert_eq!(class("watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:2:87]"), Some(C::SoftLockup));
        assert_eq!(class("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"), Some(C::Stall));
        assert_eq!(class("BUG: unable to handle page fault for address: ffffffffffffffe8"), Some(C::Oops));
        assert_eq!(class("WARNING: possible circular locking dependency detected"), Some(C::Lockdep));
        assert_eq!(class("INFO: lockdep is turned off."), None);
        // Old kernels bracket lockdep's (syzkaller corpus 27, 33, 248): the gate must let `INFO` through.
        assert_eq!(class("[ INFO: possible circular locking dependency detected ]"), Some(C::Lockdep));
        assert_eq!(class("[ INFO: suspicious RCU usage. ]"), Some(C::Lockdep));
        assert_eq!(class("lab-guest: the scenario mentions BUG: in its notes"), None);
    }

    #[test]
    fn the_historic_and_other_architecture_starts_have_their_class() {
        // Written from the printk formats: mm/slub.c slab_bug/slab_err (6.1 and 3.x), mm/slab.c,
        // kernel/locking/lockdep.c (6.1 and the 3.x brackets), kernel/panic.c and lib/bug.c's
        // WARNING lines since 2.6, arch/s390/kernel/dumpstack.c die(), arm64 and s390 faults.
        let cases = [
            ("BUG kmalloc-1k (Tainted: G    B   O      ): Right Redzone overwritten", C::Slab),
            ("BUG dma-kmalloc-512 (Not tainted): Invalid object pointer 0x00000000deadbeef", C::Slab),
            ("BUG names_cache: Poison overwritten", C::Slab),
            ("BUG ext4_inode_cache: Wrong object count. Counter is 7 but counted were 8", C::Slab),
            ("slab error in cache_free_debugcheck(): cache `size-64': memory outside object was overwritten", C::Slab),
            ("slab: double free detected in cache 'kmalloc-64', objp ffff88800a1b2c00", C::Slab),
            ("Slab corruption (Tainted: G    B  ): kmalloc-64 start=ffff88800a1b2c00, len=64", C::Slab),
            ("[ INFO: suspicious rcu_dereference_check() usage. ]", C::Lockdep),
            ("WARNING: chain_key collision", C::Lockdep),
            ("BUG: looking up invalid subclass: 9", C::Lockdep),
            ("BUG: key ffff88800a1b2c00 has not been registered!", C::Lockdep),
            ("[ BUG: Nested lock was not taken ]", C::Lockdep),
            ("WARNING: at kernel/sched.c:1234 check_preempt()", C::Warning),
            ("WARNING: at 000000000011a2b4 [verbose debug info unavailable]", C::Warning),
            ("WARNING: at arch/powerpc/kernel/iommu.c:390", C::Warning),
            ("WARNING: CPU: 3 PID: 1 at .iommu_map+0x1c/0x80", C::Warning),
            ("specification exception: 0006 ilc:3 [#1] PREEMPT SMP", C::Oops),
            ("Unable to handle kernel execute from non-executable memory at virtual address ffff8000", C::Oops),
        ];
        for (line, want) in cases {
            assert_eq!(class(line), Some(want), "{line}");
        }
        // A slab cache's name followed by anything but a slab report's kind is no report, and
        // 4.x KASAN's own object dump through SLUB is part of the KASAN report.
        assert_eq!(class("BUG fixes: see the changelog"), None);
        assert_eq!(class("BUG UNIX (Not tainted): kasan: bad access detected"), None);
    }
}
