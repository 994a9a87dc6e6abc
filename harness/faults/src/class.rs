//! The words for a kernel fault that the classifier and its users share: [`FaultClass`] (the
//! kind of report, as the tool that printed it names it) and [`GuestFault`] (the coarse kind
//! a run's events, `kernel.tolerate` and `faults:` speak of). Serialised in `snake_case`:
//! these forms are in `events.jsonl`, `verdict.json` and scenarios, so they do not change.

use serde::{Deserialize, Serialize};

/// Why a guest stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestFault {
    Panic,
    Oops,
    Bug,
    Warning,
    HungTask,
    SoftLockup,
    /// No event from the guest past the scenario's deadline.
    Hang,
    /// QEMU exited before the guest reported a verdict.
    Exited,
}

/// The kind of a kernel report, as the tool that printed it names it ([`crate::table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultClass {
    /// `Kernel panic - not syncing`.
    Panic,
    /// The CPU trapped in the kernel: paging request, NULL dereference, general protection
    /// fault, invalid opcode, divide error, double fault.
    Oops,
    /// `kernel BUG at`, and `BUG:` reports that name no sanitizer.
    Bug,
    /// `WARNING:` from `WARN_ON` and its kin (refcount, ODEBUG, kmalloc, ...).
    Warning,
    /// lockdep: possible deadlock, inconsistent lock state, suspicious RCU usage, ...
    Lockdep,
    Kasan,
    Kmsan,
    Kcsan,
    Kfence,
    Ubsan,
    /// The slab allocators' own debugging (`slub_debug`, `CONFIG_DEBUG_SLAB`): an object's
    /// poison, redzone or free pointer overwritten, a double or invalid free, objects left
    /// when a cache is destroyed.
    Slab,
    /// kmemleak's `memory leak`.
    MemoryLeak,
    /// RCU and workqueue stalls.
    Stall,
    HungTask,
    SoftLockup,
    /// Sleeping in atomic context (`scheduling while atomic`, `sleeping function called from
    /// invalid context`, `using smp_processor_id() in preemptible`).
    AtomicSleep,
    /// A leaked reference: `unregister_netdevice: waiting for DEV to become free`, busy inodes.
    Refcount,
}
