//! Kernel configuration: tinyconfig plus the fragments, merged with the kernel's own
//! `merge_config.sh`, then checked per kernel version — an option that did not stick (a
//! missing dependency) is an error naming the option, the fragment and the version, unless
//! the fragment says the version truly lacks it:
//!
//! ```text
//! # lab: absent-on 5.10: CONFIG_NET_DEV_REFCNT_TRACKER the tracker came in 5.17
//! ```
//!
//! An option the scenario's steps need is never tolerated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::KernelError;
use crate::scenario::KernelVersion;

/// What a merge left out on one kernel, tolerated because a fragment says that version
/// lacks it: `CONFIG_X=y (from base.config): absent on 5.10: why`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigReport {
    pub tolerated: Vec<String>,
}

/// `# lab: absent-on 5.10, 6.12: CONFIG_X why` lines of a fragment: option -> (versions, why).
pub fn absences(text: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("# lab: absent-on ") else { continue };
        let Some((versions, rest)) = rest.split_once(':') else { continue };
        let rest = rest.trim();
        let (option, why) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let versions = versions.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        out.insert(option.to_string(), (versions, why.trim().to_string()));
    }
    out
}

/// Splits what did not stick on `kernel` into the tolerated (a fragment says this version
/// lacks it, and no step needs it) and the rest, which fail the build. `Needs` comes first.
pub fn judge(
    kernel: KernelVersion,
    not_stuck: Vec<(String, String)>,
    absent: &BTreeMap<String, (Vec<String>, String)>,
    needs: &[String],
) -> Result<ConfigReport, KernelError> {
    let (mut tolerated, mut failing, mut needed) = (Vec::new(), Vec::new(), Vec::new());
    for (option, text) in not_stuck {
        let lacks = absent.get(&option).filter(|(versions, _)| versions.iter().any(|v| v == kernel.name()));
        if needs.contains(&option) {
            needed.push((option, text));
        } else if let Some((_, why)) = lacks {
            tolerated.push(format!("{text}: absent on {kernel}: {why}"));
        } else {
            failing.push(text);
        }
    }
    if !needed.is_empty() {
        let (missing, detail) = needed.into_iter().unzip();
        return Err(KernelError::Needs { kernel, missing, detail });
    }
    if !failing.is_empty() {
        return Err(KernelError::Config { kernel, not_stuck: failing });
    }
    Ok(ConfigReport { tolerated })
}

/// `CONFIG_X` -> value (`y`, `m`, `"text"`, `123`, or `n` for `# CONFIG_X is not set`).
pub type Options = BTreeMap<String, String>;

/// Parses a `.config` or a fragment.
pub fn parse(text: &str) -> Options {
    let mut out = Options::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# ").and_then(|l| l.strip_suffix(" is not set")) {
            if rest.starts_with("CONFIG_") {
                out.insert(rest.to_string(), "n".into());
            }
        } else if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("CONFIG_") && !line.starts_with('#') {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// Requested options the final config does not have as asked, with the fragment asking:
/// (option, what was asked and what came of it).
pub fn not_stuck(requested: &[(PathBuf, Options)], fin: &Options) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // A later fragment overrides an earlier one: check the last request for each option.
    let mut last: BTreeMap<&str, (&Path, &str)> = BTreeMap::new();
    for (frag, opts) in requested {
        for (k, v) in opts {
            last.insert(k, (frag, v));
        }
    }
    for (k, (frag, want)) in last {
        let got = fin.get(k).map(String::as_str).unwrap_or("n");
        if got != want {
            out.push((k.to_string(), format!("{k}={want} (from {}) ended up {k}={got}", frag.display())));
        }
    }
    out
}

/// What a merge asks of one kernel.
pub struct Merge<'a> {
    pub kernel: KernelVersion,
    pub fragments: &'a [PathBuf],
    /// Options the scenario's steps need: never tolerated.
    pub needs: &'a [String],
}

/// Merges the fragments over tinyconfig in a scratch object directory and returns the final
/// `.config` text and what was tolerated. Needs only the source tree; no compilation here.
pub fn merge(src: &Path, scratch: &Path, m: &Merge, log: &mut std::fs::File) -> Result<(String, ConfigReport), KernelError> {
    let fragments = m.fragments;
    std::fs::create_dir_all(scratch).map_err(|e| KernelError::io(scratch, e))?;
    let o = format!("O={}", scratch.display());
    run(Command::new("make").current_dir(src).args(["-s", "ARCH=x86_64", &o, "tinyconfig"]), "make tinyconfig", log)?;
    let config = scratch.join(".config");
    let (mut requested, mut absent) = (Vec::new(), BTreeMap::new());
    for frag in fragments {
        let text = std::fs::read_to_string(frag).map_err(|e| KernelError::io(frag, e))?;
        requested.push((frag.clone(), parse(&text)));
        absent.extend(absences(&text));
    }
    run(
        Command::new(src.join("scripts/kconfig/merge_config.sh"))
            .current_dir(src)
            .arg("-m")
            .arg("-O")
            .arg(scratch)
            .arg(&config)
            .args(fragments),
        "merge_config.sh",
        log,
    )?;
    run(Command::new("make").current_dir(src).args(["-s", "ARCH=x86_64", &o, "olddefconfig"]), "make olddefconfig", log)?;
    let text = std::fs::read_to_string(&config).map_err(|e| KernelError::io(&config, e))?;
    let report = judge(m.kernel, not_stuck(&requested, &parse(&text)), &absent, m.needs)?;
    use std::io::Write;
    for t in &report.tolerated {
        let _ = writeln!(log, "lab: kernel {}: tolerated: {t}", m.kernel);
    }
    Ok((text, report))
}

/// Runs a build command with its output appended to the build log.
pub fn run(cmd: &mut Command, what: &str, log: &mut std::fs::File) -> Result<(), KernelError> {
    let out = cmd.output().map_err(|e| KernelError::Tool { tool: what.into(), detail: e.to_string() })?;
    use std::io::Write;
    let _ = log.write_all(&out.stdout);
    let _ = log.write_all(&out.stderr);
    if out.status.success() {
        Ok(())
    } else {
        let tail: Vec<String> =
            String::from_utf8_lossy(&out.stderr).lines().rev().take(8).map(String::from).collect::<Vec<_>>().into_iter().rev().collect();
        Err(KernelError::Tool { tool: what.into(), detail: format!("failed ({}): {}", out.status, tail.join(" | ")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_unset_and_strings() {
        let o = parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n# comment\nCONFIG_D=1000\n");
        assert_eq!(o["CONFIG_A"], "y");
        assert_eq!(o["CONFIG_B"], "n");
        assert_eq!(o["CONFIG_C"], "\"x y\"");
        assert_eq!(o.len(), 4);
    }

    #[test]
    fn reports_options_that_did_not_stick_with_their_fragment() {
        let req = vec![
            (PathBuf::from("vm/config/base.config"), parse("CONFIG_KPROBES=y\nCONFIG_NET_NS=y\nCONFIG_IPV6=y\n")),
            (PathBuf::from("vm/config/x.config"), parse("# CONFIG_IPV6 is not set\n")),
        ];
        let fin = parse("CONFIG_NET_NS=y\n# CONFIG_KPROBES is not set\n");
        let texts: Vec<String> = not_stuck(&req, &fin).into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["CONFIG_KPROBES=y (from vm/config/base.config) ended up CONFIG_KPROBES=n"]);
    }

    #[test]
    fn a_version_may_lack_only_what_a_fragment_says_and_no_step_needs() {
        let absent = absences("CONFIG_A=y\n# lab: absent-on 5.10, 6.1: CONFIG_TRACKER the tracker came in 5.17\n");
        assert_eq!(absent["CONFIG_TRACKER"], (vec!["5.10".to_string(), "6.1".to_string()], "the tracker came in 5.17".to_string()));
        let missing = || vec![("CONFIG_TRACKER".to_string(), "CONFIG_TRACKER=y (from base) ended up CONFIG_TRACKER=n".to_string())];
        let ok = judge(KernelVersion::V5_10, missing(), &absent, &[]).unwrap();
        assert_eq!(ok.tolerated, ["CONFIG_TRACKER=y (from base) ended up CONFIG_TRACKER=n: absent on 5.10: the tracker came in 5.17"]);
        let e = judge(KernelVersion::V6_12, missing(), &absent, &[]).unwrap_err().to_string();
        assert!(e.contains("kernel 6.12 config") && e.contains("CONFIG_TRACKER"), "{e}");
        let e = judge(KernelVersion::V5_10, missing(), &absent, &["CONFIG_TRACKER".to_string()]).unwrap_err().to_string();
        assert!(e.contains("kernel 5.10: the scenario needs CONFIG_TRACKER"), "{e}");
    }
}
