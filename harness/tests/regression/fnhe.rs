//! Incident 1's kernels: the request `lab run fnhe-leak` builds (the suite's generic test
//! kernel), and a kernel patch that does not apply is a clear error. Whether the buggy
//! kernel shows the signature and the fixed one does not is asserted by the trials
//! discovered from `scenarios/` (`fnhe-leak::buggy`, `fnhe-leak::fixed`).

use libtest_mimic::{Failed, Trial};

use crate::support::{ensure, lab, repo};
use crate::vm::vm_trial;

pub fn tests() -> Vec<Trial> {
    vec![
        vm_trial("kernel::patch_that_does_not_apply_names_patch_file_and_hunk", bad_patch),
        vm_trial("kernel::patch_that_needs_fuzz_is_refused_unless_allowed_and_then_named", fuzzy_patch),
    ]
}

/// The kernel `lab run fnhe-leak --variant <variant>` boots.
pub fn kernel_request(variant: &str) -> Result<lab::vm::kernel::KernelRequest, String> {
    let loaded = lab::scenario::load(&repo().join("scenarios/fnhe-leak.yaml")).map_err(|e| e.to_string())?;
    let v = lab::scenario::Variant::resolve(&loaded.scenario, Some(variant)).map_err(|e| e.to_string())?;
    Ok(lab::vm::kernel::request_for(&loaded, &v))
}

fn bad_patch() -> Result<(), Failed> {
    // A scenario of its own in a repository layout of its own, with a patch whose context
    // does not match route.c.
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("scenarios"))?;
    std::fs::create_dir_all(root.join("kernel-patches/bad-patch"))?;
    std::fs::create_dir_all(root.join("vm/config"))?;
    std::fs::copy(repo().join("vm/config/base.config"), root.join("vm/config/base.config"))?;
    std::fs::write(
        root.join("kernel-patches/bad-patch/0001-wrong-context.patch"),
        "--- a/net/ipv4/route.c\n+++ b/net/ipv4/route.c\n@@ -1,3 +1,3 @@\n-this line is not in route.c\n+neither is this one\n context that does not exist\n",
    )?;
    std::fs::write(
        root.join("scenarios/bad-patch.yaml"),
        "name: bad-patch\ndescription: a patch that does not apply\nsteps: [{ sleep: 1s }]\nvariants:\n  only:\n    patches: [0001-wrong-context.patch]\n",
    )?;
    let out = lab().args(["kernel", "build"]).arg(root.join("scenarios/bad-patch.yaml")).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(2), "a patch that does not apply is the user's to fix: exit 2", &out)?;
    ensure(
        err.contains("0001-wrong-context.patch") && err.contains("does not apply") && err.contains("net/ipv4/route.c: Hunk #1 FAILED"),
        "the error names the patch, the file and the hunk",
        &out,
    )?;
    // `lab run` says the same with the same exit code, before booting anything.
    let out = lab().args(["run", "--json"]).arg(root.join("scenarios/bad-patch.yaml")).output()?;
    ensure(out.status.code() == Some(2), "lab run: a patch that does not apply exits 2 as well", &out)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(
        stdout.contains("\"outcome\":\"invalid\"") && stdout.contains("0001-wrong-context.patch") && !stdout.contains("vm_starting"),
        "its verdict is a scenario error naming the patch, and no VM was started",
        &out,
    )
}

/// A hunk whose every context line matches nothing in route.c: GNU patch's default fuzz 2
/// would put its line into the file's header comment and call it a success. lab refuses it
/// (exit 2, naming patch, file, hunk and the fuzz it needs); with `--fuzz 2` it is taken and
/// the hunk is named. `lab kernel config` applies the series without compiling.
fn fuzzy_patch() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("scenarios"))?;
    std::fs::create_dir_all(root.join("kernel-patches/fuzzy"))?;
    std::fs::create_dir_all(root.join("vm/config"))?;
    std::fs::copy(repo().join("vm/config/base.config"), root.join("vm/config/base.config"))?;
    std::fs::write(
        root.join("kernel-patches/fuzzy/0001-no-context-matches.patch"),
        "--- a/net/ipv4/route.c\n+++ b/net/ipv4/route.c\n@@ -10,3 +10,4 @@\n no such line\n nor this one\n+ * lab: a line that lands wherever line 10 is\n nor this\n",
    )?;
    std::fs::write(
        root.join("scenarios/fuzzy.yaml"),
        "name: fuzzy\ndescription: a patch that applies only with fuzz\nsteps: [{ sleep: 1s }]\nvariants:\n  only:\n    patches: [0001-no-context-matches.patch]\n",
    )?;
    let scenario = root.join("scenarios/fuzzy.yaml");
    let out = lab().args(["kernel", "config"]).arg(&scenario).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(2), "a patch that applies only with fuzz is refused: exit 2", &out)?;
    ensure(
        err.contains("0001-no-context-matches.patch")
            && err.contains("net/ipv4/route.c: Hunk #1 FAILED")
            && err.contains("only with fuzz")
            && err.contains("with fuzz 2"),
        "the refusal names the patch, the file, the hunk and the fuzz it needs",
        &out,
    )?;
    let out = lab().args(["kernel", "config", "--fuzz", "2"]).arg(&scenario).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.success(), "with --fuzz 2 the series applies", &out)?;
    ensure(
        err.contains("patches applied with fuzz 2")
            && err.contains("# patch: 0001-no-context-matches.patch: net/ipv4/route.c hunk #1")
            && err.contains("with fuzz 2"),
        "and the hunk applied with fuzz is named",
        &out,
    )
}
