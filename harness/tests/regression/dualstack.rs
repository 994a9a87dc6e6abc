//! `scenarios/dualstack-two-gateways.yaml` in the guest: IPv4 and IPv6 through two
//! gateways in series, on the base kernel with no patches (built, or found in the kernel
//! cache, like `lab run` does; `$LAB_TEST_KERNEL` overrides it as in `vm.rs`).
//!
//! The scenario's pings are `exec` steps with an expected exit status, so a gateway that
//! does not forward a family makes the run an error, not "met"; its expectations look for
//! the nftables log lines gw2 writes for the IPv6 flows it forwards.

use std::path::PathBuf;
use std::time::Instant;

use libtest_mimic::{Failed, Trial};
use tokio_util::sync::CancellationToken;

use lab::backend::{self, Backend};
use lab::event::{Event, EventSink, Outcome};
use lab::vm::backend::VmOptions;

use crate::support::repo;

pub fn tests() -> Vec<Trial> {
    vec![crate::vm::vm_trial("dualstack::ipv4_and_ipv6_through_two_gateways_in_the_guest", two_gateways)]
}

fn two_gateways() -> Result<(), Failed> {
    let loaded = lab::scenario::load(&repo().join("scenarios/dualstack-two-gateways.yaml")).map_err(|e| e.to_string())?;
    let variant = lab::scenario::Variant::resolve(&loaded.scenario, None).map_err(|e| e.to_string())?;
    let _vm = crate::vm::vm_lock();
    let runs = tempfile::tempdir()?;
    let opts = VmOptions {
        kernel: std::env::var_os("LAB_TEST_KERNEL").map(PathBuf::from),
        lab_binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_lab"))),
        runs_dir: Some(runs.path().to_path_buf()),
        ..VmOptions::default()
    };
    let rt = tokio::runtime::Runtime::new()?;
    let t0 = Instant::now();
    let (report, events) = rt.block_on(async {
        let (sink, mut rx) = EventSink::channel();
        let report = backend::run(&loaded, &variant, &Backend::Vm(opts), sink, CancellationToken::new()).await;
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        (report, events)
    });
    let took = t0.elapsed();
    let has = |f: &dyn Fn(&Event) -> bool| events.iter().any(f);
    let step_ok = |want: &str| has(&|e| matches!(e, Event::StepFinished { id: Some(id), ok: true, .. } if id == want));
    let met = |want: &str| has(&|e| matches!(e, Event::ExpectationDecided { id, met: true, .. } if id == want));
    let checks = [
        (report.outcome == Outcome::Met, "the run is met"),
        (has(&|e| matches!(e, Event::RunStarted { backend, .. } if backend == "vm")), "it ran in the guest"),
        (step_ok("ping4"), "IPv4 ping cli -> svr through gw1 and gw2"),
        (step_ok("ping6"), "IPv6 ping cli -> svr through gw1 and gw2"),
        (step_ok("tcp6") && step_ok("tcp4"), "TCP over both families"),
        (step_ok("ping6-unforwarded"), "the IPv6 ping fails while gw2 does not forward IPv6"),
        (step_ok("ping6-again"), "and works again once it does"),
        (met("icmp6-forwarded-by-gw2") && met("tcp6-forwarded-by-gw2"), "gw2's nftables log shows the forwarded IPv6 flows"),
    ];
    let failed: Vec<&str> = checks.iter().filter(|(ok, _)| !ok).map(|(_, what)| *what).collect();
    if failed.is_empty() {
        eprintln!("dualstack: met in {took:?}");
        return Ok(());
    }
    let dir = events.iter().find_map(|e| if let Event::Artifacts { dir } = e { Some(PathBuf::from(dir)) } else { None });
    let console = dir.map(|d| std::fs::read_to_string(d.join("console.log")).unwrap_or_default()).unwrap_or_default();
    let tail: Vec<&str> = console.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
    let events: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
    Err(format!(
        "not as expected: {}\nreport: {:?}: {} {:?}\ntook {took:?}\n--- events ---\n{}\n--- console tail ---\n{}",
        failed.join("; "),
        report.outcome,
        report.summary,
        report.notes,
        events.join("\n"),
        tail.join("\n")
    )
    .into())
}
