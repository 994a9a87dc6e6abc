//! From a scenario and variant to what to build: the repository's patch and config files.

use std::path::{Path, PathBuf};

use super::KernelRequest;
use crate::scenario::{Loaded, Variant};

/// The repository a scenario file belongs to: the parent of its `scenarios/` directory,
/// else the directory `lab` was built from.
pub fn repo_root(scenario_file: &Path) -> PathBuf {
    let dir = scenario_file.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    match dir {
        Some(d) if d.file_name().is_some_and(|n| n == "scenarios") => d.parent().map(Path::to_path_buf).unwrap_or(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
}

/// `kernel-patches/<scenario>/<patch>` for each patch of the variant, and
/// `vm/config/base.config` followed by the scenario's and the variant's fragments.
pub fn request_for(loaded: &Loaded, variant: &Variant) -> KernelRequest {
    let root = repo_root(&loaded.path);
    let patch_dir = root.join("kernel-patches").join(&loaded.scenario.name);
    let config_dir = root.join("vm").join("config");
    let mut fragments = vec![config_dir.join("base.config")];
    fragments.extend(variant.config.iter().map(|c| config_dir.join(c)));
    KernelRequest {
        base: loaded.scenario.kernel.base.clone(),
        patches: variant.patches.iter().map(|p| patch_dir.join(p)).collect(),
        fragments,
    }
}

/// Files the request names that do not exist, for `lab check` and before a build.
pub fn missing_files(req: &KernelRequest) -> Vec<PathBuf> {
    req.patches.iter().chain(req.fragments.iter()).filter(|p| !p.is_file()).cloned().collect()
}
