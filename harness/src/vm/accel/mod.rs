//! Which accelerator a VM boots with, decided on evidence and remembered per host.
//!
//! The order: `--accel`/`$LAB_ACCEL` if given; else what this host's record says; else the
//! SeaBIOS probe ([`probe`]). A KVM boot that was not forced may fall back to TCG if it
//! fails before the guest's first event: the backend does that and calls [`remember`]
//! with what it saw, so the next run boots the right way first time.

pub mod probe;
pub mod record;
pub mod signs;

use std::path::Path;

pub use record::{AccelRecord, HostKey, Records};
pub use signs::AccelFailure;

use crate::vm::qemu::Accel;

/// How the accelerator was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--accel` or `$LAB_ACCEL`: no probe, no fallback.
    Forced,
    /// This host's record in the cache.
    Remembered,
    /// The SeaBIOS probe just now.
    Probed,
}

/// The accelerator to boot with first, and why.
#[derive(Debug, Clone)]
pub struct AccelPlan {
    pub accel: Accel,
    /// In words, for the `VmStarting` event and `verdict.json`.
    pub reason: String,
    pub source: Source,
    /// This host's key, when it could be read: where to remember what the boot shows.
    pub key: Option<HostKey>,
}

impl AccelPlan {
    /// A KVM boot that fails before the guest's first event is retried under TCG, unless
    /// the user asked for KVM.
    pub fn may_fall_back(&self) -> bool {
        self.accel == Accel::Kvm && self.source != Source::Forced
    }

    /// Whether a KVM boot that reached the guest is news worth writing down.
    pub fn should_confirm(&self) -> bool {
        self.accel == Accel::Kvm && self.source == Source::Probed
    }
}

/// Decides the first accelerator for a boot with `qemu`.
pub async fn decide(qemu: &Path, forced: Option<Accel>, records: &Records) -> AccelPlan {
    if let Some(accel) = forced {
        return AccelPlan { accel, reason: format!("{accel} requested"), source: Source::Forced, key: None };
    }
    let key = HostKey::current(qemu).await.ok();
    if let Some(rec) = key.as_ref().and_then(|k| records.load(k)) {
        let reason = match rec.accel {
            Accel::Kvm => format!("KVM, as it booted here before ({})", rec.evidence),
            Accel::Tcg => format!("TCG, as KVM failed here before: {} (`lab doctor` shows the record)", rec.evidence),
        };
        return AccelPlan { accel: rec.accel, reason, source: Source::Remembered, key };
    }
    let (worth, evidence) = probe::probe(qemu).await.verdict();
    if worth {
        return AccelPlan { accel: Accel::Kvm, reason: format!("KVM looks usable: {evidence}"), source: Source::Probed, key };
    }
    if let Some(k) = &key {
        let _ = records.save(&AccelRecord::new(k.clone(), Accel::Tcg, evidence.clone(), Vec::new()));
    }
    AccelPlan { accel: Accel::Tcg, reason: format!("KVM unusable, using TCG (slow): {evidence}"), source: Source::Probed, key }
}

/// The accelerator a run used in the end, for `verdict.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccelUsed {
    pub used: Accel,
    /// Why the first boot used what it used.
    pub reason: String,
    /// The accelerator that failed first, and how, when the run fell back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<(Accel, String)>,
}

/// Writes down what a real boot showed about KVM on this host.
pub fn remember(records: &Records, plan: &AccelPlan, accel: Accel, evidence: &str, lines: Vec<String>) {
    if let Some(k) = &plan.key {
        let _ = records.save(&AccelRecord::new(k.clone(), accel, evidence, lines));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forced_accelerator_skips_the_probe_and_never_falls_back() {
        let records = Records { dir: tempfile::tempdir().unwrap().path().join("accel") };
        let p = decide(Path::new("/nonexistent/qemu"), Some(Accel::Kvm), &records).await;
        assert_eq!((p.accel, p.source), (Accel::Kvm, Source::Forced));
        assert!(!p.may_fall_back());
    }

    #[test]
    fn only_an_unforced_kvm_plan_falls_back_and_only_a_probed_one_is_confirmed() {
        let plan = |accel, source| AccelPlan { accel, reason: String::new(), source, key: None };
        assert!(plan(Accel::Kvm, Source::Probed).may_fall_back());
        assert!(plan(Accel::Kvm, Source::Remembered).may_fall_back());
        assert!(!plan(Accel::Tcg, Source::Probed).may_fall_back());
        assert!(plan(Accel::Kvm, Source::Probed).should_confirm());
        assert!(!plan(Accel::Kvm, Source::Remembered).should_confirm());
    }
}
