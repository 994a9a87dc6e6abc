//! The regression suite: real kernels, real netlink, real /dev/kmsg — nothing faked.
//!
//! One module per area, each returning its trials; tests that need root or a built kernel
//! say so and are ignored where those are missing, never passed.

use libtest_mimic::{Arguments, Trial};

mod accel;
mod dualstack;
mod faults;
mod fd_vanish;
mod fnhe;
mod fuse_restart;
mod host_run;
mod pipe_limit;
mod support;
mod topology;
mod triage;
mod vm;

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(topology::tests());
    trials.extend(host_run::tests());
    trials.extend(vm::tests());
    trials.extend(accel::tests());
    trials.extend(fnhe::tests());
    trials.extend(dualstack::tests());
    trials.extend(pipe_limit::tests());
    trials.extend(fd_vanish::tests());
    trials.extend(fuse_restart::tests());
    trials.extend(triage::tests());
    trials.extend(faults::tests());
    libtest_mimic::run(&args, trials).exit();
}
