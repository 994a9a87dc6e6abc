//! Recognition that generalises: one short excerpt per rule, class and architecture, written
//! for this test from the kernel's own printk formats (`mm/slub.c`'s `slab_bug()`,
//! `print_track()`, `print_trailer()`, `slab_err()`; `mm/slab.c`'s `__slab_error()` and poison
//! check; `kernel/locking/lockdep.c`'s headers; `kernel/panic.c`'s `__warn()`; `lib/bug.c`'s
//! `report_bug()`; `arch/{x86,arm64,powerpc,s390}` `show_regs()`/`show_stack()`/`die()`), in
//! 6.1's form and in the older forms of 2.6-4.x, with invented functions, caches and addresses.
//! None is copied from a corpus. Each must be recognised as its class with its title; the
//! shares per class are printed (`-- --nocapture`).

use std::collections::BTreeMap;

use lab_faults::{scan, FaultClass as C};

/// One excerpt: what it is, the class and title it must get, and the log.
struct Excerpt {
    name: &'static str,
    class: C,
    title: &'static str,
    log: &'static str,
}

const SLUB_POISON_61: &str = "\
[   41.200100] =============================================================================
[   41.200101] BUG kmalloc-128 (Tainted: G    B             ): Poison overwritten
[   41.200102] -----------------------------------------------------------------------------
[   41.200103]
[   41.200104] 0xffff888003d2a840-0xffff888003d2a840 @offset=2112. First byte 0x0 instead of 0x6b
[   41.200105] Allocated in tbl_create+0x5a/0x3c0 age=13 cpu=1 pid=301
[   41.200106]  __kmem_cache_alloc_node+0x1b4/0x2e0
[   41.200107]  kmalloc_trace+0x26/0x90
[   41.200108]  tbl_create+0x5a/0x3c0
[   41.200109] Freed in tbl_destroy+0x3e/0x80 age=5 cpu=0 pid=299
[   41.200110]  kfree+0x8b/0x130
[   41.200111]  tbl_destroy+0x3e/0x80
[   41.200112] Slab 0xffffea00000f4a80 objects=21 used=21 fp=0x0000000000000000 flags=0x100000000010200(slab|head|node=0|zone=1)
[   41.200113] Object 0xffff888003d2a840 @offset=2112 fp=0xffff888003d2a8c0
[   41.200114]
[   41.200115] Redzone  ffff888003d2a800: bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb  ................
[   41.200116] Object   ffff888003d2a840: 00 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b  .kkkkkkkkkkkkkkk
[   41.200117] CPU: 0 PID: 305 Comm: ip Tainted: G    B              6.1.0 #1
[   41.200118] Call Trace:
[   41.200119]  <TASK>
[   41.200120]  dump_stack_lvl+0x44/0x5c
[   41.200121]  check_bytes_and_report.cold+0x58/0x8b
[   41.200122]  check_object+0x1b4/0x290
[   41.200123]  alloc_debug_processing+0x10c/0x1a0
[   41.200124]  ___slab_alloc+0x5d6/0x7e0
[   41.200125]  __kmem_cache_alloc_node+0x23c/0x2e0
[   41.200126]  kmalloc_trace+0x26/0x90
[   41.200127]  route_info_alloc+0x2a/0x60
[   41.200128]  </TASK>
[   41.200129] FIX kmalloc-128: Restoring Poison 0xffff888003d2a840-0xffff888003d2a840=0x6b
";

/// 3.x: the `INFO: ` lines, tab-indented tracks, `Pid:` instead of `CPU:`, a module frame.
const SLUB_REDZONE_3X: &str = "\
=============================================================================
BUG kmalloc-64 (Not tainted): Redzone overwritten
-----------------------------------------------------------------------------

Disabling lock debugging due to kernel taint
INFO: 0xffff88003e1c8a40-0xffff88003e1c8a47. First byte 0x41 instead of 0xcc
INFO: Allocated in wdg_probe+0x2c/0x120 [wdg] age=0 cpu=0 pid=412
\t__slab_alloc+0x3d2/0x460
\t__kmalloc+0x1a0/0x1e0
\twdg_probe+0x2c/0x120 [wdg]
INFO: Slab 0xffffea0000f87200 objects=32 used=27 fp=0xffff88003e1c8b00 flags=0x1fffff00004080
INFO: Object 0xffff88003e1c8a00 @offset=2560 fp=0x          (null)

Object ffff88003e1c8a00: 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41  AAAAAAAAAAAAAAAA
Redzone ffff88003e1c8a40: 41 cc cc cc cc cc cc cc                          A.......
Pid: 412, comm: rmmod Tainted: G    B      O 3.2.0 #1
Call Trace:
 [<ffffffff8114a3c2>] print_trailer+0x132/0x140
 [<ffffffff8114a5e0>] check_bytes_and_report+0xd0/0x110
 [<ffffffff8114b2c5>] check_object+0x1c5/0x240
 [<ffffffff8114c0b1>] free_debug_processing+0xf1/0x230
 [<ffffffff8114d6e7>] __slab_free+0x37/0x2f0
 [<ffffffff8114df70>] kfree+0x100/0x140
 [<ffffffffa0012345>] wdg_remove+0x45/0x80 [wdg]
FIX kmalloc-64: Restoring 0xffff88003e1c8a40-0xffff88003e1c8a47=0xcc
";

const SLUB_DOUBLE_FREE_61: &str = "\
[   12.000001] BUG ring_cache (Not tainted): Object already free
[   12.000002] -----------------------------------------------------------------------------
[   12.000003]
[   12.000004] Allocated in ring_open+0x21/0x90 age=3 cpu=0 pid=240
[   12.000005] Freed in ring_release+0x1d/0x40 age=1 cpu=0 pid=240
[   12.000006] Slab 0xffffea0000145c00 objects=16 used=3 fp=0xffff888005170000 flags=0x100000000000200(slab|node=0|zone=1)
[   12.000007] Object 0xffff888005170000 @offset=0 fp=0xffff888005170100
[   12.000008] CPU: 0 PID: 240 Comm: ringd Not tainted 6.1.0 #1
[   12.000009] Call Trace:
[   12.000010]  <TASK>
[   12.000011]  dump_stack_lvl+0x44/0x5c
[   12.000012]  free_debug_processing+0x1c4/0x2d0
[   12.000013]  __slab_free+0x2b9/0x4a0
[   12.000014]  kmem_cache_free+0x2e7/0x330
[   12.000015]  ring_release+0x1d/0x40
[   12.000016]  __fput+0x8e/0x250
[   12.000017]  </TASK>
[   12.000018] FIX ring_cache: Object at 0xffff888005170000 not freed
";

const SLUB_REMAINING_61: &str = "\
[  301.500000] BUG xport_task (Tainted: G           OE     ): Objects remaining in xport_task on __kmem_cache_shutdown()
[  301.500001] -----------------------------------------------------------------------------
[  301.500002]
[  301.500003] Slab 0xffffea0000213400 objects=25 used=1 fp=0xffff8880084d0140 flags=0x100000000000200(slab|node=0|zone=1)
[  301.500004] CPU: 3 PID: 2210 Comm: rmmod Tainted: G    B      OE      6.1.0 #1
[  301.500005] Call Trace:
[  301.500006]  <TASK>
[  301.500007]  dump_stack_lvl+0x44/0x5c
[  301.500008]  slab_err+0xb7/0xf0
[  301.500009]  __kmem_cache_shutdown.cold+0x36/0x16d
[  301.500010]  kmem_cache_destroy+0x55/0x140
[  301.500011]  xport_exit+0x10/0x30 [xport]
[  301.500012]  __do_sys_delete_module+0x1a1/0x2a0
[  301.500013]  do_syscall_64+0x58/0xc0
[  301.500014]  </TASK>
[  301.500015] Object 0xffff8880084d0000 @offset=0
[  301.500016] Allocated in xport_alloc_task+0x22/0x80 age=4294 cpu=1 pid=1884
";

/// 6.1's free path (`free_to_partial_list()`): a second free of a slab's only object.
const SLUB_FREE_COUNT_61: &str = "\
[   10.500001] =============================================================================
[   10.500002] BUG ring_cache (Not tainted): Slab has 0 allocated objects but 1 are to be freed
[   10.500003]
[   10.500004] -----------------------------------------------------------------------------
[   10.500005]
[   10.500006] Slab 0xffff88801f6a0000 objects=25 used=0 fp=0xffff888002900000 flags=0x200(slab|section=0|zone=0)
[   10.500007] CPU: 0 PID: 39 Comm: ringd Not tainted 6.1.0 #1
[   10.500008] Call Trace:
[   10.500009]  <TASK>
[   10.500010]  dump_stack_lvl+0x33/0x42
[   10.500011]  slab_err+0x98/0xb5
[   10.500012]  ? slab_pad_check+0x74/0x109
[   10.500013]  free_to_partial_list+0x9e/0x31a
[   10.500014]  kmem_cache_free+0xe8/0x111
[   10.500015]  ring_release+0x1d/0x40
[   10.500016]  </TASK>
[   10.500017] FIX ring_cache: Object at 0xffff888002900000 not freed
";

/// 3.x: `slab_err()` with `Objects remaining on kmem_cache_close()` and no taint field.
const SLUB_REMAINING_3X: &str = "\
BUG xport_task: Objects remaining on kmem_cache_close()
-----------------------------------------------------------------------------

INFO: Slab 0xffffea0000213400 objects=25 used=1 fp=0xffff8800084d0140 flags=0x4080
Pid: 2210, comm: rmmod Tainted: G    B      O 3.2.0 #1
Call Trace:
 [<ffffffff8114a100>] slab_err+0xa0/0xd0
 [<ffffffff8114e2a1>] kmem_cache_close+0x121/0x230
 [<ffffffff8114e43b>] kmem_cache_destroy+0x4b/0xe0
 [<ffffffffa00230a0>] xport_exit+0x10/0x30 [xport]
 [<ffffffff810b1c22>] sys_delete_module+0x192/0x260
INFO: Object 0xffff8800084d0000 @offset=0
";

const SLUB_FREEPOINTER_61: &str = "\
[   77.000001] BUG skbuff_head_cache (Not tainted): Freepointer corrupt
[   77.000002] -----------------------------------------------------------------------------
[   77.000003]
[   77.000004] Allocated in pkt_build+0x44/0x1c0 age=2 cpu=1 pid=0
[   77.000005]  kmem_cache_alloc+0x2d5/0x340
[   77.000006]  pkt_build+0x44/0x1c0
[   77.000007] Slab 0xffffea0000186a00 objects=32 used=32 fp=0x0000000000000000 flags=0x100000000000200(slab|node=0|zone=1)
[   77.000008] Object 0xffff8880061a8000 @offset=0 fp=0x4141414141414141
[   77.000009] Call Trace:
[   77.000010]  <IRQ>
[   77.000011]  dump_stack_lvl+0x44/0x5c
[   77.000012]  check_object+0x24a/0x290
[   77.000013]  free_debug_processing+0xc2/0x2d0
[   77.000014]  kmem_cache_free+0x2e7/0x330
[   77.000015]  napi_consume_skb+0x5a/0x100
";

/// mm/slab.c (`CONFIG_DEBUG_SLAB`): `__slab_error()` and the poison check's own report.
const SLAB_ERROR: &str = "\
[   90.000001] slab error in verify_redzone_free(): cache `kmalloc-64': double free detected
[   90.000002] CPU: 1 PID: 388 Comm: ringd Tainted: G    B              6.1.0 #1
[   90.000003] Call Trace:
[   90.000004]  <TASK>
[   90.000005]  dump_stack_lvl+0x44/0x5c
[   90.000006]  __slab_error.cold+0x11/0x1e
[   90.000007]  verify_redzone_free+0x8c/0xb0
[   90.000008]  cache_free_debugcheck+0x9c/0x2a0
[   90.000009]  kfree+0x95/0x180
[   90.000010]  ring_release+0x31/0x40
";

const SLAB_CORRUPTION: &str = "\
[   95.000001] Slab corruption (Not tainted): kmalloc-64 start=ffff88800a1b2c00, len=64
[   95.000002] Redzone: 0x9f911029d74e35b/0x9f911029d74e35b
[   95.000003] Last user: (ring_close+0x1a/0x60)
[   95.000004] 000: 6b 6b 6b 6b 41 41 41 41 6b 6b 6b 6b 6b 6b 6b 6b  kkkkAAAAkkkkkkkk
[   95.000005] Prev obj: start=ffff88800a1b2b80, len=64
";

/// 2.6.3x-3.2: lockdep's RCU check under its first name, bracketed.
const LOCKDEP_RCU_DEREF_OLD: &str = "\
===================================================
[ INFO: suspicious rcu_dereference_check() usage. ]
---------------------------------------------------
net/ipv4/route.c:1234 invoked rcu_dereference_check() without protection!

other info that might help us debug this:

rcu_scheduler_active = 1, debug_locks = 1
1 lock held by ip/1234:
 #0:  (rtnl_mutex){+.+.+.}, at: [<ffffffff8152a1b2>] rtnl_lock+0x17/0x20

stack backtrace:
Pid: 1234, comm: ip Not tainted 2.6.38 #1
Call Trace:
 [<ffffffff81085a2b>] lockdep_rcu_dereference+0xbb/0xc0
 [<ffffffff8155c9d3>] route_cache_flush+0x53/0x90
 [<ffffffff81590a12>] fib_dev_event+0x72/0xa0
";

/// 3.x: lockdep's bracketed BUG forms; the `<IRQ>` marker on a frame's own line.
const LOCKDEP_UNLOCK_3X: &str = "\
=====================================
[ BUG: bad unlock balance detected! ]
3.10.0 #1 Not tainted
-------------------------------------
ip/812 is trying to release lock (rtnl_mutex) at:
[<ffffffff8152a1c2>] rtnl_unlock+0x9/0x10
but there are no more locks to release!

other info that might help us debug this:
no locks held by ip/812.

stack backtrace:
CPU: 0 PID: 812 Comm: ip Not tainted 3.10.0 #1
Call Trace:
 [<ffffffff8160a2b4>] dump_stack+0x19/0x1b
 [<ffffffff810c4a32>] print_unlock_imbalance_bug+0xe2/0xf0
 [<ffffffff810c8b5d>] lock_release+0x2ad/0x4a0
 [<ffffffff816083d1>] __mutex_unlock_slowpath+0x71/0x190
 [<ffffffff8160853e>] mutex_unlock+0xe/0x10
 [<ffffffff8152a1c2>] rtnl_unlock+0x9/0x10
 [<ffffffff81531f3e>] bond_set_master+0x6e/0x90
";

const LOCKDEP_CONTENTION_61: &str = "\
[   50.000001] =================================
[   50.000002] WARNING: bad contention detected!
[   50.000003] 6.1.0 #1 Not tainted
[   50.000004] ---------------------------------
[   50.000005] kworker/0:1/30 is trying to contend lock (&q->lock) at:
[   50.000006] [<ffffffff81a1b2c3>] queue_flush+0x23/0x90
[   50.000007] but there are no locks held!
";

const LOCKDEP_CONTENTION_3X: &str = "\
=================================
[ BUG: bad contention detected! ]
---------------------------------
kworker/0:1/30 is trying to contend lock (&q->lock) at:
[<ffffffff81a1b2c3>] queue_flush+0x23/0x90
but there are no locks held!
";

/// 2.6/3.x x86: `WARNING: at file:line func+0x()` with no CPU or PID, then `Pid:`.
const WARNING_3X: &str = "\
------------[ cut here ]------------
WARNING: at net/core/dev.c:1712 gso_segment+0x2a9/0x2c0()
Hardware name: Standard PC
Modules linked in: bridge stp llc
Pid: 0, comm: swapper Not tainted 3.2.0 #1
Call Trace:
 <IRQ>  [<ffffffff8104f8cf>] warn_slowpath_common+0x7f/0xc0
 [<ffffffff8104f92a>] warn_slowpath_null+0x1a/0x20
 [<ffffffff8141a2c9>] gso_segment+0x2a9/0x2c0
 [<ffffffff8141a5d2>] dev_hard_start_xmit+0x1b2/0x640
---[ end trace 4eaa2a86a8e2da22 ]---
";

/// 3.1x-4.x: CPU and PID, and the `()` after the function.
const WARNING_4X: &str = "\
------------[ cut here ]------------
WARNING: CPU: 1 PID: 0 at net/sched/sch_generic.c:303 watchdog_fire+0x237/0x250()
NETDEV WATCHDOG: eth0 (e1000): transmit queue 0 timed out
CPU: 1 PID: 0 Comm: swapper/1 Not tainted 4.4.0 #1
---[ end trace 1a2b3c4d5e6f7a8b ]---
";

/// 6.1 `__warn()` without a file: `WARNING: CPU: n PID: n at func+0x`.
const WARNING_NO_FILE: &str = "\
[    3.000001] WARNING: CPU: 0 PID: 1 at probe_quirk+0x1b/0x30
[    3.000002] Modules linked in:
[    3.000003] RIP: 0010:probe_quirk+0x1b/0x30
";

/// ppc64 before 3.1x: report_bug()'s own line names no function; ELFv1's `.func` frames.
const WARNING_PPC64_OLD: &str = "\
------------[ cut here ]------------
WARNING: at arch/powerpc/platforms/pseries/slot.c:390
Modules linked in: ipv6
NIP: c000000000047c8c LR: c000000000047c88 CTR: 0000000000000000
REGS: c0000000fe6a3860 TRAP: 0700   Not tainted  (3.2.0)
MSR: 8000000000029032 <EE,ME,CE,IR,DR>  CR: 28002482  XER: 20000000
TASK = c0000000fe64ef90[2087] 'slotd' THREAD: c0000000fe6a0000 CPU: 3
GPR00: 0000000000000001 c0000000fe6a3ae0 c000000000e7a0b8 0000000000000001
NIP [c000000000047c8c] .slot_check_failure+0x2d0/0x350
LR [c000000000047c88] .slot_check_failure+0x2cc/0x350
Call Trace:
[c0000000fe6a3ae0] [c000000000047c88] .slot_check_failure+0x2cc/0x350 (unreliable)
[c0000000fe6a3ba0] [c00000000003ee80] .slot_read_config+0x90/0x130
---[ end trace 0a1b2c3d4e5f6a7b ]---
";

const OOPS_PPC64_61: &str = "\
[   20.000001] BUG: Kernel NULL pointer dereference on read at 0x00000010
[   20.000002] Faulting instruction address: 0xc000000000a1b2c4
[   20.000003] Oops: Kernel access of bad area, sig: 11 [#1]
[   20.000004] LE PAGE_SIZE=64K MMU=Radix SMP NR_CPUS=2048 NUMA pSeries
[   20.000005] Modules linked in:
[   20.000006] CPU: 2 PID: 301 Comm: ip Not tainted 6.1.0 #1
[   20.000007] NIP:  c000000000a1b2c4 LR: c000000000a1b2a0 CTR: 0000000000000000
[   20.000008] REGS: c00000000a1b3960 TRAP: 0300   Not tainted  (6.1.0)
[   20.000009] NIP [c000000000a1b2c4] nh_del+0x34/0x90
[   20.000010] LR [c000000000a1b2a0] nh_del+0x10/0x90
[   20.000011] Call Trace:
[   20.000012] [c00000000a1b3c00] [c000000000a1b2a0] nh_del+0x10/0x90 (unreliable)
[   20.000013] [c00000000a1b3c40] [c000000000a1c3d4] nh_flush+0x64/0x120
[   20.000014] ---[ end trace 0000000000000000 ]---
";

const OOPS_PPC64_OLD: &str = "\
Unable to handle kernel paging request for data at address 0x00000010
Faulting instruction address: 0xc0000000001a2b3c
Oops: Kernel access of bad area, sig: 11 [#1]
SMP NR_CPUS=1024 NUMA pSeries
NIP: c0000000001a2b3c LR: c0000000001a2b10 CTR: 0000000000000000
NIP [c0000000001a2b3c] .nh_del+0x34/0x90
LR [c0000000001a2b10] .nh_del+0x10/0x90
Call Trace:
[c0000000fe6a3c00] [c0000000001a2b10] .nh_del+0x10/0x90 (unreliable)
";

const BUG_PPC64: &str = "\
------------[ cut here ]------------
kernel BUG at net/core/queue.c:120!
Oops: Exception in kernel mode, sig: 5 [#1]
NIP [c000000000a2c3d4] queue_pop+0x64/0x80
Call Trace:
[c00000000a1b3c40] [c000000000a2c400] queue_drain+0x20/0x60
";

const OOPS_ARM64_61: &str = "\
[   30.000001] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
[   30.000002] Mem abort info:
[   30.000003]   ESR = 0x0000000096000006
[   30.000004]   EC = 0x25: DABT (current EL), IL = 32 bits
[   30.000005] Internal error: Oops: 0000000096000006 [#1] PREEMPT SMP
[   30.000006] Modules linked in:
[   30.000007] CPU: 1 PID: 312 Comm: ip Not tainted 6.1.0 #1
[   30.000008] Hardware name: linux,dummy-virt (DT)
[   30.000009] pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   30.000010] pc : nh_del+0x1c/0x80
[   30.000011] lr : nh_flush+0x48/0x100
[   30.000012] sp : ffff80000a1b3c40
[   30.000013] x29: ffff80000a1b3c40 x28: ffff0000c0a1b2c3 x27: 0000000000000000
[   30.000014] Call trace:
[   30.000015]  nh_del+0x1c/0x80
[   30.000016]  nh_flush+0x48/0x100
[   30.000017]  el0_svc+0x2c/0x90
[   30.000018] Code: f9400661 b4000041 f9000422 (f9000441)
[   30.000019] ---[ end trace 0000000000000000 ]---
";

const OOPS_ARM64_RO: &str = "\
[   31.000001] Unable to handle kernel write to read-only memory at virtual address ffff800008c2a000
[   31.000002] Internal error: Oops: 000000009600004e [#1] PREEMPT SMP
[   31.000003] pc : table_patch+0x30/0x60
[   31.000004] Call trace:
[   31.000005]  table_patch+0x30/0x60
";

/// arm64 before 4.x: `PC is at`, and `[<ffff...>]` before each frame.
const OOPS_ARM64_4X: &str = "\
Unable to handle kernel paging request at virtual address dead000000000108
Internal error: Oops: 96000044 [#1] PREEMPT SMP
PC is at list_unlink+0x14/0x40
LR is at nh_flush+0x48/0x100
Call trace:
[<ffff000008123456>] list_unlink+0x14/0x40
[<ffff000008654321>] nh_flush+0x48/0x100
";

const BUG_ARM64: &str = "\
[   32.000001] kernel BUG at net/core/queue.c:120!
[   32.000002] Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP
[   32.000003] pc : queue_pop+0x64/0x80
[   32.000004] lr : queue_drain+0x20/0x60
[   32.000005] Call trace:
[   32.000006]  queue_pop+0x64/0x80
";

/// s390 6.1, after the taint notices that usually come first.
const OOPS_S390_61: &str = "\
[   60.000001] wdg: loading out-of-tree module taints kernel.
[   60.000002] wdg: module verification failed: signature and/or required key missing - tainting kernel
[   60.000003] Unable to handle kernel pointer dereference in virtual kernel address space
[   60.000004] Failing address: 0000000000000000 TEID: 0000000000000483
[   60.000005] Fault in home space mode while using kernel ASCE.
[   60.000006] AS:0000000001b2c007 R3:00000000ffbd0007 S:00000000ffbd7800 P:000000000000003d
[   60.000007] Oops: 0004 ilc:3 [#1] SMP
[   60.000008] Modules linked in: wdg(OE)
[   60.000009] CPU: 1 PID: 412 Comm: insmod Tainted: G           OE      6.1.0 #1
[   60.000010] Hardware name: IBM 8561 LT1 400 (KVM/Linux)
[   60.000011] Krnl PSW : 0704c00180000000 000003ff8012a0b2 (wdg_init+0x32/0x1000 [wdg])
[   60.000012]            R:0 T:1 IO:1 EX:1 Key:0 M:1 W:0 P:0 AS:3 CC:0 PM:0 RI:0 EA:3
[   60.000013] Krnl GPRS: 0000000000000000 0000000000000000 0000000000000001 000003ff8012a080
[   60.000014] Call Trace:
[   60.000015]  [<000003ff8012a0b2>] wdg_init+0x32/0x1000 [wdg]
[   60.000016] ([<000003ff8012a0a8>] wdg_init+0x28/0x1000 [wdg])
[   60.000017]  [<0000000000100f5a>] do_one_initcall+0x42/0x1f0
[   60.000018] Last Breaking-Event-Address:
[   60.000019]  [<000003ff8012a094>] wdg_init+0x14/0x1000 [wdg]
[   60.000020] Kernel panic - not syncing: Fatal exception: panic_on_oops
";

/// s390: BUG() traps as a monitor event.
const BUG_S390: &str = "\
kernel BUG at net/core/queue.c:120!
monitor event: 0040 ilc:2 [#1] SMP
Krnl PSW : 0704d00180000000 00000000006a2b3c (queue_pop+0x64/0x80)
Call Trace:
 [<00000000006a2b3c>] queue_pop+0x64/0x80
 [<00000000006a2c00>] queue_drain+0x20/0x60
";

const TRAP_S390: &str = "\
illegal operation: 0001 ilc:1 [#1] SMP
Krnl PSW : 0704c00180000000 00000000006a2b3c (jit_entry+0x4/0x100)
Call Trace:
 [<00000000006a2b3c>] jit_entry+0x4/0x100
";

/// s390 before 3.1x: report_bug()'s line, the function only on the PSW line.
const WARNING_S390_OLD: &str = "\
------------[ cut here ]------------
WARNING: at net/core/queue.c:80
Modules linked in:
CPU: 0 Not tainted 3.2.0 #1
Process ip (pid: 812, task: 000000003e1c8000, ksp: 000000003e1cbb00)
Krnl PSW : 0704200180000000 00000000006a2a10 (queue_push+0x50/0x70)
Call Trace:
([<00000000006a2a04>] queue_push+0x44/0x70)
 [<00000000006a2c00>] queue_drain+0x20/0x60
";

const EXCERPTS: &[Excerpt] = &[
    Excerpt { name: "slub poison 6.1", class: C::Slab, title: "SLUB: Poison overwritten in tbl_create", log: SLUB_POISON_61 },
    Excerpt { name: "slub redzone 3.x", class: C::Slab, title: "SLUB: Redzone overwritten in wdg_probe", log: SLUB_REDZONE_3X },
    Excerpt { name: "slub double free 6.1", class: C::Slab, title: "SLUB: Object already free in ring_release", log: SLUB_DOUBLE_FREE_61 },
    Excerpt {
        name: "slub free count 6.1",
        class: C::Slab,
        title: "SLUB: Slab has NUM allocated objects but NUM are to be freed in ring_release",
        log: SLUB_FREE_COUNT_61,
    },
    Excerpt { name: "slub remaining 6.1", class: C::Slab, title: "SLUB: Objects remaining in xport_exit", log: SLUB_REMAINING_61 },
    Excerpt { name: "slub remaining 3.x", class: C::Slab, title: "SLUB: Objects remaining in xport_exit", log: SLUB_REMAINING_3X },
    Excerpt { name: "slub freepointer 6.1", class: C::Slab, title: "SLUB: Freepointer corrupt in pkt_build", log: SLUB_FREEPOINTER_61 },
    Excerpt { name: "slab error", class: C::Slab, title: "SLAB: double free detected in ring_release", log: SLAB_ERROR },
    Excerpt { name: "slab corruption", class: C::Slab, title: "SLAB: slab corruption in ring_close", log: SLAB_CORRUPTION },
    Excerpt {
        name: "lockdep rcu_dereference_check 2.6",
        class: C::Lockdep,
        title: "INFO: suspicious RCU usage in route_cache_flush",
        log: LOCKDEP_RCU_DEREF_OLD,
    },
    Excerpt { name: "lockdep unlock 3.x", class: C::Lockdep, title: "BUG: bad unlock balance in rtnl_unlock", log: LOCKDEP_UNLOCK_3X },
    Excerpt {
        name: "lockdep contention 6.1",
        class: C::Lockdep,
        title: "WARNING: bad contention in queue_flush",
        log: LOCKDEP_CONTENTION_61,
    },
    Excerpt {
        name: "lockdep contention 3.x",
        class: C::Lockdep,
        title: "WARNING: bad contention in queue_flush",
        log: LOCKDEP_CONTENTION_3X,
    },
    Excerpt { name: "warning 3.x x86", class: C::Warning, title: "WARNING in gso_segment", log: WARNING_3X },
    Excerpt { name: "warning 4.x x86", class: C::Warning, title: "WARNING in watchdog_fire", log: WARNING_4X },
    Excerpt { name: "warning 6.1 no file", class: C::Warning, title: "WARNING in probe_quirk", log: WARNING_NO_FILE },
    Excerpt { name: "warning ppc64 3.x", class: C::Warning, title: "WARNING in slot_check_failure", log: WARNING_PPC64_OLD },
    Excerpt { name: "warning s390 3.x", class: C::Warning, title: "WARNING in queue_push", log: WARNING_S390_OLD },
    Excerpt {
        name: "oops ppc64 6.1",
        class: C::Oops,
        title: "BUG: unable to handle kernel NULL pointer dereference in nh_del",
        log: OOPS_PPC64_61,
    },
    Excerpt { name: "oops ppc64 3.x", class: C::Oops, title: "BUG: unable to handle kernel paging request in nh_del", log: OOPS_PPC64_OLD },
    Excerpt { name: "bug ppc64", class: C::Bug, title: "kernel BUG in queue_pop", log: BUG_PPC64 },
    Excerpt {
        name: "oops arm64 6.1",
        class: C::Oops,
        title: "BUG: unable to handle kernel NULL pointer dereference in nh_del",
        log: OOPS_ARM64_61,
    },
    Excerpt {
        name: "oops arm64 read-only",
        class: C::Oops,
        title: "BUG: unable to handle kernel write to read-only memory in table_patch",
        log: OOPS_ARM64_RO,
    },
    Excerpt {
        name: "oops arm64 4.x",
        class: C::Oops,
        title: "BUG: unable to handle kernel paging request in list_unlink",
        log: OOPS_ARM64_4X,
    },
    Excerpt { name: "bug arm64", class: C::Bug, title: "kernel BUG in queue_pop", log: BUG_ARM64 },
    Excerpt {
        name: "oops s390 6.1",
        class: C::Oops,
        title: "BUG: unable to handle kernel pointer dereference in wdg_init",
        log: OOPS_S390_61,
    },
    Excerpt { name: "bug s390", class: C::Bug, title: "kernel BUG in queue_pop", log: BUG_S390 },
    Excerpt { name: "trap s390", class: C::Oops, title: "illegal operation in jit_entry", log: TRAP_S390 },
];

#[test]
fn every_excerpt_is_recognised_as_its_class_with_its_title() {
    let mut per_class: BTreeMap<C, (usize, usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for e in EXCERPTS {
        let faults = scan(e.log);
        let first = faults.first();
        let entry = per_class.entry(e.class).or_default();
        entry.0 += 1;
        entry.1 += usize::from(first.is_some_and(|f| f.class == e.class));
        entry.2 += usize::from(first.is_some_and(|f| f.class == e.class && f.title == e.title));
        if faults.len() != 1 || first.is_some_and(|f| f.class != e.class || f.title != e.title) {
            wrong.push(format!("{}: {:?}", e.name, faults.iter().map(|f| (f.class, f.title.as_str())).collect::<Vec<_>>()));
        }
    }
    for (class, (n, recognised, titled)) in &per_class {
        println!("excerpts {class:?}: {n}, recognised {recognised}, titled {titled}");
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_report_starts_at_its_own_line_after_the_taint_notices() {
    let faults = scan(OOPS_S390_61);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!((faults[0].line_number, faults[0].fatal), (3, true));
    assert!(faults[0].first_line.starts_with("Unable to handle kernel pointer dereference"));
    assert!(faults[0].lines.iter().any(|l| l.contains("Fatal exception")), "the panic ends the same report");
}

#[test]
fn a_slab_report_with_a_page_of_object_dump_keeps_its_stack() {
    // A 4 KiB object's dump (256 lines) between the header and the stack of `slab_err()`.
    let dump: String = (0..256).map(|i| format!("Object   ffff88800a1b{:04x}: 6b 6b 6b 6b 6b 6b 6b 6b  kkkkkkkk\n", i * 16)).collect();
    let log = SLUB_DOUBLE_FREE_61.replace("[   12.000008] CPU:", &format!("{dump}[   12.000008] CPU:"));
    let faults = scan(&log);
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].title, "SLUB: Object already free in ring_release");
}
