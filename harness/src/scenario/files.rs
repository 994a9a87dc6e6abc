//! Where the kernel files a scenario names are found: kconfig fragments (`vm/config/<name>`,
//! `base.config` first) and patches (`kernel-patches/<scenario>/<patch>`, or a kernel
//! version's own backport of it in `kernel-patches/<scenario>/<version>/<patch>`).
//!
//! Two trees are searched, file by file, the first that has it wins:
//! 1. the scenario's own tree: the directory its file is in, or that directory's parent when
//!    it is called `scenarios/` (the layout of the lab's repository);
//! 2. the lab's own tree: `$LAB_HOME`, else the source tree `lab` was built from.
//!
//! So a scenario anywhere uses the lab's `base.config`, fragments and patches, and may bring
//! its own next to it in the same layout.

use std::fmt;
use std::path::{Path, PathBuf};

use super::check::Problem;
use super::load::Loaded;

/// Overrides where the lab's own tree is.
pub const LAB_HOME_VAR: &str = "LAB_HOME";

/// The lab's own tree (with `vm/config/base.config`, `kernel-patches/`, `scenarios/`):
/// `$LAB_HOME`, else the source tree this binary was built from.
pub fn lab_home() -> PathBuf {
    let home = std::env::var_os(LAB_HOME_VAR).map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    home.canonicalize().unwrap_or(home)
}

/// The tree a scenario file brings its own kernel files in: its directory, or the parent of
/// a `scenarios/` directory.
pub fn scenario_home(scenario_file: &Path) -> PathBuf {
    let file = scenario_file.canonicalize().unwrap_or_else(|_| scenario_file.to_path_buf());
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    match dir.parent() {
        Some(up) if dir.file_name().is_some_and(|n| n == "scenarios") => up.to_path_buf(),
        _ => dir,
    }
}

/// A kernel file found in none of the trees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotFound {
    /// Every place looked at, in order; the first is where the scenario would bring it.
    pub tried: Vec<PathBuf>,
    /// What to do about it, when there is more to say than where it was looked for.
    pub hint: Option<String>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tried = self.tried.iter().map(|p| p.display());
        write!(f, "{} does not exist", tried.next().expect("at least one tree"))?;
        let rest: Vec<String> = tried.map(|p| p.to_string()).collect();
        if !rest.is_empty() {
            write!(f, " (nor {})", rest.join(", "))?;
        }
        match &self.hint {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

/// The kernel files of one scenario.
#[derive(Debug, Clone)]
pub struct KernelFiles {
    /// The trees searched, in order, without duplicates.
    roots: Vec<PathBuf>,
    scenario: String,
}

impl KernelFiles {
    /// The files of `loaded`: its own tree, then the lab's.
    pub fn of(loaded: &Loaded) -> Self {
        Self::new(&loaded.path, &loaded.scenario.name, &lab_home())
    }

    /// The files of scenario `name` in `scenario_file`, with the lab's tree at `lab_home`.
    pub fn new(scenario_file: &Path, name: &str, lab_home: &Path) -> Self {
        let mut roots = vec![scenario_home(scenario_file)];
        let lab = lab_home.canonicalize().unwrap_or_else(|_| lab_home.to_path_buf());
        if !roots.contains(&lab) {
            roots.push(lab);
        }
        KernelFiles { roots, scenario: name.to_string() }
    }

    /// `vm/config/base.config`.
    pub fn base_config(&self) -> Result<PathBuf, NotFound> {
        self.fragment("base.config")
    }

    /// `vm/config/<name>`.
    pub fn fragment(&self, name: &str) -> Result<PathBuf, NotFound> {
        self.find(&Path::new("vm/config").join(name))
    }

    /// `kernel-patches/<scenario>/<name>`.
    pub fn patch(&self, name: &str) -> Result<PathBuf, NotFound> {
        self.find(&Path::new("kernel-patches").join(&self.scenario).join(name))
    }

    /// The patch as `kernel` takes it: its own backport
    /// (`kernel-patches/<scenario>/<version>/<name>`) if there is one, else the shared one.
    pub fn patch_on(&self, name: &str, kernel: super::KernelVersion) -> Result<PathBuf, NotFound> {
        let own = Path::new("kernel-patches").join(&self.scenario).join(kernel.name()).join(name);
        self.find(&own).or_else(|_| self.patch(name))
    }

    fn find(&self, rel: &Path) -> Result<PathBuf, NotFound> {
        let tried: Vec<PathBuf> = self.roots.iter().map(|r| r.join(rel)).collect();
        match tried.iter().find(|p| p.is_file()) {
            Some(p) => Ok(p.clone()),
            None => Err(NotFound { tried, hint: None }),
        }
    }

    /// Every fragment and patch the scenario names (any variant) that is in no tree, at the
    /// field that names it.
    pub fn problems(&self, loaded: &Loaded) -> Vec<Problem> {
        let s = &loaded.scenario;
        let base = self.base_config().map_err(|e| {
            let lab = self.roots.last().expect("the lab's tree");
            NotFound { hint: Some(format!("set {LAB_HOME_VAR} to the lab's tree if it is not {}", lab.display())), ..e }
        });
        let mut named: Vec<(String, Result<PathBuf, NotFound>)> = vec![("kernel".into(), base)];
        for (i, c) in s.kernel.config.iter().enumerate() {
            named.push((format!("kernel.config[{i}]"), self.fragment(c)));
        }
        for (name, v) in &s.variants {
            for (i, p) in v.patches.iter().enumerate() {
                for k in s.kernel.base.all() {
                    named.push((format!("variants.{name}.patches[{i}]"), self.patch_on(p, *k)));
                }
            }
            for (i, c) in v.config.iter().enumerate() {
                named.push((format!("variants.{name}.config[{i}]"), self.fragment(c)));
            }
        }
        let mut problems: Vec<Problem> =
            named.into_iter().filter_map(|(field, found)| found.err().map(|e| Problem::new(field, e.to_string()))).collect();
        problems.dedup_by(|a, b| a.field == b.field && a.message == b.message);
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_brings_files_next_to_it_or_next_to_its_scenarios_dir() {
        assert_eq!(scenario_home(Path::new("/nowhere/x/scenarios/a.yaml")), Path::new("/nowhere/x"));
        assert_eq!(scenario_home(Path::new("/nowhere/x/a.yaml")), Path::new("/nowhere/x"));
    }

    #[test]
    fn the_lab_tree_is_searched_once_when_the_scenario_is_in_it() {
        let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = KernelFiles::new(&lab.join("scenarios/fnhe-leak.yaml"), "fnhe-leak", &lab);
        assert_eq!(files.roots.len(), 1);
        let e = files.fragment("no-such.config").unwrap_err();
        assert_eq!(e.to_string(), format!("{} does not exist", lab.canonicalize().unwrap().join("vm/config/no-such.config").display()));
    }
}
