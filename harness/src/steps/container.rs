//! `container` — start a minimal container with a real OCI runtime (Debian's `runc`): a
//! busybox-static rootfs in a bundle under `/run/lab/containers` (tmpfs in the guest), the
//! runtime's own default `config.json` (`runc spec`) with the step's command, run with
//! `runc --root <state dir> run`, then deleted.
//!
//! The runtime runs as the step's identity. A runtime without CAP_SYS_ADMIN cannot create
//! namespaces; `userns: true` puts the container in a user namespace that maps uids and gids
//! 0-65535 to themselves, which it may create without (the way containers run as uid 0 with
//! a reduced capability set). Under the VM backend the runtime and busybox are the host's.
//!
//! `volumes` bind-mount paths of the run's scratch directory into the container (as the
//! kubelet passes a pod volume to the runtime: `rbind`); `exit: any` takes whatever the
//! runtime says, for conditions (`step_output`) to judge.
//!
//! `version` picks a runtime of another Debian release (`1.0.0~rc93`: bullseye's runc),
//! fetched on the host before the run ([`crate::runtimes::fetch`]) and found here in the
//! cache; the binary, its `--version` and its sha256 go into the verdict's notes.
//! `seccomp` (an OCI `linux.seccomp` file of the lab's tree), `no_new_privileges` and
//! `capabilities` set those parts of the container's config.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::exec::{find_program, search_dirs};
use super::{Step, StepCtx, StepError, StepSummary};
use crate::cleanup::CONTAINERS_DIR;
use crate::process::{Account, CapsSpec, Creds, IdentitySpec};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;

// Bundles and runtime state go under CONTAINERS_DIR: tmpfs in the guest (and usually on a
// host), tagged with the run id so `lab clean` finds what a killed run left.
/// busybox applets linked in the rootfs's /bin.
const APPLETS: &[&str] = &["sh", "true", "echo", "cat", "ls", "id", "sleep", "grep", "hostname"];

/// ```yaml
/// container:
///   runtime: runc                      # an OCI runtime with runc's CLI (default runc)
///   version: "1.0.0~rc93"              # absent: the host's; else fetched from Debian
///   seccomp: scenarios/profiles/large.json   # linux.seccomp of the config
///   no_new_privileges: true            # process.noNewPrivileges (absent: runc spec's, true)
///   capabilities: [CAP_CHOWN, CAP_KILL]      # every process.capabilities set
///   command: [sh, -c, 'echo hello']    # run in the container (default [true])
///   userns: true                       # uids/gids 0-65535 mapped to themselves
///   user: 0
///   caps: { drop: [cap_sys_resource, cap_sys_admin] }
///   timeout: 60s
///   exit: 0                            # the runtime's expected status (default 0), or any
///   volumes:                           # bind mounts from the run's scratch directory
///     - { source: pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount, destination: /data }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default = "default_runtime")]
    pub runtime: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub seccomp: Option<String>,
    #[serde(default)]
    pub no_new_privileges: Option<bool>,
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    #[serde(default = "default_command")]
    pub command: Vec<String>,
    #[serde(default)]
    pub userns: bool,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub exit: Option<ExitSpec>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub group: Option<Account>,
    #[serde(default)]
    pub caps: Option<CapsSpec>,
}

/// The runtime's expected exit status: a number, or `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ExitSpec {
    Code(i32),
    Word(AnyWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnyWord {
    Any,
}

/// A bind mount into the container.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// A path of the run's scratch directory.
    pub source: String,
    /// Where it appears in the container.
    pub destination: String,
}

fn default_runtime() -> String {
    "runc".into()
}
fn default_command() -> Vec<String> {
    vec!["true".into()]
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

impl Spec {
    fn identity(&self) -> IdentitySpec {
        IdentitySpec { user: self.user.clone(), group: self.group.clone(), caps: self.caps.clone() }
    }
}

impl Step for Spec {
    fn check(&self, _scope: &CheckScope) -> Vec<Problem> {
        let mut out = super::identity::problems(&self.identity());
        if self.command.first().is_none_or(|c| c.trim().is_empty()) {
            out.push(Problem::new("command", "give the program to run in the container, like [sh, -c, 'echo hi']"));
        }
        if let Some(v) = &self.version {
            if let Err(e) = crate::runtimes::available(&self.runtime, v, &crate::runtimes::cache_dir()) {
                out.push(Problem::new("version", e.to_string()));
            }
        }
        if let Some(p) = &self.seccomp {
            let path = crate::scenario::files::lab_home().join(p);
            if let Err(e) = crate::seccomp::profile::load(&path).and_then(|l| crate::seccomp::filter::Filter::build(&l.profile)) {
                out.push(Problem::new("seccomp", e.to_string()));
            }
        }
        for (i, v) in self.volumes.iter().enumerate() {
            out.extend(crate::scenario::scratch::problem(&format!("volumes[{i}].source"), &v.source));
            if !v.destination.starts_with('/') {
                out.push(Problem::new(format!("volumes[{i}].destination"), "give an absolute path in the container, like /data"));
            }
        }
        out
    }

    fn check_host(&self) -> Vec<Problem> {
        let dirs = search_dirs();
        let mut out = Vec::new();
        if self.version.is_none() && find_program(&self.runtime, &dirs).is_none() {
            out.push(Problem::new("runtime", format!("`{}` is not on this host (Debian: apt-get install runc)", self.runtime)));
        }
        if find_program("busybox", &dirs).is_none() {
            out.push(Problem::new("", "busybox is not on this host, the container's rootfs needs it (apt-get install busybox-static)"));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move {
            let creds = super::identity::creds(&self.identity())?;
            let name = format!("{}-{}", ctx.env.run_id, ctx.index.replace('.', "-"));
            let base = Path::new(CONTAINERS_DIR).join(&name);
            let result = self.run_in(ctx, &base, &name, creds).await;
            self.delete(&base, &name).await;
            result
        }
        .boxed()
    }
}

impl Spec {
    async fn run_in(&self, ctx: &StepCtx<'_>, base: &Path, name: &str, creds: Creds) -> Result<StepSummary, StepError> {
        let resolved = crate::runtimes::resolve(&self.runtime, self.version.as_deref(), &crate::runtimes::cache_dir())
            .map_err(|e| StepError::Unmet(e.to_string()))?;
        ctx.env.note(format!("step {} runtime: {resolved}", ctx.index));
        let runtime = resolved.path.clone();
        let bundle = base.join("bundle");
        make_rootfs(&bundle.join("rootfs"))?;
        self.write_config(&runtime, &bundle).await?;
        let version = format!("{} {}", self.runtime, resolved.version);
        if !self.volumes.is_empty() {
            self.add_volumes(ctx, &bundle)?;
        }
        let state = base.join("state");
        let mut cmd = crate::process::launch::command(&runtime, creds, None)?;
        cmd.arg("--root").arg(&state).arg("run").arg("--bundle").arg(&bundle).arg(name);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| StepError::io(format!("cannot run {}", runtime.display()), e))?;
        let out = tokio::select! {
            r = tokio::time::timeout(self.timeout.0, child.wait_with_output()) => match r {
                Ok(r) => r.map_err(|e| StepError::io(format!("`{} run`", self.runtime), e))?,
                Err(_) => return Err(StepError::Unmet(format!("`{} run` did not finish within {:?}", self.runtime, self.timeout.0))),
            },
            _ = ctx.cancel.cancelled() => return Err(StepError::Stopped),
        };
        let took = started.elapsed();
        let code = out.status.code().unwrap_or(-1);
        let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let text = format!(
            "`{version} run` as {creds} exited {code} in {:.2} s; runtime {}, sha256 {}",
            took.as_secs_f64(),
            runtime.display(),
            resolved.sha256
        );
        let summary = StepSummary::text(text).counter("exit", code as f64).counter("took_ms", took.as_millis() as f64);
        match self.exit.unwrap_or(ExitSpec::Code(0)) {
            ExitSpec::Code(want) if want != code => {
                return Err(StepError::Unmet(format!("{}, expected {want}: {}", summary.text, output.trim())));
            }
            _ => {}
        }
        Ok(summary.with_output(output))
    }

    /// `runc spec` in the bundle, then the step's command, no terminal, and the user namespace.
    async fn write_config(&self, runtime: &Path, bundle: &Path) -> Result<(), StepError> {
        let out = tokio::process::Command::new(runtime)
            .arg("spec")
            .arg("--bundle")
            .arg(bundle)
            .output()
            .await
            .map_err(|e| StepError::io(format!("{} spec", runtime.display()), e))?;
        if !out.status.success() {
            return Err(StepError::Unmet(format!("`{} spec` failed: {}", self.runtime, String::from_utf8_lossy(&out.stderr).trim())));
        }
        let path = bundle.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| StepError::io(path.display().to_string(), e))?;
        let mut config: Value = serde_json::from_str(&text).map_err(|e| StepError::Unmet(format!("{}: {e}", path.display())))?;
        adapt_config(&mut config, &self.command, self.userns);
        self.security(&mut config)?;
        std::fs::write(&path, config.to_string()).map_err(|e| StepError::io(path.display().to_string(), e))
    }

    /// The step's seccomp profile, NNP and capabilities, over `runc spec`'s.
    fn security(&self, config: &mut Value) -> Result<(), StepError> {
        if let Some(p) = &self.seccomp {
            let path = crate::scenario::files::lab_home().join(p);
            let text = std::fs::read_to_string(&path).map_err(|e| StepError::io(path.display().to_string(), e))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| StepError::Unmet(format!("{}: {e}", path.display())))?;
            config["linux"]["seccomp"] = if v.get("linux").is_some() { v["linux"]["seccomp"].clone() } else { v };
        }
        if let Some(nnp) = self.no_new_privileges {
            config["process"]["noNewPrivileges"] = json!(nnp);
        }
        if let Some(caps) = &self.capabilities {
            let caps: Vec<String> = caps.iter().map(|c| c.to_ascii_uppercase()).collect();
            for set in ["bounding", "effective", "permitted", "inheritable"] {
                config["process"]["capabilities"][set] = json!(caps);
            }
        }
        Ok(())
    }

    /// Adds the volumes to the bundle's config, sources resolved in the scratch directory.
    fn add_volumes(&self, ctx: &StepCtx<'_>, bundle: &Path) -> Result<(), StepError> {
        let path = bundle.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| StepError::io(path.display().to_string(), e))?;
        let mut config: Value = serde_json::from_str(&text).map_err(|e| StepError::Unmet(format!("{}: {e}", path.display())))?;
        let sources: Vec<(String, String)> =
            self.volumes.iter().map(|v| (ctx.env.scratch_path(&v.source).display().to_string(), v.destination.clone())).collect();
        add_bind_mounts(&mut config, &sources);
        std::fs::write(&path, config.to_string()).map_err(|e| StepError::io(path.display().to_string(), e))
    }

    /// Removes the container (if the runtime left it) and the bundle.
    async fn delete(&self, base: &Path, name: &str) {
        let resolved = crate::runtimes::resolve(&self.runtime, self.version.as_deref(), &crate::runtimes::cache_dir());
        if let Ok(runtime) = resolved.map(|r| r.path) {
            let state = base.join("state");
            let _ = tokio::process::Command::new(runtime).arg("--root").arg(&state).args(["delete", "--force", name]).output().await;
        }
        let _ = std::fs::remove_dir_all(base);
    }
}

/// The default config with `command`, no terminal, and (with `userns`) a user namespace
/// mapping ids 0-65535 to themselves.
pub fn adapt_config(config: &mut Value, command: &[String], userns: bool) {
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(command);
    config["hostname"] = json!("lab-container");
    if userns {
        let map = json!([{ "containerID": 0, "hostID": 0, "size": 65536 }]);
        let linux = &mut config["linux"];
        if let Some(ns) = linux["namespaces"].as_array_mut() {
            ns.push(json!({ "type": "user" }));
        }
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
    }
}

/// Appends `(source, destination)` bind mounts (`rbind`, as the kubelet asks for volumes).
pub fn add_bind_mounts(config: &mut Value, volumes: &[(String, String)]) {
    if !config["mounts"].is_array() {
        config["mounts"] = json!([]);
    }
    if let Some(mounts) = config["mounts"].as_array_mut() {
        for (source, destination) in volumes {
            mounts.push(json!({ "destination": destination, "type": "bind", "source": source, "options": ["rbind", "rw"] }));
        }
    }
}

/// A rootfs with the host's busybox-static and a few applets linked to it.
fn make_rootfs(rootfs: &Path) -> Result<(), StepError> {
    let busybox = find_program("busybox", &search_dirs()).ok_or_else(|| StepError::Unmet("busybox is not installed".into()))?;
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| StepError::io(format!("creating {}", bin.display()), e))?;
    std::fs::copy(&busybox, bin.join("busybox")).map_err(|e| StepError::io(format!("copying {}", busybox.display()), e))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).map_err(|e| StepError::io(format!("linking /bin/{applet}"), e))?;
    }
    for dir in ["proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| StepError::io(format!("creating /{dir}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_gets_the_command_and_a_user_namespace() {
        let mut c = json!({ "process": { "terminal": true, "args": ["sh"] }, "linux": { "namespaces": [{ "type": "pid" }] } });
        adapt_config(&mut c, &["true".to_string()], true);
        assert_eq!(c["process"]["terminal"], json!(false));
        assert_eq!(c["process"]["args"], json!(["true"]));
        assert_eq!(c["linux"]["namespaces"][1]["type"], "user");
        assert_eq!(c["linux"]["uidMappings"][0]["size"], 65536);
        let mut plain = json!({ "process": {}, "linux": { "namespaces": [] } });
        adapt_config(&mut plain, &["true".to_string()], false);
        assert!(plain["linux"]["uidMappings"].is_null());
    }

    #[test]
    fn volumes_become_rbind_mounts_and_exit_may_be_any() {
        let mut c = json!({ "mounts": [{ "destination": "/proc" }] });
        add_bind_mounts(&mut c, &[("/run/lab/mounts/x/pod".into(), "/data".into())]);
        assert_eq!(
            c["mounts"][1],
            json!({ "destination": "/data", "type": "bind", "source": "/run/lab/mounts/x/pod", "options": ["rbind", "rw"] })
        );
        let s: Spec = serde_saphyr::from_str("{ exit: any, volumes: [{ source: /abs, destination: data }] }").unwrap();
        assert_eq!(s.exit, Some(ExitSpec::Word(AnyWord::Any)));
        let fields: Vec<String> = s.check(&CheckScope::default()).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["volumes[0].source", "volumes[0].destination"]);
        let n: Spec = serde_saphyr::from_str("{ exit: 1 }").unwrap();
        assert_eq!(n.exit, Some(ExitSpec::Code(1)));
    }
}
