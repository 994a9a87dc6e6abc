//! The regression suite: real kernels, real netlink, real /dev/kmsg — nothing faked.
//!
//! One module per area, each returning its trials, plus one trial per scenario x variant
//! discovered from `scenarios/` (`scenarios.rs`). A trial that needs root or a kernel fails
//! with the reason where those are missing — never passes — unless
//! `LAB_TEST_SKIP_UNAVAILABLE=1` explicitly skips it (`support::gated`).

use libtest_mimic::{Arguments, Trial};

mod accel;
mod affected;
mod faults;
mod fd_vanish;
mod fnhe;
mod fuse_restart;
mod host_run;
mod pipe_limit;
mod reports;
mod scenarios;
mod support;
mod topology;
mod triage;
mod verify;
mod vm;

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(topology::tests());
    trials.extend(host_run::tests());
    trials.extend(vm::tests());
    trials.extend(accel::tests());
    trials.extend(fnhe::tests());
    trials.extend(pipe_limit::tests());
    trials.extend(fd_vanish::tests());
    trials.extend(fuse_restart::tests());
    trials.extend(triage::tests());
    trials.extend(reports::tests());
    trials.extend(scenarios::tests());
    trials.extend(verify::tests());
    trials.extend(faults::tests());
    trials.extend(affected::tests());
    libtest_mimic::run(&args, trials).exit();
}
