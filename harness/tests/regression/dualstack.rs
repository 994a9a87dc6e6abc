//! `scenarios/dualstack-two-gateways.yaml` in the guest: IPv4 and IPv6 through two
//! gateways in series, on the base kernel with no patches (built, or found in the kernel
//! cache, like `lab run` does; `$LAB_TEST_KERNEL` overrides it as in `vm.rs`).
//!
//! The scenario's pings are `exec` steps with an expected exit status, so a gateway that
//! does not forward a family makes the run an error, not "met"; its expectations look for
//! the nftables log lines gw2 writes for the IPv6 flows it forwards.

use std::path::PathBuf;

use libtest_mimic::{Failed, Trial};

use lab::event::{Event, Outcome};
use lab::vm::backend::VmOptions;

use crate::support::repo;

pub fn tests() -> Vec<Trial> {
    vec![crate::vm::vm_trial("dualstack::ipv4_and_ipv6_through_two_gateways_in_the_guest", two_gateways)]
}

fn two_gateways() -> Result<(), Failed> {
    let path = repo().join("scenarios/dualstack-two-gateways.yaml");
    let run = crate::vm::run_file(&path, None, |o| VmOptions { kernel: std::env::var_os("LAB_TEST_KERNEL").map(PathBuf::from), ..o })?;
    let has = |f: &dyn Fn(&Event) -> bool| run.events.iter().any(f);
    let step_ok = |want: &str| has(&|e| matches!(e, Event::StepFinished { id: Some(id), ok: true, .. } if id == want));
    let met = |want: &str| has(&|e| matches!(e, Event::ExpectationDecided { id, met: true, .. } if id == want));
    let checks = [
        (run.report.outcome == Outcome::Met, "the run is met"),
        (has(&|e| matches!(e, Event::RunStarted { backend, .. } if backend == "vm")), "it ran in the guest"),
        (step_ok("ping4"), "IPv4 ping cli -> svr through gw1 and gw2"),
        (step_ok("ping6"), "IPv6 ping cli -> svr through gw1 and gw2"),
        (step_ok("tcp6") && step_ok("tcp4"), "TCP over both families"),
        (step_ok("ping6-unforwarded"), "the IPv6 ping fails while gw2 does not forward IPv6"),
        (step_ok("ping6-again"), "and works again once it does"),
        (met("icmp6-forwarded-by-gw2") && met("tcp6-forwarded-by-gw2"), "gw2's nftables log shows the forwarded IPv6 flows"),
    ];
    let failed: Vec<&str> = checks.iter().filter(|(ok, _)| !ok).map(|(_, what)| *what).collect();
    run.ensure(failed.is_empty(), &format!("not as expected: {}", failed.join("; ")))?;
    eprintln!("dualstack: met in {:?}", run.took);
    Ok(())
}
