//! Debug kernels on demand: the kernel's own checkers (KASAN, lockdep, ...) as config
//! fragments a scenario (`kernel.debug`) or a run (`--debug kasan,lockdep`) adds to the base
//! config. What each finds is reported like any other kernel fault, and counts as unexpected
//! unless it is the signature (see `vm::unexpected`).
//!
//! Each kind is a file `vm/config/debug/<name>.config`. A set of kinds is a config of its own:
//! its first build is cold (minutes), later ones reuse it; a kind that only switches on what
//! the base already builds (`slub`) changes no option and adds its guest command line
//! ([`DebugKind::cmdline`]) instead. What each costs under TCG is in `scenarios/README.md`.

use serde::Deserialize;

/// One of the kernel's checkers, by the name users give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebugKind {
    /// Out-of-bounds and use-after-free accesses, every one (generic KASAN, inline).
    Kasan,
    /// The same bugs by sampling, cheap enough for production kernels.
    Kfence,
    /// Lock-order inversions and RCU misuse before they deadlock (PROVE_LOCKING).
    Lockdep,
    /// Undefined behaviour: out-of-bounds array indexes, bad shifts.
    Ubsan,
    /// Sleeping in atomic context (`BUG: sleeping function called from invalid context`).
    AtomicSleep,
    /// Unreferenced allocations (kmemleak), scanned when the run ends.
    Kmemleak,
    /// Slab corruption: overwritten red zones and poison, double and invalid frees, objects
    /// left in a destroyed cache (`slub_debug`).
    Slub,
}

impl DebugKind {
    pub const ALL: [DebugKind; 7] = [
        DebugKind::Kasan,
        DebugKind::Kfence,
        DebugKind::Lockdep,
        DebugKind::Ubsan,
        DebugKind::AtomicSleep,
        DebugKind::Kmemleak,
        DebugKind::Slub,
    ];

    /// As written in YAML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DebugKind::Kasan => "kasan",
            DebugKind::Kfence => "kfence",
            DebugKind::Lockdep => "lockdep",
            DebugKind::Ubsan => "ubsan",
            DebugKind::AtomicSleep => "atomic_sleep",
            DebugKind::Kmemleak => "kmemleak",
            DebugKind::Slub => "slub",
        }
    }

    /// What it adds to the guest's kernel command line: a checker built in but off until
    /// asked (SLUB's debugging in `base.config`) needs no kernel of its own.
    pub fn cmdline(self) -> &'static [&'static str] {
        match self {
            // Sanity checks, red zones, poisoning, owner tracking, on every cache.
            DebugKind::Slub => &["slub_debug=FZPU"],
            _ => &[],
        }
    }

    /// Its fragment, relative to `vm/config/`.
    pub fn fragment(self) -> String {
        format!("debug/{}.config", self.name())
    }
}

impl std::fmt::Display for DebugKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown debug kernel `{0}`; known: kasan, kfence, lockdep, ubsan, atomic_sleep, kmemleak, slub")]
pub struct UnknownDebugKind(pub String);

impl std::str::FromStr for DebugKind {
    type Err = UnknownDebugKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().replace('-', "_");
        DebugKind::ALL.into_iter().find(|k| k.name() == wanted).ok_or_else(|| UnknownDebugKind(s.to_string()))
    }
}

/// `kinds`, each once, in a fixed order: the same set always merges into the same config, so
/// it is built once however it was asked for.
pub fn set_of(kinds: impl IntoIterator<Item = DebugKind>) -> Vec<DebugKind> {
    let mut all: Vec<DebugKind> = kinds.into_iter().collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_name_their_fragment() {
        for k in DebugKind::ALL {
            assert_eq!(k.name().parse::<DebugKind>(), Ok(k));
        }
        assert_eq!("atomic-sleep".parse::<DebugKind>(), Ok(DebugKind::AtomicSleep));
        assert_eq!(DebugKind::Kasan.fragment(), "debug/kasan.config");
        assert_eq!(DebugKind::Slub.cmdline(), ["slub_debug=FZPU"]);
        assert!(DebugKind::Kasan.cmdline().is_empty(), "a checker of its own build needs no command line");
        let err = "kcsan".parse::<DebugKind>().unwrap_err().to_string();
        assert!(err.contains("`kcsan`") && err.contains("lockdep"), "{err}");
    }

    #[test]
    fn a_set_is_the_same_however_it_was_asked_for() {
        use DebugKind::*;
        assert_eq!(set_of([Lockdep, Kasan, Kasan]), set_of([Kasan, Lockdep]));
        assert_eq!(set_of([Lockdep, Kasan]), [Kasan, Lockdep]);
    }

    #[test]
    fn every_kind_has_its_fragment_in_the_lab() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm/config");
        for k in DebugKind::ALL {
            let text = std::fs::read_to_string(root.join(k.fragment())).unwrap_or_else(|e| panic!("{}: {e}", k.fragment()));
            assert!(text.lines().any(|l| l.starts_with("CONFIG_")), "{} sets options", k.fragment());
        }
    }
}
