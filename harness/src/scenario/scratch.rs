//! Paths of a run's scratch directory, as scenarios write them: relative (`mnt/vol`,
//! `pods/<uid>/volumes/kubernetes.io~csi/<name>/mount`), resolved under
//! `/run/lab/mounts/<run id>-fs` (tmpfs in the guest), so mount steps never touch the
//! machine's own directories and teardown finds everything they mounted.

use std::path::{Component, Path};

use crate::scenario::check::Problem;

/// The problem with `value` as a scratch path in `field`, if any.
pub fn problem(field: &str, value: &str) -> Option<Problem> {
    let path = Path::new(value);
    let inside = path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if value.trim().is_empty() || !inside {
        return Some(Problem::new(
            field,
            format!("`{value}`: give a path relative to the run's scratch directory, without `..` (like mnt/vol)"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_inside_the_scratch_directory_pass() {
        assert!(problem("p", "pods/u1/volumes/kubernetes.io~csi/pv/mount").is_none());
        assert!(problem("p", "/var/lib/kubelet").is_some());
        assert!(problem("p", "mnt/../../etc").is_some());
        assert!(problem("p", "").is_some());
    }
}
