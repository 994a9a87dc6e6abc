//! Applying a variant's patch series to the shared source tree, and undoing it.
//!
//! Variants that differ in one patch share one source tree and one object tree: before a
//! series is applied, the files it touches are saved once; switching variants restores only
//! those files, so `make` recompiles only what the patches changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::KernelError;

const STATE: &str = ".lab-patches.json";
pub(super) const ORIGINALS: &str = ".lab-orig";

/// What is applied to the tree now.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    /// sha256 of each applied patch, in order.
    applied: Vec<String>,
    /// Files the applied patches touched (saved under `.lab-orig/` before patching).
    touched: BTreeSet<String>,
    /// Files the applied patches created (removed on reset).
    created: BTreeSet<String>,
}

/// A patch file with its content hash.
#[derive(Debug, Clone)]
pub struct Patch {
    pub path: PathBuf,
    pub sha256: String,
}

impl Patch {
    pub fn read(path: &Path) -> Result<Patch, KernelError> {
        let text = std::fs::read(path).map_err(|e| KernelError::io(path, e))?;
        Ok(Patch { path: path.to_path_buf(), sha256: super::sha256_hex(&text) })
    }
}

/// Paths a unified diff touches (`+++ b/<path>`), and those it creates (`--- /dev/null`).
pub fn touched_paths(diff: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut touched, mut created) = (BTreeSet::new(), BTreeSet::new());
    let mut from_null = false;
    for line in diff.lines() {
        if let Some(old) = line.strip_prefix("--- ") {
            from_null = old.trim_start().starts_with("/dev/null");
        } else if let Some(new) = line.strip_prefix("+++ ") {
            let path = new.split('\t').next().unwrap_or_default().trim();
            if path == "/dev/null" {
                continue;
            }
            let path = path.split_once('/').map_or(path, |(_, rest)| rest).to_string();
            if from_null {
                created.insert(path.clone());
            }
            touched.insert(path);
        }
    }
    (touched, created)
}

/// From `patch` output: which file and hunk failed (`Hunk #2 FAILED at 1234.`).
pub fn describe_failure(output: &str) -> String {
    let mut file = None;
    let mut hunks = Vec::new();
    let mut other = Vec::new();
    for line in output.lines() {
        if let Some(f) = line.strip_prefix("patching file ").or_else(|| line.strip_prefix("checking file ")) {
            file = Some(f.trim().to_string());
        } else if line.starts_with("Hunk #") && line.contains("FAILED") {
            hunks.push(format!("{}: {}", file.as_deref().unwrap_or("?"), line.trim_end_matches('.')));
        } else if line.contains("can't find file")
            || line.contains("No file to patch")
            || line.contains("Reversed (or previously applied)")
            || line.contains("malformed patch")
        {
            other.push(line.trim().to_string());
        }
    }
    hunks.extend(other);
    if hunks.is_empty() {
        output.lines().take(5).collect::<Vec<_>>().join("; ")
    } else {
        hunks.join("; ")
    }
}

/// Makes `tree` pristine plus `series`, in order. A no-op when that is already so.
pub fn apply_series(tree: &Path, series: &[Patch]) -> Result<(), KernelError> {
    let want: Vec<String> = series.iter().map(|p| p.sha256.clone()).collect();
    let state = load_state(tree);
    if state.applied == want {
        return Ok(());
    }
    reset(tree, &state)?;
    let mut state = State::default();
    for patch in series {
        let text = std::fs::read_to_string(&patch.path).map_err(|e| KernelError::io(&patch.path, e))?;
        let (touched, created) = touched_paths(&text);
        for rel in &touched {
            save_original(tree, rel, &state)?;
        }
        state.touched.extend(touched);
        state.created.extend(created.into_iter().filter(|c| !tree.join(ORIGINALS).join(c).exists()));
        // Record before touching the tree, so a failure part-way can still be undone.
        save_state(tree, &state)?;
        run_patch(tree, patch, true)?;
        run_patch(tree, patch, false)?;
        state.applied.push(patch.sha256.clone());
        save_state(tree, &state)?;
    }
    Ok(())
}

fn run_patch(tree: &Path, patch: &Patch, dry_run: bool) -> Result<(), KernelError> {
    let mut cmd = Command::new("patch");
    cmd.current_dir(tree).args(["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-", "-i"]).arg(&patch.path);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().map_err(|e| KernelError::Tool { tool: "patch".into(), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Err(KernelError::PatchFailed { patch: patch.path.clone(), detail: describe_failure(&text) })
}

fn save_original(tree: &Path, rel: &str, state: &State) -> Result<(), KernelError> {
    let orig = tree.join(ORIGINALS).join(rel);
    if state.touched.contains(rel) || orig.exists() {
        return Ok(());
    }
    let src = tree.join(rel);
    if src.exists() {
        std::fs::create_dir_all(orig.parent().unwrap()).map_err(|e| KernelError::io(&orig, e))?;
        std::fs::copy(&src, &orig).map_err(|e| KernelError::io(&orig, e))?;
    }
    Ok(())
}

/// Puts back every file the applied series touched; removes the ones it created.
fn reset(tree: &Path, state: &State) -> Result<(), KernelError> {
    for rel in &state.touched {
        let (orig, file) = (tree.join(ORIGINALS).join(rel), tree.join(rel));
        if orig.exists() {
            std::fs::copy(&orig, &file).map_err(|e| KernelError::io(&file, e))?;
        } else if state.created.contains(rel) {
            let _ = std::fs::remove_file(&file);
        }
    }
    save_state(tree, &State::default())
}

fn load_state(tree: &Path) -> State {
    std::fs::read(tree.join(STATE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn save_state(tree: &Path, state: &State) -> Result<(), KernelError> {
    let path = tree.join(STATE);
    let tmp = tree.join(format!("{STATE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(state).unwrap()).map_err(|e| KernelError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| KernelError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_touched_and_created_files() {
        let diff = "--- a/net/ipv4/route.c\n+++ b/net/ipv4/route.c\n@@ -1 +1 @@\n--- /dev/null\n+++ b/lib/new.c\t2024-01-01\n";
        let (t, c) = touched_paths(diff);
        assert_eq!(t.into_iter().collect::<Vec<_>>(), ["lib/new.c", "net/ipv4/route.c"]);
        assert_eq!(c.into_iter().collect::<Vec<_>>(), ["lib/new.c"]);
    }

    #[test]
    fn failure_names_file_and_hunk() {
        let out = "checking file net/ipv4/route.c\nHunk #2 FAILED at 1352.\n1 out of 2 hunks FAILED\n";
        assert_eq!(describe_failure(out), "net/ipv4/route.c: Hunk #2 FAILED at 1352");
    }

    #[test]
    fn switching_series_restores_the_tree() {
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        std::fs::write(t.join("a.c"), "one\ntwo\nthree\n").unwrap();
        let p1 = t.join("p1.patch");
        std::fs::write(&p1, "--- a/a.c\n+++ b/a.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n").unwrap();
        let bad = t.join("bad.patch");
        std::fs::write(&bad, "--- a/a.c\n+++ b/a.c\n@@ -1,3 +1,3 @@\n uno\n-dos\n+DOS\n tres\n").unwrap();
        apply_series(t, &[Patch::read(&p1).unwrap()]).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\nTWO\nthree\n");
        apply_series(t, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\ntwo\nthree\n");
        let err = apply_series(t, &[Patch::read(&bad).unwrap()]).unwrap_err().to_string();
        assert!(err.contains("bad.patch") && err.contains("a.c: Hunk #1 FAILED"), "{err}");
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\ntwo\nthree\n", "a failed dry run changes nothing");
    }
}
