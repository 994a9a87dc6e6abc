//! `exec` — run a program (a host tool: `ip`, `ss`, a test script) inside a namespace of the
//! topology, and keep its output.
//!
//! The program is the host's: under the VM backend the guest sees the host's root over 9p
//! and searches [`GUEST_PATH`]; so `lab check` warns when the host does not have it.
//!
//! It runs as root with every capability unless `user`, `group` or `caps` say otherwise
//! (started through [`crate::process::launch`], like every process of a step).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::{Step, StepCtx, StepError, StepSummary};
use crate::process::{Account, CapsSpec, IdentitySpec};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

/// Output kept per stream, from its end.
const KEEP_BYTES: usize = 16 * 1024;

/// The directories the guest agent searches for programs (the `PATH` `vm/guest.rs` sets).
pub const GUEST_PATH: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// ```yaml
/// exec:
///   netns: cli                         # absent: the initial namespace
///   command: [ip, route, show, cache]
///   timeout: 10s
///   exit: 0                            # expected exit status; absent: any
///   user: nobody                       # a name or a uid; absent: root
///   group: nogroup                     # absent: the user's own group
///   caps: { drop: [cap_sys_admin] }    # or { keep: [...] }; absent: root's all, others none
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub netns: Option<String>,
    pub command: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub exit: Option<i32>,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub group: Option<Account>,
    #[serde(default)]
    pub caps: Option<CapsSpec>,
}

impl Spec {
    fn identity(&self) -> IdentitySpec {
        IdentitySpec { user: self.user.clone(), group: self.group.clone(), caps: self.caps.clone() }
    }
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

impl Step for Spec {
    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Some(ns) = &self.netns {
            out.extend(scope.need_namespace("netns", ns));
        }
        if self.command.first().is_none_or(|c| c.trim().is_empty()) {
            out.push(Problem::new("command", "give the program and its arguments, like [ip, route, show]"));
        }
        out.extend(super::identity::problems(&self.identity()));
        out
    }

    fn check_host(&self) -> Vec<Problem> {
        let Some(program) = self.command.first().filter(|c| !c.trim().is_empty()) else {
            return Vec::new();
        };
        if find_program(program, &search_dirs()).is_some() {
            return Vec::new();
        }
        let searched = if program.contains('/') {
            "not an executable file".to_string()
        } else {
            format!("not in $PATH nor in {}", GUEST_PATH.join(":"))
        };
        vec![Problem::new(
            "command[0]",
            format!("`{program}` is not on this host ({searched}); the step would fail, in a VM too: the guest runs the host's programs"),
        )]
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let creds = super::identity::creds(&self.identity())?;
            let netns = super::identity::netns_path(ctx, self.netns.as_deref())?;
            let mut cmd = crate::process::launch::command(&self.command[0], creds, netns.as_deref())?;
            cmd.args(&self.command[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let shown = self.command.join(" ");
            let child = cmd.spawn().map_err(|e| StepError::io(format!("cannot run `{shown}`"), e))?;
            let out = tokio::select! {
                r = tokio::time::timeout(self.timeout.0, child.wait_with_output()) => match r {
                    Ok(r) => r.map_err(|e| StepError::io(format!("`{shown}`"), e))?,
                    Err(_) => return Err(StepError::Unmet(format!("`{shown}` did not finish within {:?}", self.timeout.0))),
                },
                _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
            };
            let code = out.status.code().unwrap_or(-1);
            let output = format!("{}{}", tail(&out.stdout), tail(&out.stderr));
            let summary = StepSummary::text(format!("`{shown}` exited {code}")).counter("exit", code as f64).with_output(output);
            match self.exit {
                Some(want) if want != code => Err(StepError::Unmet(format!(
                    "`{shown}` exited {code}, expected {want}: {}",
                    summary.output.as_deref().unwrap_or("").trim()
                ))),
                _ => Ok(summary),
            }
        }
        .boxed()
    }
}

/// Where `program` is: itself when it names a path, else the first of `dirs` that has it as an
/// executable file.
/// Where a program is looked for: this host's `$PATH`, then the guest's directories.
pub fn search_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(GUEST_PATH.iter().map(PathBuf::from));
    dirs
}

pub fn find_program(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return executable(Path::new(program)).then(|| PathBuf::from(program));
    }
    dirs.iter().map(|d| d.join(program)).find(|p| executable(p))
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(KEEP_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &[&str]) -> Spec {
        Spec {
            netns: None,
            command: command.iter().map(|c| c.to_string()).collect(),
            timeout: default_timeout(),
            exit: None,
            user: None,
            group: None,
            caps: None,
        }
    }

    #[test]
    fn finds_programs_by_name_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("probe.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let dirs = [dir.path().to_path_buf()];
        assert_eq!(find_program("probe.sh", &dirs), None, "not executable yet");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("probe.sh", &dirs), Some(script.clone()));
        assert_eq!(find_program(script.to_str().unwrap(), &[]), Some(script));
        assert_eq!(find_program("sh", &[PathBuf::from("/bin")]), Some(PathBuf::from("/bin/sh")));
    }

    #[test]
    fn warns_about_a_program_the_host_lacks() {
        assert!(spec(&["sh", "-c", "true"]).check_host().is_empty());
        let w = spec(&["lab-no-such-program", "x"]).check_host();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "command[0]");
        assert!(
            w[0].message.starts_with("`lab-no-such-program` is not on this host (not in $PATH nor in /usr/local/sbin:"),
            "{}",
            w[0].message
        );
        let w = spec(&["/nonexistent/run.sh"]).check_host();
        assert!(w[0].message.contains("not an executable file"), "{}", w[0].message);
        assert!(spec(&[]).check_host().is_empty(), "an empty command is check()'s error, not a warning");
    }
}
