//! `faults:` against a real kernel WARNING: LKDTM provokes one in the guest
//! (`tests/data/vm-warning.yaml`); under `faults: forbid` the run is NOT MET because of it,
//! named with its title, and under `faults: allow` (or an allow list matching its title)
//! the same scenario is MET with the WARNING listed in `verdict.json`. Slab corruptions on
//! the `slub` debug kernel (`tests/data/vm-slab.yaml`: LKDTM's double free, then its one-byte
//! overflow) are recognised in the guest like KASAN's reports: titled, and NOT MET under
//! `faults: forbid`. And every debug
//! kernel's checker merges over the base config (`lab kernel config --debug ...`), without a
//! cold build per checker in the suite.

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;

use crate::support::{ensure, lab};
use crate::vm::{run_file, test_kernel, vm_trial, Run};
use lab::event::Outcome;
use lab::vm::backend::VmOptions;

/// The title syzkaller gives LKDTM's WARNING (`drivers/misc/lkdtm/bugs.c`).
const TITLE: &str = "WARNING in lkdtm_WARNING";

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("faults::a_forbidden_warning_makes_the_run_not_met_and_allow_makes_it_met", forbid_then_allow),
        vm_trial("faults::every_debug_kernel_checker_sticks_over_the_base_config", debug_kernels_merge),
        vm_trial("faults::slab_corruptions_on_the_slub_kernel_are_titled_and_forbidden", slab_corruptions),
    ]
}

/// The options each `--debug` kind stands for, as `.config` lines (`slub` switches on with
/// the command line what the base config already builds: its line is checked, not new).
const CHECKERS: [(&str, &str); 7] = [
    ("kasan", "CONFIG_KASAN=y"),
    ("kfence", "CONFIG_KFENCE=y"),
    ("lockdep", "CONFIG_PROVE_LOCKING=y"),
    ("ubsan", "CONFIG_UBSAN=y"),
    ("atomic_sleep", "CONFIG_DEBUG_ATOMIC_SLEEP=y"),
    ("kmemleak", "CONFIG_DEBUG_KMEMLEAK=y"),
    ("slub", "CONFIG_SLUB_DEBUG=y"),
];

fn debug_kernels_merge() -> Result<(), Failed> {
    let config = |debug: Option<&str>| {
        let mut cmd = lab();
        cmd.args(["kernel", "config", "fnhe-leak"]);
        if let Some(d) = debug {
            cmd.args(["--debug", d]);
        }
        cmd.output()
    };
    let plain = config(None)?;
    ensure(plain.status.success(), "lab kernel config fnhe-leak", &plain)?;
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    let all: Vec<&str> = CHECKERS.iter().map(|(k, _)| *k).collect();
    let debug = config(Some(&all.join(",")))?;
    // Every option of every fragment is checked to have stuck: a missing dependency exits 2.
    ensure(debug.status.success(), "every checker at once merges, each option stuck", &debug)?;
    let text = String::from_utf8_lossy(&debug.stdout);
    for (kind, line) in CHECKERS {
        let has = |t: &str| t.lines().any(|l| l == line);
        let new = kind == "slub" || !has(&plain);
        ensure(has(&text) && new, &format!("--debug {kind} adds {line}, which the base kernel does not have"), &debug)?;
    }
    let bad = config(Some("kasan,kcsan"))?;
    ensure(
        bad.status.code() == Some(2) && String::from_utf8_lossy(&bad.stderr).contains("unknown debug kernel `kcsan`"),
        "an unknown checker is a usage error naming it",
        &bad,
    )
}

/// The test scenario with its `faults:` line replaced by `policy`, run in a VM.
fn run_with(policy: &str) -> Result<Run, Failed> {
    run_data_with("vm-warning.yaml", policy)
}

/// `tests/data/<name>` with its `faults:` line replaced by `policy`, run in a VM on the test
/// kernel (its `kernel.debug` still adds its command line).
fn run_data_with(name: &str, policy: &str) -> Result<Run, Failed> {
    run_data_edited(name, policy, None)
}

/// As [`run_data_with`], with one more text replaced (`from`, `to`) first.
fn run_data_edited(name: &str, policy: &str, edit: Option<(&str, &str)>) -> Result<Run, Failed> {
    let kernel = test_kernel()?;
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name))?;
    if !text.contains("\nfaults: forbid\n") {
        return Err(format!("tests/data/{name} no longer says `faults: forbid`").into());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(name);
    let text = match edit {
        Some((from, to)) if text.contains(from) => text.replace(from, to),
        Some((from, _)) => return Err(format!("tests/data/{name} no longer says {from:?}").into()),
        None => text,
    };
    std::fs::write(&path, text.replace("\nfaults: forbid\n", &format!("\nfaults: {policy}\n")))?;
    run_file(&path, None, |o| VmOptions { kernel: Some(kernel), ..o })
}

/// `verdict.json`'s `unexpected_faults`.
fn unexpected(run: &Run) -> Result<Vec<Value>, Failed> {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(run.dir.join("verdict.json"))?)?;
    Ok(json["unexpected_faults"].as_array().cloned().unwrap_or_default())
}

fn forbid_then_allow() -> Result<(), Failed> {
    let run = run_with("forbid")?;
    let listed = unexpected(&run)?;
    let warning = listed.iter().find(|f| f["title"] == TITLE);
    run.ensure(warning.is_some(), &format!("verdict.json lists {TITLE} among {listed:?}"))?;
    let w = warning.expect("checked");
    run.ensure(
        w["class"] == "warning" && w["forbidden"] == true && w["fatal"] == false && w["time"].as_f64().is_some(),
        &format!("a forbidden, non-fatal warning with its time: {w}"),
    )?;
    run.ensure(w["first_line"].as_str().unwrap_or("").starts_with("WARNING: CPU: "), &format!("its first line: {w}"))?;
    run.ensure(run.report.outcome == Outcome::NotMet, "faults: forbid makes the run NOT MET")?;
    run.ensure(run.report.summary.contains(TITLE), "the summary names the WARNING by its title")?;
    run.ensure(run.report.notes.iter().any(|n| n.starts_with("the run itself: ")), "the run's own verdict is kept in a note")?;
    eprintln!("faults: forbid: {:?}: {} ({:?}); unexpected_faults: {w}", run.report.outcome, run.report.summary, run.took);

    let run = run_with("allow")?;
    run.ensure(run.report.outcome == Outcome::Met, "faults: allow leaves the run MET")?;
    eprintln!("faults: allow: {:?}: {} ({:?})", run.report.outcome, run.report.summary, run.took);
    let listed = unexpected(&run)?;
    run.ensure(
        listed.iter().any(|f| f["title"] == TITLE && f["forbidden"] == false),
        &format!("verdict.json still lists {TITLE}, allowed: {listed:?}"),
    )?;

    // An allow list naming the WARNING's title forbids all but it.
    let run = run_with("{ allow: ['^WARNING in lkdtm_WARNING$'] }")?;
    run.ensure(run.report.outcome == Outcome::Met, "a WARNING whose title the allow list matches leaves the run MET")
}

/// LKDTM's slab corruptions under `slub_debug` (`drivers/misc/lkdtm/heap.c`), each with its
/// first line's start and its title, as the test kernel (6.1.192) reports them. The double
/// free: the free path finds the slab already empty (`free_to_partial_list()`), and
/// `lkdtm_SLAB_FREE_DOUBLE` is inlined into `direct_entry`. The one-byte overflow past a
/// kmalloc'd 1 KiB: named by the object's owner (its `Allocated in` line).
const SLAB_CASES: [(&str, &str, &str); 2] = [
    (
        "SLAB_FREE_DOUBLE",
        "BUG lkdtm-heap-double_free (Not tainted): ",
        "SLUB: Slab has NUM allocated objects but NUM are to be freed in direct_entry",
    ),
    (
        "SLAB_LINEAR_OVERFLOW",
        "BUG kmalloc-1k (Not tainted): Right Redzone overwritten",
        "SLUB: Redzone overwritten in lkdtm_SLAB_LINEAR_OVERFLOW",
    ),
];

fn slab_corruptions() -> Result<(), Failed> {
    for (crash, first, title) in SLAB_CASES {
        let run = run_data_edited("vm-slab.yaml", "forbid", Some(("SLAB_FREE_DOUBLE", crash)))?;
        let listed = unexpected(&run)?;
        let slab = listed.iter().find(|f| f["class"] == "slab");
        run.ensure(slab.is_some(), &format!("{crash}: verdict.json lists a slab fault among {listed:?}"))?;
        let s = slab.expect("checked");
        run.ensure(s["title"] == title, &format!("{crash}: titled {title}: {s}"))?;
        run.ensure(s["forbidden"] == true && s["fatal"] == false, &format!("{crash}: forbidden, not fatal: {s}"))?;
        run.ensure(s["first_line"].as_str().is_some_and(|l| l.starts_with(first)), &format!("{crash}: SLUB's own first line: {s}"))?;
        run.ensure(run.report.outcome == Outcome::NotMet, "faults: forbid makes the run NOT MET")?;
        run.ensure(run.report.summary.contains(title), "the summary names the corruption by its title")?;
        eprintln!("slub {crash}: {:?}: {} ({:?}); unexpected_faults: {s}", run.report.outcome, run.report.summary, run.took);
    }
    Ok(())
}
