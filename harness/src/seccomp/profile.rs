//! The OCI runtime spec's `linux.seccomp` section, as runc reads it from `config.json`:
//! `defaultAction`, `defaultErrnoRet`, `architectures`, and `syscalls` (names, an action,
//! `errnoRet`, argument conditions `{index, value, valueTwo, op}`).
//!
//! [`load`] takes either a whole `config.json` (its `linux.seccomp`, and `process`'s
//! `noNewPrivileges` and capabilities, which decide when runc exports the filter) or a bare
//! seccomp section. Unknown keys are ignored, as runc's JSON decoding does; a bad value is an
//! error with its line, column and field path (`syscalls[3].args[0].op`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SeccompError;

/// A `linux.seccomp` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Action,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Syscalls>,
}

/// One entry of `syscalls`: the same action for every name, under the same conditions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscalls {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
}

/// An argument condition: `args[index] op value` (`SCMP_CMP_MASKED_EQ`: `args[index] & value
/// == valueTwo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: Op,
}

/// `SCMP_ACT_*`, as the runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// `SCMP_CMP_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    NotEqual,
    #[serde(rename = "SCMP_CMP_LT")]
    Less,
    #[serde(rename = "SCMP_CMP_LE")]
    LessOrEqual,
    #[serde(rename = "SCMP_CMP_EQ")]
    Equal,
    #[serde(rename = "SCMP_CMP_GE")]
    GreaterEqual,
    #[serde(rename = "SCMP_CMP_GT")]
    Greater,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEqual,
}

/// What runc's `runc init` does around the export, from `config.json`'s `process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSide {
    /// `process.noNewPrivileges` (absent: false, as in the spec).
    pub no_new_privileges: bool,
    /// `process.capabilities.effective`, lower-case (`cap_chown`); `None` when the file
    /// says nothing (a bare profile).
    pub effective: Option<Vec<String>>,
}

/// A file read: its seccomp section, and what its `process` says (a whole config.json).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub profile: Profile,
    /// `None` for a bare seccomp section.
    pub process: Option<ProcessSide>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    process: Option<ConfigProcess>,
    linux: ConfigLinux,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigProcess {
    #[serde(default)]
    no_new_privileges: bool,
    #[serde(default)]
    capabilities: Option<ConfigCaps>,
}

#[derive(Deserialize)]
struct ConfigCaps {
    #[serde(default)]
    effective: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigLinux {
    seccomp: Option<Profile>,
}

/// Reads `path`: a `config.json` (it has `linux`) or a bare seccomp section.
pub fn load(path: &Path) -> Result<Loaded, SeccompError> {
    let text = std::fs::read_to_string(path).map_err(|source| SeccompError::Read { path: path.to_path_buf(), source })?;
    parse(path, &text)
}

/// [`load`] on text already read.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, SeccompError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| json_error(path, text, "", e))?;
    if value.get("linux").is_none() {
        let profile = typed::<Profile>(path, text, "")?;
        return Ok(Loaded { path: path.to_path_buf(), profile, process: None });
    }
    let config = typed::<Config>(path, text, "")?;
    let profile = config.linux.seccomp.ok_or_else(|| SeccompError::NoSeccomp { path: path.to_path_buf() })?;
    let process = config.process.map(|p| ProcessSide {
        no_new_privileges: p.no_new_privileges,
        effective: p.capabilities.map(|c| c.effective.iter().map(|n| n.to_ascii_lowercase()).collect()),
    });
    let process = Some(process.unwrap_or(ProcessSide { no_new_privileges: false, effective: None }));
    Ok(Loaded { path: path.to_path_buf(), profile, process })
}

/// Deserializes `text` as `T`, an error naming the field path and position.
fn typed<T: serde::de::DeserializeOwned>(path: &Path, text: &str, prefix: &str) -> Result<T, SeccompError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        json_error(path, text, &format!("{prefix}{field}"), e.into_inner())
    })
}

fn json_error(path: &Path, _text: &str, field: &str, e: serde_json::Error) -> SeccompError {
    let field = if field == "." { String::new() } else { field.to_string() };
    SeccompError::Json { path: path.to_path_buf(), line: e.line(), column: e.column(), field, message: strip_position(&e.to_string()) }
}

/// serde_json appends ` at line L column C`; the error says the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_section_and_a_config_json_both_load() {
        let bare = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#;
        let l = parse(Path::new("p.json"), bare).unwrap();
        assert!(l.process.is_none());
        assert_eq!(l.profile.syscalls[1].args[0], Arg { index: 0, value: 8, value_two: 0, op: Op::Equal });
        let config = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"noNewPrivileges":true,"capabilities":{{"effective":["CAP_CHOWN"]}}}},"linux":{{"seccomp":{bare}}}}}"#
        );
        let l = parse(Path::new("config.json"), &config).unwrap();
        assert_eq!(l.process, Some(ProcessSide { no_new_privileges: true, effective: Some(vec!["cap_chown".into()]) }));
    }

    #[test]
    fn a_bad_value_is_named_by_its_field_and_position() {
        let text = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\n\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\n\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_LIKE\"}]}]}";
        match parse(Path::new("p.json"), text) {
            Err(SeccompError::Json { line, field, message, .. }) => {
                assert_eq!((line, field.as_str()), (3, "syscalls[0].args[0].op"));
                assert!(message.contains("SCMP_CMP_LIKE"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let no_seccomp = parse(Path::new("config.json"), r#"{"linux":{}}"#);
        assert!(matches!(no_seccomp, Err(SeccompError::NoSeccomp { .. })), "{no_seccomp:?}");
    }
}
