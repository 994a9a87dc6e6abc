//! Before anything is built: does the `--fix` series apply? The series and the fix are
//! applied to scratch copies of the files they touch (from the unpatched source) with the
//! same `patch` the build uses. A fix that does not apply is named with its file and hunk,
//! and the series patch whose lines sit in that hunk's context, and how to fix it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::KernelVersion;
use crate::vm::kernel::{self, KernelError};

/// Why the fixed series cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("{}", describe(.0))]
    DoesNotApply(Box<NotApplying>),
    #[error("series patch {} does not apply: {detail}", patch.display())]
    Series { patch: PathBuf, detail: String },
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// A `--fix` patch that does not apply on top of the series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplying {
    pub patch: PathBuf,
    /// `net/ipv4/route.c: Hunk #1 FAILED at 1401`, as `patch` says it.
    pub failure: String,
    /// Series patches whose lines sit where the failed hunk expects its context.
    pub culprits: Vec<String>,
    /// Whether `--fix-before` was already asked for.
    pub before: bool,
}

fn describe(n: &NotApplying) -> String {
    let mut s = format!("--fix {} does not apply to the series: {}", n.patch.display(), n.failure);
    if !n.culprits.is_empty() {
        s.push_str(&format!(
            "; the hunk's context holds lines of series patch {} — the fix was written against a tree without {}",
            n.culprits.join(", "),
            if n.culprits.len() == 1 { "it" } else { "them" }
        ));
    }
    if n.before {
        s.push_str(". Rebase the fix onto the unpatched source, or onto the series without --fix-before");
    } else {
        s.push_str(". Rebase the fix onto the series (apply the series, then the fix by hand, and `diff -u` the result), or put it before the series with --fix-before");
    }
    s
}

/// Checks that `series` (fix patches among them, named in `fixes`) applies to `base`.
pub fn check_applies(base: KernelVersion, fuzz: u32, series: &[PathBuf], fixes: &[PathBuf], before: bool) -> Result<(), FixError> {
    let scratch = tempfile::tempdir().map_err(|source| FixError::Io { path: std::env::temp_dir(), source })?;
    let mut texts = Vec::new();
    for p in series {
        let text = std::fs::read_to_string(p).map_err(|source| FixError::Io { path: p.clone(), source })?;
        for rel in kernel::touched_paths(&text).0 {
            seed(base, scratch.path(), &rel)?;
        }
        texts.push(text);
    }
    for (i, patch) in series.iter().enumerate() {
        let Some(output) = refusal(scratch.path(), patch, fuzz)? else { continue };
        let failure = kernel::describe_failure(&output);
        if !fixes.contains(patch) {
            return Err(FixError::Series { patch: patch.clone(), detail: failure });
        }
        let culprits = culprits(scratch.path(), &texts[i], &failure, &series[..i], &texts[..i], fixes);
        return Err(FixError::DoesNotApply(Box::new(NotApplying { patch: patch.clone(), failure, culprits, before })));
    }
    Ok(())
}

/// Copies the unpatched `rel` into the scratch tree (nothing for a file a patch creates).
fn seed(base: KernelVersion, dir: &Path, rel: &str) -> Result<(), FixError> {
    let to = dir.join(rel);
    if to.exists() {
        return Ok(());
    }
    if let Some(bytes) = kernel::pristine_file(base, rel)? {
        let parent = to.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|source| FixError::Io { path: parent.to_path_buf(), source })?;
        std::fs::write(&to, bytes).map_err(|source| FixError::Io { path: to.clone(), source })?;
    }
    Ok(())
}

/// Applies `patch` as the build does (within `fuzz`); its output when it does not apply.
fn refusal(dir: &Path, patch: &Path, fuzz: u32) -> Result<Option<String>, FixError> {
    let out = Command::new("patch")
        .current_dir(dir)
        .args(["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-"])
        .arg(format!("--fuzz={fuzz}"))
        .arg("-i")
        .arg(patch)
        .output()
        .map_err(|e| FixError::Kernel(KernelError::Tool { tool: "patch".into(), detail: e.to_string() }))?;
    if out.status.success() {
        return Ok(None);
    }
    Ok(Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))))
}

/// The series patches (before the failed fix, fixes excepted) whose lines the failed hunk
/// runs into: added lines in the region where the hunk's context best matches, or removed
/// lines the hunk expects.
fn culprits(dir: &Path, fix_text: &str, failure: &str, before: &[PathBuf], texts: &[String], fixes: &[PathBuf]) -> Vec<String> {
    let Some((file, hunk_no)) = failed_hunk(failure) else { return Vec::new() };
    let Some(expected) = hunks(fix_text, &file).into_iter().nth(hunk_no.saturating_sub(1)).map(|h| h.expected) else { return Vec::new() };
    let current = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
    let region = best_region(&current, &expected);
    let mut out = Vec::new();
    for (path, text) in before.iter().zip(texts).filter(|(p, _)| !fixes.contains(p)) {
        let h = hunks(text, &file);
        let added = h.iter().flat_map(|h| &h.added).filter(|l| meaningful(l));
        let removed = h.iter().flat_map(|h| &h.removed).filter(|l| meaningful(l));
        let hit = added.clone().any(|l| region.contains(l) && !expected.contains(l)) || removed.clone().any(|l| expected.contains(l));
        if hit {
            out.push(super::plan::short(path));
        }
    }
    out
}

/// `(file, hunk number)` from `net/ipv4/route.c: Hunk #1 FAILED at 1401`.
pub fn failed_hunk(failure: &str) -> Option<(String, usize)> {
    let first = failure.split("; ").next()?;
    let (file, rest) = first.split_once(": Hunk #")?;
    let n = rest.split_whitespace().next()?.parse().ok()?;
    Some((file.to_string(), n))
}

/// One hunk's lines, trimmed: what it expects to find (context and removed), adds, removes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub expected: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The hunks a unified diff has for `file`, in order.
pub fn hunks(diff: &str, file: &str) -> Vec<Hunk> {
    let (mut out, mut in_file) = (Vec::new(), false);
    for line in diff.lines() {
        if let Some(new) = line.strip_prefix("+++ ") {
            let path = new.split('\t').next().unwrap_or_default().trim();
            in_file = path.split_once('/').map_or(path, |(_, rest)| rest) == file;
        } else if line.starts_with("@@") && in_file {
            out.push(Hunk::default());
        } else if line.starts_with("diff ") || line.starts_with("--- ") {
            continue;
        } else if let (true, Some(h)) = (in_file, out.last_mut()) {
            match line.split_at_checked(1) {
                Some((" ", rest)) => h.expected.push(rest.trim().to_string()),
                Some(("-", rest)) => {
                    h.expected.push(rest.trim().to_string());
                    h.removed.push(rest.trim().to_string());
                }
                Some(("+", rest)) => h.added.push(rest.trim().to_string()),
                _ if line.is_empty() => h.expected.push(String::new()),
                _ => {}
            }
        }
    }
    out
}

/// A line worth matching: not blank, not a lone brace or `break;`.
fn meaningful(line: &str) -> bool {
    line.len() > 6
}

/// The lines of `text` (trimmed) where `expected` best matches: the window of its length
/// plus a few lines that holds the most of its meaningful lines.
fn best_region(text: &str, expected: &[String]) -> Vec<String> {
    let lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    let span = expected.len() + 6;
    let score = |i: usize| lines[i..(i + span).min(lines.len())].iter().filter(|l| meaningful(l) && expected.contains(l)).count();
    let best = (0..lines.len()).max_by_key(|&i| (score(i), usize::MAX - i)).unwrap_or(0);
    lines.get(best..(best + span).min(lines.len())).map(<[String]>::to_vec).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIES: &str = "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,4 @@\n a = 1;\n+\tdebug_marker(a);\n b = 2;\n c = 3;\n";
    const FIX: &str = "--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,4 @@\n a = 1;\n b = 2;\n+\tfixed_line();\n c = 3;\n";

    #[test]
    fn hunks_split_expected_added_and_removed_lines() {
        let h = hunks("--- a/x\n+++ b/x\n@@ -1 +1 @@\n keep\n-old\n+new\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-other\n", "x");
        assert_eq!(h, [Hunk { expected: vec!["keep".into(), "old".into()], added: vec!["new".into()], removed: vec!["old".into()] }]);
    }

    #[test]
    fn the_failed_hunk_is_read_from_patch_output() {
        assert_eq!(failed_hunk("net/ipv4/route.c: Hunk #1 FAILED at 1401"), Some(("net/ipv4/route.c".into(), 1)));
        assert_eq!(failed_hunk("can't find file to patch"), None);
    }

    #[test]
    fn the_series_patch_in_the_hunks_context_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.c"), "a = 1;\n\tdebug_marker(a);\nb = 2;\nc = 3;\n").unwrap();
        let series = [PathBuf::from("/p/0001-debug.patch"), PathBuf::from("/p/0002-other.patch")];
        let texts = [SERIES.to_string(), "--- a/g.c\n+++ b/g.c\n@@ -1 +1 @@\n-x = 1;\n+x = 2;\n".to_string()];
        let c = culprits(dir.path(), FIX, "f.c: Hunk #1 FAILED at 1", &series, &texts, &[]);
        assert_eq!(c, ["0001-debug.patch"]);
    }

    #[test]
    fn the_diagnosis_says_how_to_fix_it() {
        let n = NotApplying {
            patch: "fix.patch".into(),
            failure: "f.c: Hunk #1 FAILED at 1".into(),
            culprits: vec!["0001-debug.patch".into()],
            before: false,
        };
        let s = FixError::DoesNotApply(Box::new(n)).to_string();
        assert!(s.contains("fix.patch") && s.contains("Hunk #1") && s.contains("0001-debug.patch"), "{s}");
        assert!(s.contains("Rebase the fix onto the series") && s.contains("--fix-before"), "{s}");
    }
}
