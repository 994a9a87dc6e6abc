//! A profile made into a libseccomp filter the way runc 1.0.0-rc93 does it
//! (`libcontainer/seccomp/seccomp_linux.go` on libseccomp-golang), and exported as the
//! kernel's BPF program with libseccomp's own `seccomp_export_bpf`.
//!
//! As runc: the native architecture plus every one listed; the filter's NNP attribute off
//! (runc sets `no_new_privs` itself); a name this libseccomp does not know is skipped; a rule
//! whose action is the default action is skipped (libseccomp refuses it, and it changes
//! nothing); conditions on distinct arguments form one rule, and when two compare the same
//! argument each becomes a rule of its own. The filter is never loaded here.

use std::os::fd::AsFd;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext, ScmpSyscall};

use super::profile::{Action, Arg, Op, Profile};
use super::SeccompError;

/// One BPF instruction (`struct sock_filter`): 8 bytes.
pub const INSTRUCTION_BYTES: u64 = 8;

/// EPERM, the errno of `SCMP_ACT_ERRNO` without `errnoRet`.
const EPERM: u32 = 1;

/// A filter built from a profile, not loaded.
pub struct Filter {
    ctx: ScmpFilterContext,
    /// Names libseccomp does not know, skipped as runc skips them.
    pub unknown: Vec<String>,
    /// Rules skipped because their action is the default action.
    pub same_as_default: usize,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("unknown", &self.unknown).field("same_as_default", &self.same_as_default).finish()
    }
}

/// The exported program's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub bytes: u64,
    pub instructions: u64,
}

impl Filter {
    /// Builds `profile`'s filter; an error names the entry and field libseccomp refused.
    pub fn build(profile: &Profile) -> Result<Filter, SeccompError> {
        let default = action(profile.default_action, profile.default_errno_ret);
        let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib("creating the filter", "defaultAction", e))?;
        ctx.set_filter_attr(ScmpFilterAttr::CtlNnp, 0).map_err(|e| lib("clearing the NNP attribute", "", e))?;
        for (i, name) in profile.architectures.iter().enumerate() {
            let field = format!("architectures[{i}]");
            let arch: ScmpArch = name.parse().map_err(|_| SeccompError::Rejected {
                field: field.clone(),
                what: format!("`{name}` is not an architecture libseccomp knows (SCMP_ARCH_X86_64, SCMP_ARCH_X86, ...)"),
            })?;
            if ctx.is_arch_present(arch).unwrap_or(false) {
                continue;
            }
            ctx.add_arch(arch).map_err(|e| lib(&format!("adding {name}"), &field, e))?;
        }
        let mut filter = Filter { ctx, unknown: Vec::new(), same_as_default: 0 };
        for (i, entry) in profile.syscalls.iter().enumerate() {
            let act = action(entry.action, entry.errno_ret);
            if act == default {
                filter.same_as_default += 1;
                continue;
            }
            for (j, name) in entry.names.iter().enumerate() {
                filter.add(act, name, &entry.args, &format!("syscalls[{i}]"), j)?;
            }
        }
        Ok(filter)
    }

    fn add(&mut self, act: ScmpAction, name: &str, args: &[Arg], at: &str, j: usize) -> Result<(), SeccompError> {
        let Ok(call) = ScmpSyscall::from_name(name) else {
            self.unknown.push(name.to_string());
            return Ok(());
        };
        let conds: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
        // The field to name: an argument index libseccomp cannot take, else the conditions,
        // else the name.
        let k = args.iter().position(|a| a.index > 5);
        let field = match (k, args.is_empty()) {
            (Some(k), _) => format!("{at}.args[{k}].index"),
            (None, false) => format!("{at}.args"),
            (None, true) => format!("{at}.names[{j}]"),
        };
        let rejected = |e| lib(&format!("a rule for `{name}`"), &field, e);
        let repeated = args.iter().enumerate().any(|(k, a)| args[..k].iter().any(|b| b.index == a.index));
        if repeated {
            for c in &conds {
                self.ctx.add_rule_conditional(act, call, std::slice::from_ref(c)).map_err(rejected)?;
            }
            return Ok(());
        }
        self.ctx.add_rule_conditional(act, call, &conds).map_err(rejected)?;
        Ok(())
    }

    /// `seccomp_export_bpf` into `fd`: one `write(2)` of the whole program, which blocks
    /// until a reader makes room when `fd` is a pipe smaller than the program.
    pub fn export_to(&self, fd: impl AsFd) -> Result<(), SeccompError> {
        self.ctx.export_bpf(fd).map_err(|e| lib("exporting the program", "", e))
    }

    /// The exported program's size, measured by exporting it into a memfd.
    pub fn exported(&self) -> Result<Exported, SeccompError> {
        // SAFETY: a plain system call; the descriptor it returns is owned at once.
        let raw = unsafe { libc::memfd_create(c"lab-seccomp-export".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(SeccompError::Export(std::io::Error::last_os_error()));
        }
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        self.export_to(&fd)?;
        let bytes = std::fs::File::from(fd).metadata().map_err(SeccompError::Export)?.len();
        Ok(Exported { bytes, instructions: bytes / INSTRUCTION_BYTES })
    }
}

fn action(a: Action, errno: Option<u32>) -> ScmpAction {
    match a {
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Errno => ScmpAction::Errno(errno.unwrap_or(EPERM) as i32),
        Action::Trace => ScmpAction::Trace(errno.unwrap_or(EPERM) as u16),
        Action::Allow => ScmpAction::Allow,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

fn compare(a: &Arg) -> ScmpArgCompare {
    let (op, datum) = match a.op {
        Op::NotEqual => (ScmpCompareOp::NotEqual, a.value),
        Op::Less => (ScmpCompareOp::Less, a.value),
        Op::LessOrEqual => (ScmpCompareOp::LessOrEqual, a.value),
        Op::Equal => (ScmpCompareOp::Equal, a.value),
        Op::GreaterEqual => (ScmpCompareOp::GreaterEqual, a.value),
        Op::Greater => (ScmpCompareOp::Greater, a.value),
        Op::MaskedEqual => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
    };
    ScmpArgCompare::new(a.index, op, datum)
}

/// libseccomp's refusal, with the field it concerns and the errno it gave.
fn lib(what: &str, field: &str, e: libseccomp::error::SeccompError) -> SeccompError {
    let errno = e.errno().map_or(String::new(), |n| format!(" ({n:?})"));
    SeccompError::Rejected { field: field.to_string(), what: format!("libseccomp refused {what}: {e}{errno}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::profile::{parse, Syscalls};
    use std::path::Path;

    fn profile(arches: &[&str], names: &[&str]) -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: None,
            architectures: arches.iter().map(|s| s.to_string()).collect(),
            syscalls: vec![Syscalls {
                names: names.iter().map(|s| s.to_string()).collect(),
                action: Action::Allow,
                errno_ret: None,
                args: vec![],
            }],
        }
    }

    #[test]
    fn more_names_and_architectures_export_more_instructions() {
        let one = Filter::build(&profile(&["SCMP_ARCH_X86_64"], &["read"])).unwrap().exported().unwrap();
        let many = Filter::build(&profile(&["SCMP_ARCH_X86_64"], &["read", "write", "openat", "close"])).unwrap().exported().unwrap();
        let arches =
            Filter::build(&profile(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], &["read", "write", "openat", "close"]))
                .unwrap()
                .exported()
                .unwrap();
        assert_eq!(one.bytes, one.instructions * INSTRUCTION_BYTES);
        assert!(one.instructions < many.instructions && many.instructions < arches.instructions, "{one:?} {many:?} {arches:?}");
    }

    #[test]
    fn unknown_names_are_skipped_and_a_bad_index_is_refused_by_libseccomp() {
        let f = Filter::build(&profile(&[], &["read", "no_such_call"])).unwrap();
        assert_eq!(f.unknown, ["no_such_call"]);
        let text = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#;
        let p = parse(Path::new("p.json"), text).unwrap().profile;
        match Filter::build(&p) {
            Err(SeccompError::Rejected { field, what }) => {
                assert_eq!(field, "syscalls[1].args[0].index");
                assert!(what.contains("personality"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        let arch = profile(&["SCMP_ARCH_VAX"], &["read"]);
        assert!(matches!(Filter::build(&arch), Err(SeccompError::Rejected { field, .. }) if field == "architectures[0]"));
    }
}
