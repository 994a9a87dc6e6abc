//! Finding a scenario from what the user typed: a path, or a name in `scenarios/`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::{vm_args::BuildArgs, Failure};
use lab::scenario::{load, Loaded, Variant};

/// The `scenarios/` directory: `$LAB_SCENARIOS`, else the nearest `scenarios/` at or above
/// the current directory, else the lab's own (`$LAB_HOME`, else the source tree `lab` was
/// built from).
pub fn scenarios_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAB_SCENARIOS") {
        return dir.into();
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join("scenarios");
            if candidate.is_dir() && dir.join("kernel-patches").is_dir() {
                return candidate;
            }
        }
    }
    lab::scenario::lab_home().join("scenarios")
}

/// `fnhe-leak` (or `fnhe-leak.yaml`) -> `scenarios/fnhe-leak.yaml`; an existing file is taken
/// as it is, wherever it is: its kernel files are found as [`lab::scenario::files`] says.
pub fn resolve(arg: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let dir = scenarios_dir();
    let named = dir.join(format!("{}.yaml", arg.strip_suffix(".yaml").unwrap_or(arg)));
    if named.is_file() {
        return Ok(named);
    }
    let known: Vec<String> = list(&dir).iter().filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())).collect();
    Err(anyhow!(
        "no scenario `{arg}`: not a file, and not in {} (known: {})",
        dir.display(),
        if known.is_empty() { "none".into() } else { known.join(", ") }
    ))
}

/// Every `*.yaml` in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

/// What `run`, `shell` and `kernel build` start from: the scenario the user named, loaded and
/// validated, with what `--debug` and `--fuzz` change, and the variant asked for (or its
/// default) on the kernel asked for (or its first). Any problem is a usage error.
pub fn load_variant(arg: &str, variant: Option<&str>, build: &BuildArgs) -> Result<(Loaded, Variant), Failure> {
    let mut loaded = load(&resolve(arg).map_err(Failure::usage)?).map_err(Failure::usage)?;
    build.apply(&mut loaded);
    let variant = Variant::resolve_on(&loaded.scenario, variant, build.version).map_err(Failure::usage)?;
    Ok((loaded, variant))
}
