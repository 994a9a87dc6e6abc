//! Kernel configuration: tinyconfig plus the fragments, merged with the kernel's own
//! `merge_config.sh`, then checked — an option that did not stick (a missing dependency)
//! is an error naming the option and the fragment that asked for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::KernelError;

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

/// Requested options the final config does not have as asked, with the fragment asking.
pub fn not_stuck(requested: &[(PathBuf, Options)], fin: &Options) -> Vec<String> {
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
            out.push(format!("{k}={want} (from {}) ended up {k}={got}", frag.display()));
        }
    }
    out
}

/// Merges `fragments` over tinyconfig in a scratch object directory and returns the final
/// `.config` text. Needs only the source tree; no compilation happens here.
pub fn merge(src: &Path, scratch: &Path, fragments: &[PathBuf], log: &mut std::fs::File) -> Result<String, KernelError> {
    std::fs::create_dir_all(scratch).map_err(|e| KernelError::io(scratch, e))?;
    let o = format!("O={}", scratch.display());
    run(Command::new("make").current_dir(src).args(["-s", "ARCH=x86_64", &o, "tinyconfig"]), "make tinyconfig", log)?;
    let config = scratch.join(".config");
    let mut requested = Vec::new();
    for frag in fragments {
        let text = std::fs::read_to_string(frag).map_err(|e| KernelError::io(frag, e))?;
        requested.push((frag.clone(), parse(&text)));
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
    let missing = not_stuck(&requested, &parse(&text));
    if !missing.is_empty() {
        return Err(KernelError::Config(missing));
    }
    Ok(text)
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
        assert_eq!(not_stuck(&req, &fin), ["CONFIG_KPROBES=y (from vm/config/base.config) ended up CONFIG_KPROBES=n"]);
    }
}
