use std::os::unix::process::ExitStatusExt;

use super::*;

fn watched(end: End) -> Watched {
    Watched {
        boot: None,
        accel: Accel::Tcg,
        end,
        agent_up: true,
        last_event: None,
        verdict: None,
        late_faults: Vec::new(),
        notes: Vec::new(),
        exit_status: None,
        boot_timeout: Duration::from_secs(60),
        deadline: Duration::from_secs(300),
        console_tail: vec!["last console line".into()],
        stderr: Vec::new(),
        faults: Vec::new(),
        fault_rules: FaultRules::default(),
    }
}

fn verdict(outcome: Outcome) -> Option<GuestVerdict> {
    Some(GuestVerdict { outcome, summary: "expectation met (1 checked)".into(), notes: vec!["guest note".into()] })
}

fn panic() -> FaultReport {
    FaultReport {
        fault: GuestFault::Panic,
        message: "Kernel panic - not syncing: oops".into(),
        lines: vec![],
        fatal: true,
        class: None,
        title: None,
        time: None,
    }
}

fn soft_lockup() -> FaultReport {
    FaultReport {
        fault: GuestFault::SoftLockup,
        message: "watchdog: BUG: soft lockup - CPU#1 stuck for 22s!".into(),
        lines: vec![],
        fatal: true,
        class: None,
        title: None,
        time: None,
    }
}

fn killed() -> ExitStatus {
    ExitStatus::from_raw(9)
}

#[test]
fn a_verdict_is_the_guests_own() {
    let w = Watched { verdict: verdict(Outcome::Met), ..watched(End::Verdict) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Met);
    assert_eq!(c.report.summary, "expectation met (1 checked)");
    assert_eq!(c.report.notes, vec!["guest note".to_string()]);
    assert!(c.events.is_empty());
}

#[test]
fn a_silent_agent_is_a_hang_at_boot_naming_the_accelerator() {
    let w = Watched { agent_up: false, boot_timeout: Duration::from_secs(20), ..watched(End::BootTimeout) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Error);
    assert_eq!(c.report.summary, "the guest agent sent nothing within 20 s of QEMU starting (tcg boot); QEMU was stopped");
    assert!(matches!(&c.events[..], [Event::GuestFault { fault: GuestFault::Hang, lines, .. }] if lines == &["last console line"]));
}

#[test]
fn qemu_killed_before_a_verdict_says_how_it_died() {
    let w = Watched { agent_up: false, exit_status: Some(killed()), ..watched(End::Exited(killed())) };
    let c = conclude(&w);
    assert_eq!(c.report.summary, "QEMU exited (killed by signal 9) before the guest reported a verdict; the guest agent never started");
    assert!(matches!(&c.events[..], [Event::GuestFault { fault: GuestFault::Exited, .. }]));
}

#[test]
fn a_panic_after_the_verdict_keeps_the_verdict_and_notes_the_panic() {
    let w = Watched { verdict: verdict(Outcome::NotMet), late_faults: vec![panic()], ..watched(End::Exited(ExitStatus::from_raw(0))) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::NotMet);
    assert!(
        c.report.notes.iter().any(|n| n == "after its verdict, the guest kernel panicked: Kernel panic - not syncing: oops"),
        "{:?}",
        c.report.notes
    );
    assert_eq!(c.events.len(), 1, "the late panic is still shown");
}

#[test]
fn a_panic_as_qemu_exits_without_a_verdict_is_the_report() {
    let w = Watched { late_faults: vec![panic()], ..watched(End::Exited(ExitStatus::from_raw(0))) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Error);
    assert_eq!(c.report.summary, "the guest kernel panicked: Kernel panic - not syncing: oops");
}

#[test]
fn a_tolerated_late_fault_is_a_note_not_the_report() {
    let w = Watched {
        verdict: verdict(Outcome::Met),
        late_faults: vec![soft_lockup()],
        fault_rules: FaultRules { tolerated: vec![GuestFault::SoftLockup], ..FaultRules::default() },
        ..watched(End::Verdict)
    };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Met);
    assert!(c.report.notes.iter().any(|n| n.contains("soft lockup - CPU#1") && n.ends_with("(see console.log)")), "{:?}", c.report.notes);
}

#[test]
fn a_verdict_then_a_hang_at_power_off_keeps_the_verdict_with_the_watchs_note() {
    let note = "the guest did not power off within 10 s of its verdict; QEMU was killed".to_string();
    let w = Watched { verdict: verdict(Outcome::Met), notes: vec![note.clone()], exit_status: Some(killed()), ..watched(End::Verdict) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Met);
    assert_eq!(c.report.notes.last(), Some(&note));
}

#[test]
fn a_deadline_names_the_last_event() {
    let w = Watched { last_event: Some("step_started of step churn".into()), ..watched(End::Deadline) };
    let c = conclude(&w);
    assert_eq!(
        c.report.summary,
        "no verdict from the guest within the scenario deadline of 5m (its last event: step_started of step churn); QEMU was stopped"
    );
}

#[test]
fn interrupted_wins_over_everything() {
    let w = Watched { verdict: verdict(Outcome::Met), late_faults: vec![panic()], ..watched(End::Interrupted) };
    assert_eq!(conclude(&w).report.summary, "interrupted; QEMU was stopped");
}

#[test]
fn a_fatal_fault_during_the_run_is_the_report() {
    let c = conclude(&watched(End::Fault(panic())));
    assert_eq!(c.report.summary, "the guest kernel panicked: Kernel panic - not syncing: oops");
}

fn internal_error() -> AccelFailure {
    AccelFailure {
        summary: "KVM internal error. Suberror: 1".into(),
        lines: vec!["KVM internal error. Suberror: 1".into(), "emulation failure".into()],
    }
}

#[test]
fn kvm_failing_before_the_guest_is_worth_a_tcg_boot() {
    let w = Watched { accel: Accel::Kvm, agent_up: false, ..watched(End::AccelFailed(internal_error())) };
    assert_eq!(w.accel_failed_early(), Some(internal_error()));
    let c = conclude(&w);
    assert_eq!(c.report.summary, "kvm failed before the guest came up: KVM internal error. Suberror: 1");
    assert!(c.report.notes.contains(&"qemu: emulation failure".to_string()));
}

#[test]
fn kvm_aborting_at_start_or_crawling_is_worth_a_tcg_boot_too() {
    let abort = Watched {
        accel: Accel::Kvm,
        agent_up: false,
        stderr: vec!["qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69".into()],
        ..watched(End::Exited(ExitStatus::from_raw(134 << 8)))
    };
    assert_eq!(abort.accel_failed_early().unwrap().summary, "KVM refused the guest's MSRs: failed to set MSR 0x10a to 0x69");
    let crawl = Watched { accel: Accel::Kvm, agent_up: false, boot_timeout: Duration::from_secs(6), ..watched(End::BootTimeout) };
    assert_eq!(crawl.accel_failed_early().unwrap().summary, "the guest was not up within 6 s under KVM (TCG boots in about 2 s)");
}

#[test]
fn no_fallback_once_the_guest_ran_or_under_tcg_or_for_a_kernel_fault() {
    let ran = Watched { accel: Accel::Kvm, agent_up: true, ..watched(End::AccelFailed(internal_error())) };
    assert_eq!(ran.accel_failed_early(), None);
    assert_eq!(conclude(&ran).report.summary, "kvm failed while the guest ran: KVM internal error. Suberror: 1");
    let tcg = Watched { agent_up: false, ..watched(End::BootTimeout) };
    assert_eq!(tcg.accel_failed_early(), None);
    let panicked = Watched { accel: Accel::Kvm, agent_up: false, ..watched(End::Fault(panic())) };
    assert_eq!(panicked.accel_failed_early(), None);
}

#[test]
fn only_a_fault_before_the_agent_is_a_fault_at_boot() {
    let at_boot = Watched { agent_up: false, ..watched(End::Fault(panic())) };
    assert_eq!(at_boot.fault_at_boot().map(|f| f.fault), Some(GuestFault::Panic));
    assert!(watched(End::Fault(panic())).fault_at_boot().is_none(), "the agent was up: the scenario ran");
    assert!(Watched { agent_up: false, ..watched(End::BootTimeout) }.fault_at_boot().is_none());
}

fn warning(title: &str, message: &str) -> FaultReport {
    FaultReport {
        fault: GuestFault::Warning,
        message: message.into(),
        lines: vec![],
        fatal: false,
        class: Some(crate::event::FaultClass::Warning),
        title: Some(title.into()),
        time: Some(20.1),
    }
}

fn lkdtm_warning() -> FaultReport {
    warning("WARNING in lkdtm_WARNING", "WARNING: CPU: 0 PID: 230 at drivers/misc/lkdtm/bugs.c:89 lkdtm_WARNING+0x1b/0x30")
}

fn leak() -> FaultReport {
    warning(
        "unregister_netdevice: waiting for DEV to become free",
        "unregister_netdevice: waiting for cli-veth to become free. Usage count = 4",
    )
}

fn rules(policy: unexpected::Policy) -> FaultRules {
    let signatures = vec![regex::Regex::new(r"unregister_netdevice: waiting for \S+ to become free").unwrap()];
    FaultRules { signatures, tolerated: Vec::new(), policy }
}

fn forbid() -> unexpected::Policy {
    unexpected::Policy::ForbidBut(Vec::new())
}

#[test]
fn a_forbidden_warning_makes_a_met_run_not_met_naming_it() {
    let w =
        Watched { verdict: verdict(Outcome::Met), faults: vec![lkdtm_warning()], fault_rules: rules(forbid()), ..watched(End::Verdict) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::NotMet);
    assert_eq!(c.report.summary, "unexpected kernel fault (faults: forbid): WARNING in lkdtm_WARNING");
    assert_eq!(c.report.notes[0], "the run itself: expectation met (1 checked)");
    let u = &c.unexpected[..];
    assert!(matches!(u, [x] if x.title == "WARNING in lkdtm_WARNING" && x.forbidden && x.time == Some(20.1) && !x.fatal), "{u:?}");
}

#[test]
fn allowed_faults_are_listed_and_leave_the_outcome_alone() {
    let w = Watched { verdict: verdict(Outcome::Met), faults: vec![lkdtm_warning()], ..watched(End::Verdict) };
    let c = conclude(&w);
    assert_eq!((c.report.outcome, c.report.summary.as_str()), (Outcome::Met, "expectation met (1 checked)"));
    assert!(matches!(&c.unexpected[..], [x] if x.title == "WARNING in lkdtm_WARNING" && !x.forbidden));
}

#[test]
fn the_signature_is_not_an_unexpected_fault() {
    let w = Watched { verdict: verdict(Outcome::Met), faults: vec![leak()], fault_rules: rules(forbid()), ..watched(End::Verdict) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Met);
    assert!(c.unexpected.is_empty(), "{:?}", c.unexpected);
}

#[test]
fn an_allow_list_forbids_only_the_titles_it_does_not_match() {
    let policy = unexpected::Policy::ForbidBut(vec![regex::Regex::new("^WARNING in lkdtm_").unwrap()]);
    let other = warning("possible deadlock in rtnl_lock", "WARNING: possible circular locking dependency detected");
    let w = Watched {
        verdict: verdict(Outcome::NotMet),
        late_faults: vec![other],
        faults: vec![lkdtm_warning(), leak()],
        fault_rules: rules(policy),
        ..watched(End::Verdict)
    };
    let c = conclude(&w);
    assert_eq!(
        (c.report.outcome, c.report.summary.as_str()),
        (Outcome::NotMet, "unexpected kernel fault (faults: forbid): possible deadlock in rtnl_lock")
    );
    let listed: Vec<(&str, bool)> = c.unexpected.iter().map(|u| (u.title.as_str(), u.forbidden)).collect();
    assert_eq!(listed, [("WARNING in lkdtm_WARNING", false), ("possible deadlock in rtnl_lock", true)]);
}

#[test]
fn a_run_that_errored_stays_an_error_and_notes_the_forbidden_fault() {
    let w = Watched { faults: vec![lkdtm_warning()], fault_rules: rules(forbid()), ..watched(End::Deadline) };
    let c = conclude(&w);
    assert_eq!(c.report.outcome, Outcome::Error);
    assert!(c.report.notes.iter().any(|n| n.ends_with("WARNING in lkdtm_WARNING")), "{:?}", c.report.notes);
}

#[test]
fn tolerated_kinds_and_faults_without_a_class_are_not_listed() {
    let rules = FaultRules { tolerated: vec![GuestFault::SoftLockup], ..rules(forbid()) };
    let w = Watched {
        verdict: verdict(Outcome::Met),
        faults: vec![soft_lockup(), lkdtm_warning()],
        late_faults: vec![panic()],
        fault_rules: rules,
        ..watched(End::Verdict)
    };
    let c = conclude(&w);
    assert!(matches!(&c.unexpected[..], [x] if x.title == "WARNING in lkdtm_WARNING"), "{:?}", c.unexpected);
}

#[test]
fn a_late_warning_is_noted_by_its_title() {
    let w = Watched { verdict: verdict(Outcome::Met), late_faults: vec![lkdtm_warning()], ..watched(End::Verdict) };
    let c = conclude(&w);
    assert!(
        c.report.notes.iter().any(|n| n.starts_with("WARNING in lkdtm_WARNING: WARNING:") && n.ends_with("(see console.log)")),
        "{:?}",
        c.report.notes
    );
}
