//! `make bzImage` in a shared object tree, with the log kept and progress reported.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{BuildProgress, KernelError};

/// Compile/link lines Kbuild prints (`  CC      net/ipv4/route.o`).
fn is_step(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or_default();
    matches!(
        word,
        "CC" | "AS"
            | "LD"
            | "AR"
            | "OBJCOPY"
            | "HOSTCC"
            | "HOSTLD"
            | "GEN"
            | "UPD"
            | "CALL"
            | "SYSTBL"
            | "WRAP"
            | "MKELF"
            | "VDSO"
            | "RELOCS"
            | "ZOFFSET"
            | "VOFFSET"
            | "CPUSTR"
    )
}

/// make dies with lab (and with this thread, which waits for it): a Ctrl-C'd or killed
/// run leaves no build behind.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| match nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
}

/// Builds bzImage in `obj` from `src`; returns the number of Kbuild steps (for next time's
/// progress estimate). Output is appended to `log`.
pub fn make_bzimage(
    src: &Path,
    obj: &Path,
    estimate: u64,
    progress: &(dyn Fn(BuildProgress) + Sync),
    log: &mut std::fs::File,
) -> Result<u64, KernelError> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut make = Command::new("make");
    die_with_parent(&mut make);
    let mut child = make
        .current_dir(src)
        .arg(format!("O={}", obj.display()))
        .args(["ARCH=x86_64", &format!("-j{jobs}"), "bzImage"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::Tool { tool: "make".into(), detail: e.to_string() })?;
    // stderr on its own thread so neither pipe can fill up and stall make.
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<String>>());
    let mut done = 0u64;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        if is_step(line.trim_start()) {
            done += 1;
            progress(BuildProgress::Compiled { done, estimate: estimate.max(done) });
        }
    }
    let status = child.wait().map_err(|e| KernelError::Tool { tool: "make".into(), detail: e.to_string() })?;
    let errors = errors.join().unwrap_or_default();
    for line in &errors {
        let _ = writeln!(log, "{line}");
    }
    if !status.success() {
        let interesting: Vec<&String> = errors.iter().filter(|l| l.contains("error") || l.contains("Error")).take(6).collect();
        let shown = if interesting.is_empty() { errors.iter().rev().take(6).collect() } else { interesting };
        return Err(KernelError::Tool {
            tool: "make bzImage".into(),
            detail: format!("{status}: {}", shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" | ")),
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_kbuild_steps() {
        assert!(super::is_step("CC      net/ipv4/route.o"));
        assert!(super::is_step("LD      vmlinux"));
        assert!(!super::is_step("make[1]: Entering directory"));
    }
}
