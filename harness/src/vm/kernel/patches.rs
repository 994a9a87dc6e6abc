//! Applying a variant's patch series to the shared source tree, and undoing it.
//!
//! Variants that differ in one patch share one source tree and one object tree: before a
//! series is applied, the files it touches are saved once; switching variants restores only
//! those files, so `make` recompiles only what the patches changed.
//!
//! Patches apply exactly: fuzz 0 unless the scenario (or `--fuzz`) allows more, because a
//! hunk whose context matched nothing can land in a comment and still "succeed" (GNU patch's
//! default fuzz is 2). A hunk that applied at an offset, or with the fuzz allowed, is
//! returned as a [`HunkNote`] so every run and report can say so.

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
    /// The fuzz they were applied with.
    #[serde(default)]
    fuzz: u32,
    /// The hunks that did not apply exactly where their header said.
    #[serde(default)]
    notes: Vec<HunkNote>,
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

    /// The file name, as notes and reports name the patch.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// A hunk that applied, but not exactly as written: at an offset from its header's line, or
/// with fuzz (context lines ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HunkNote {
    /// The patch file's name.
    pub patch: String,
    pub file: String,
    pub hunk: u32,
    /// Where it applied.
    pub line: u64,
    pub offset: i64,
    pub fuzz: u32,
}

impl std::fmt::Display for HunkNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} hunk #{} applied at line {}", self.patch, self.file, self.hunk, self.line)?;
        if self.offset != 0 {
            write!(f, " (offset {} lines)", self.offset)?;
        }
        if self.fuzz != 0 {
            write!(f, " with fuzz {}", self.fuzz)?;
        }
        Ok(())
    }
}

/// From `patch` output: the hunks that applied at an offset or with fuzz
/// (`Hunk #2 succeeded at 1300 with fuzz 1 (offset -3 lines).`).
pub fn hunk_notes(patch: &str, output: &str) -> Vec<HunkNote> {
    let mut file = String::new();
    let mut out = Vec::new();
    for line in output.lines() {
        if let Some(f) = line.strip_prefix("patching file ").or_else(|| line.strip_prefix("checking file ")) {
            file = f.trim().to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix("Hunk #") else { continue };
        let Some((hunk, rest)) = rest.split_once(" succeeded at ") else { continue };
        let number = |s: &str| s.trim_matches(|c: char| !c.is_ascii_digit() && c != '-').parse::<i64>().ok();
        let line_no = rest.split_whitespace().next().and_then(number).unwrap_or(0);
        let fuzz = rest.split_once("with fuzz ").and_then(|(_, f)| f.split_whitespace().next()).and_then(number).unwrap_or(0);
        let offset = rest.split_once("(offset ").and_then(|(_, o)| o.split_whitespace().next()).and_then(number).unwrap_or(0);
        if offset == 0 && fuzz == 0 {
            continue;
        }
        out.push(HunkNote {
            patch: patch.to_string(),
            file: file.clone(),
            hunk: hunk.trim().parse().unwrap_or(0),
            line: line_no.max(0) as u64,
            offset,
            fuzz: fuzz.max(0) as u32,
        });
    }
    out
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

/// Makes `tree` pristine plus `series`, in order, each hunk within `fuzz`. A no-op when that
/// is already so. Returns the hunks that applied at an offset or with fuzz.
pub fn apply_series(tree: &Path, series: &[Patch], fuzz: u32) -> Result<Vec<HunkNote>, KernelError> {
    let want: Vec<String> = series.iter().map(|p| p.sha256.clone()).collect();
    let state = load_state(tree);
    if state.applied == want && state.fuzz == fuzz {
        return Ok(state.notes);
    }
    reset(tree, &state)?;
    let mut state = State { fuzz, ..State::default() };
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
        if let Err(refused) = run_patch(tree, patch, fuzz, true) {
            return Err(with_fuzz_hint(tree, patch, fuzz, refused));
        }
        let applied = run_patch(tree, patch, fuzz, false)?;
        state.notes.extend(hunk_notes(&patch.name(), &applied));
        state.applied.push(patch.sha256.clone());
        save_state(tree, &state)?;
    }
    Ok(state.notes)
}

/// `patch` on `tree`; its output when it applied.
fn run_patch(tree: &Path, patch: &Patch, fuzz: u32, dry_run: bool) -> Result<String, KernelError> {
    let mut cmd = Command::new("patch");
    cmd.current_dir(tree)
        .args(["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-"])
        .arg(format!("--fuzz={fuzz}"))
        .arg("-i")
        .arg(&patch.path);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().map_err(|e| KernelError::Tool { tool: "patch".into(), detail: e.to_string() })?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        return Ok(text);
    }
    Err(KernelError::PatchFailed { patch: patch.path.clone(), detail: describe_failure(&text) })
}

/// A patch refused at `fuzz` that GNU patch's default fuzz (2) would take: say which hunks
/// need it, so the user knows it is a rebase away, not a missing function.
fn with_fuzz_hint(tree: &Path, patch: &Patch, fuzz: u32, refused: KernelError) -> KernelError {
    const DEFAULT_FUZZ: u32 = 2;
    let KernelError::PatchFailed { patch: path, detail } = refused else { return refused };
    if fuzz >= DEFAULT_FUZZ {
        return KernelError::PatchFailed { patch: path, detail };
    }
    match run_patch(tree, patch, DEFAULT_FUZZ, true) {
        Ok(out) => {
            let needs: Vec<String> = hunk_notes(&patch.name(), &out).iter().filter(|n| n.fuzz > fuzz).map(|n| n.to_string()).collect();
            let detail = format!(
                "{detail}; it applies only with fuzz ({}): refused, a hunk whose context does not match may land elsewhere than meant — rebase the patch, or allow it with `kernel.fuzz: {DEFAULT_FUZZ}` / `--fuzz {DEFAULT_FUZZ}`",
                needs.join("; ")
            );
            KernelError::PatchFailed { patch: path, detail }
        }
        Err(_) => KernelError::PatchFailed { patch: path, detail },
    }
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
        apply_series(t, &[Patch::read(&p1).unwrap()], 0).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\nTWO\nthree\n");
        apply_series(t, &[], 0).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\ntwo\nthree\n");
        let err = apply_series(t, &[Patch::read(&bad).unwrap()], 0).unwrap_err().to_string();
        assert!(err.contains("bad.patch") && err.contains("a.c: Hunk #1 FAILED"), "{err}");
        assert_eq!(std::fs::read_to_string(t.join("a.c")).unwrap(), "one\ntwo\nthree\n", "a failed dry run changes nothing");
    }

    /// A hunk whose context lines match nothing: GNU patch's default fuzz 2 puts it in
    /// whatever lines sit at its header's position (here a comment). Refused at fuzz 0,
    /// naming the hunk and the fuzz it needs; taken, and noted, when fuzz 2 is allowed.
    #[test]
    fn fuzz_is_refused_unless_allowed_and_then_noted() {
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        let original = "/* header\n * comment\n */\nint a;\nint b;\n";
        std::fs::write(t.join("f.c"), original).unwrap();
        let fuzzy = t.join("0001-fuzzy.patch");
        std::fs::write(&fuzzy, "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,4 @@\n nothing\n like\n+added;\n this\n").unwrap();
        let series = [Patch::read(&fuzzy).unwrap()];
        let err = apply_series(t, &series, 0).unwrap_err().to_string();
        assert!(err.contains("0001-fuzzy.patch") && err.contains("f.c: Hunk #1 FAILED"), "{err}");
        assert!(err.contains("only with fuzz") && err.contains("with fuzz 2"), "{err}");
        assert_eq!(std::fs::read_to_string(t.join("f.c")).unwrap(), original);
        let notes = apply_series(t, &series, 2).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!((notes[0].file.as_str(), notes[0].hunk, notes[0].fuzz), ("f.c", 1, 2));
        assert!(notes[0].to_string().contains("with fuzz 2"), "{}", notes[0]);
        assert_eq!(apply_series(t, &series, 2).unwrap(), notes, "a tree already so keeps its notes");
    }

    #[test]
    fn offsets_are_read_from_patch_output() {
        let out = "patching file net/ipv4/route.c\nHunk #1 succeeded at 1360 (offset 8 lines).\nHunk #2 succeeded at 1500 with fuzz 1 (offset -3 lines).\nHunk #3 succeeded at 20.\n";
        let n = hunk_notes("0001-x.patch", out);
        assert_eq!(n.len(), 2, "an exact hunk is no note: {n:?}");
        assert_eq!((n[0].line, n[0].offset, n[0].fuzz), (1360, 8, 0));
        assert_eq!((n[1].offset, n[1].fuzz), (-3, 1));
        assert_eq!(n[0].to_string(), "0001-x.patch: net/ipv4/route.c hunk #1 applied at line 1360 (offset 8 lines)");
    }
}
