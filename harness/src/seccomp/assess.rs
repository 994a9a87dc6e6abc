//! `lab affected`'s library side: a file read ([`super::profile::load`]), its filter built
//! and exported with libseccomp ([`super::filter`]), the process side taken from the file
//! or from what the caller says, and [`super::affected::decide`] applied.

use std::path::Path;

use super::affected::{cap_names, decide, kernel_pipe, Answer, Facts, DOCKER_DEFAULT_CAPS};
use super::filter::Filter;
use super::SeccompError;

/// What the caller says about the container, over what the file says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub no_new_privileges: Option<bool>,
    pub caps: Option<Vec<String>>,
}

/// The facts and the answer for the profile or config.json at `path` on `kernel`.
pub fn assess(path: &Path, kernel: &str, over: &Overrides) -> Result<(Facts, Answer), SeccompError> {
    let pipe = kernel_pipe(kernel)?;
    let loaded = super::profile::load(path)?;
    let filter = Filter::build(&loaded.profile)?;
    let size = filter.exported()?;
    let file_nnp = loaded.process.as_ref().map(|p| p.no_new_privileges);
    let file_caps = loaded.process.as_ref().and_then(|p| p.effective.clone());
    let (nnp, nnp_from) = match (over.no_new_privileges, file_nnp) {
        (Some(n), _) => (n, "as given"),
        (None, Some(n)) => (n, "from config.json"),
        (None, None) => (true, "assumed: Kubernetes' allowPrivilegeEscalation: false; say --nnp false otherwise"),
    };
    let (caps, caps_from) = match (&over.caps, file_caps) {
        (Some(c), _) => (cap_names(c)?, "as given"),
        (None, Some(c)) => (cap_names(&c)?, "from config.json"),
        (None, None) => (DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(), "assumed: Docker's default set"),
    };
    let facts = Facts {
        instructions: size.instructions,
        bytes: size.bytes,
        pipe,
        no_new_privileges: nnp,
        caps,
        process_from: format!("noNewPrivileges {nnp_from}; capabilities {caps_from}"),
    };
    let answer = decide(&facts);
    Ok((facts, answer))
}
