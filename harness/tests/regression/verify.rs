//! `lab verify` and `lab report merge` end to end, as a user runs them: the exit-2 diagnosis
//! of a fix written against a tree without the debug patch (no kernel built), and a full
//! local dry run of the CI path — two shards of real VM trials of `pipe-limit` (buggy
//! against fixed-model), each written as JSON, merged into one verdict.

use std::path::Path;
use std::time::Instant;

use libtest_mimic::{Failed, Trial};

use lab::verify::report::{Role, Verdict, Verification};

use crate::support::{ensure, lab, repo, text};
use crate::vm::vm_trial;

pub fn tests() -> Vec<Trial> {
    let root_vm = |name: &str, f: fn() -> Result<(), Failed>| {
        let t = vm_trial(name, f);
        if crate::support::is_root() || t.has_ignored_flag() {
            t
        } else {
            t.with_ignored_flag(true).with_kind("needs root")
        }
    };
    vec![
        vm_trial("verify::a_published_fix_that_misses_the_debug_patch_exits_2_naming_hunk_and_patch", published_fix),
        root_vm("verify::pipe_limit_shards_merge_into_one_verdict", shards_merge),
    ]
}

fn published_fix() -> Result<(), Failed> {
    let fix = repo().join("harness/tests/regression/fixes/fnhe-fix-as-published.patch");
    let started = Instant::now();
    let out = lab().args(["verify", "fnhe-leak", "--trials", "1", "--fix"]).arg(&fix).output()?;
    let said = text(&out);
    ensure(out.status.code() == Some(2), "exit 2 (a scenario error)", &out)?;
    ensure(
        said.contains("fnhe-fix-as-published.patch") && said.contains("net/ipv4/route.c: Hunk #1 FAILED"),
        "names the patch, file and hunk",
        &out,
    )?;
    ensure(said.contains("series patch 0001-route-debug-ref-leak-test.patch"), "names the debug patch in the hunk's context", &out)?;
    ensure(said.contains("Rebase the fix onto the series") && said.contains("--fix-before"), "says how to fix it", &out)?;
    ensure(!said.contains("building or finding the kernels"), "nothing was built", &out)?;
    eprintln!("diagnosed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// One share: `lab verify pipe-limit --shard i/2`, its JSON read back.
fn share(i: u32, dir: &Path) -> Result<(Verification, Option<i32>), Failed> {
    let path = dir.join(format!("share-{i}.json"));
    let out = lab()
        .args(["verify", "pipe-limit", "--variants", "buggy,fixed-model", "--trials", "4", "--shard", &format!("{i}/2"), "--out"])
        .arg(&path)
        .output()?;
    eprintln!("{}", text(&out));
    let v: Verification =
        serde_json::from_slice(&std::fs::read(&path).map_err(|e| format!("share {i} wrote no JSON ({e}): {}", text(&out)))?)?;
    Ok((v, out.status.code()))
}

fn indices(v: &Verification, role: Role) -> Vec<u32> {
    v.variants.iter().find(|s| s.role == role).map(|s| s.trials.iter().map(|t| t.index).collect()).unwrap_or_default()
}

fn shards_merge() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (a, a_code) = share(1, dir.path())?;
    let (b, _) = share(2, dir.path())?;
    for (v, want) in [(&a, vec![0, 2]), (&b, vec![1, 3])] {
        if indices(v, Role::Buggy) != want || indices(v, Role::Fixed) != want {
            return Err(format!(
                "shard {:?} ran trials {:?} / {:?}, not {want:?}",
                v.shard,
                indices(v, Role::Buggy),
                indices(v, Role::Fixed)
            )
            .into());
        }
        // Two trials per side are too few for a verdict either way (2/2 against 0/2).
        if v.variants.iter().all(|s| s.summary.completed == 2) && v.variants[0].summary.seen == 2 && v.variants[1].summary.seen == 0 {
            check(v.verdict.verdict == Verdict::Inconclusive, "a share of 2 + 2 clean trials alone is INCONCLUSIVE")?;
        }
    }
    check(a_code == Some(a.verdict.exit_code), "a share exits with its verdict's code")?;
    let merged_path = dir.path().join("merged.json");
    let out = lab()
        .args(["report", "merge"])
        .arg(dir.path().join("share-1.json"))
        .arg(dir.path().join("share-2.json"))
        .arg("--out")
        .arg(&merged_path)
        .arg("--junit")
        .arg(dir.path().join("merged.junit.xml"))
        .arg("--html")
        .arg(dir.path().join("merged.html"))
        .output()?;
    eprintln!("{}", text(&out));
    let m: Verification = serde_json::from_slice(&std::fs::read(&merged_path)?)?;
    check(indices(&m, Role::Buggy) == [0, 1, 2, 3] && indices(&m, Role::Fixed) == [0, 1, 2, 3], "the merge holds every trial once")?;
    for (i, side) in m.variants.iter().enumerate() {
        check(side.summary.seen == a.variants[i].summary.seen + b.variants[i].summary.seen, "seen counts add up")?;
    }
    check(m.verdict == lab::verify::verdict_of(&m.variants), "the merged verdict is decided over all trials")?;
    check(out.status.code() == Some(m.verdict.exit_code), "merge exits with the merged verdict's code")?;
    // The merged reports: one JUnit testcase per trial plus the verdict's, and the HTML page.
    let junit = std::fs::read_to_string(dir.path().join("merged.junit.xml"))?;
    check(junit.matches("<testcase ").count() == 8 + 1, "the merged JUnit has the 8 trials and the verdict")?;
    check(std::fs::metadata(dir.path().join("merged.html"))?.len() > 0, "the merged HTML report is written")?;
    // pipe-limit reproduces deterministically: 4/4 against 0/4 is FIX VERIFIED.
    ensure(m.verdict.verdict == Verdict::FixVerified, "buggy 4/4 against fixed 0/4: FIX VERIFIED", &out)
}

fn check(cond: bool, what: &str) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}
