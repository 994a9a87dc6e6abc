//! tracefs: kprobe events, trace instances, triggers and filters, and the trace text they
//! produce. No run state, no BPF.
//!
//! Control files are written with one plain `write(2)` on an `O_WRONLY` descriptor
//! (`O_APPEND` for `kprobe_events`, which `O_TRUNC` would empty of every probe): tracefs
//! refuses `lseek`, which some append modes do. Every probe `lab` adds lives in its own
//! group (the run id) and is enabled only in an instance of its own, so removing the
//! instance and then the probe undoes all of it.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where tracefs may be mounted, preferred first.
pub const ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs mount that can define kprobes, if any.
pub fn root() -> Option<PathBuf> {
    ROOTS.iter().map(PathBuf::from).find(|r| r.join("kprobe_events").exists())
}

/// Writes `text` to a control file in one `write(2)`, appending for `kprobe_events`.
pub fn write(path: &Path, text: &str, append: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).append(append).open(path)?;
    f.write_all(text.as_bytes())
}

/// `p:GROUP/EVENT FUNCTION name=fetch ...`: a kprobe definition for `kprobe_events`.
pub fn probe_definition(group: &str, event: &str, function: &str, args: &[(String, String)]) -> String {
    let mut d = format!("p:{group}/{event} {function}");
    for (name, fetch) in args {
        d.push_str(&format!(" {name}={fetch}"));
    }
    d
}

/// Defines a kprobe.
pub fn add_kprobe(root: &Path, definition: &str) -> io::Result<()> {
    write(&root.join("kprobe_events"), definition, true)
}

/// Removes kprobe `GROUP/EVENT`; `Ok(false)` if it did not exist.
pub fn remove_kprobe(root: &Path, group: &str, event: &str) -> io::Result<bool> {
    if !root.join("events").join(group).join(event).exists() {
        return Ok(false);
    }
    write(&root.join("kprobe_events"), &format!("-:{group}/{event}"), true).map(|()| true)
}

/// The directory of instance `name`.
pub fn instance(root: &Path, name: &str) -> PathBuf {
    root.join("instances").join(name)
}

/// Creates instance `name` (its own buffer, its own enables and triggers).
pub fn make_instance(root: &Path, name: &str) -> io::Result<PathBuf> {
    let dir = instance(root, name);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Removes instance `name`, and with it its enables and triggers; `Ok(false)` if absent.
pub fn remove_instance(root: &Path, name: &str) -> io::Result<bool> {
    match std::fs::remove_dir(instance(root, name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// An instance's `trace_pipe`, opened non-blocking: [`drain`] takes what is there.
pub fn open_pipe(dir: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(dir.join("trace_pipe"))
}

/// Everything `pipe` holds now (consumed); empty when nothing new.
pub fn drain(pipe: &mut std::fs::File) -> io::Result<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One probe hit read back from a trace: its line and the stack that came with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hit {
    pub line: String,
    /// Innermost first, as the kernel printed them (`close_fd+0x4f/0x70`).
    pub stack: Vec<String>,
}

/// Frames of the kprobe machinery itself, on top of every stack a probe takes.
const MACHINERY: [&str; 10] = [
    "do_int3",
    "kprobe_trace_func",
    "kprobe_dispatcher",
    "optimized_callback",
    "opt_pre_handler",
    "kprobe_ftrace_handler",
    "aggr_pre_handler",
    "kprobe_int3_handler",
    "exc_int3",
    "asm_exc_int3",
];

/// Splits trace text into hits. A `<stack trace>` entry belongs to the hit of the same task
/// (`comm-pid`) just before it, or else just after it (a trigger without a filter runs
/// before the event is written). Machinery frames are dropped.
pub fn parse(text: &str) -> Vec<Hit> {
    let mut hits: Vec<(String, Hit)> = Vec::new();
    let mut orphan: Option<(String, Vec<String>)> = None;
    let mut stack: Option<(String, Vec<String>)> = None;
    let attach = |task: String, frames: Vec<String>, hits: &mut Vec<(String, Hit)>, orphan: &mut Option<(String, Vec<String>)>| match hits
        .last_mut()
        .filter(|(t, h)| *t == task && h.stack.is_empty())
    {
        Some((_, h)) => h.stack = frames,
        None => *orphan = Some((task, frames)),
    };
    for raw in text.lines() {
        if let Some(frame) = raw.trim_start().strip_prefix("=> ") {
            if let Some((_, frames)) = stack.as_mut() {
                if !MACHINERY.contains(&function_of(frame)) {
                    frames.push(frame.trim().to_string());
                }
            }
            continue;
        }
        if let Some((task, frames)) = stack.take() {
            attach(task, frames, &mut hits, &mut orphan);
        }
        if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let task = raw.split_whitespace().next().unwrap_or_default().to_string();
        if raw.contains("<stack trace>") {
            stack = Some((task, Vec::new()));
            continue;
        }
        let mut hit = Hit { line: raw.trim().to_string(), stack: Vec::new() };
        if let Some((t, frames)) = orphan.take() {
            if t == task {
                hit.stack = frames;
            }
        }
        hits.push((task, hit));
    }
    if let Some((task, frames)) = stack.take() {
        attach(task, frames, &mut hits, &mut orphan);
    }
    hits.into_iter().map(|(_, h)| h).collect()
}

/// `close_fd` of `close_fd+0x4f/0x70` (and of `foo+0x1/0x2 [module]`).
pub fn function_of(frame: &str) -> &str {
    let f = frame.trim();
    let f = f.split_whitespace().next().unwrap_or(f);
    f.split('+').next().unwrap_or(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "# tracer: nop
#
         kubelet-212     [001] .....    31.402137: s_probe: (filp_close+0x0/0x90) ino=17520
         kubelet-212     [001] .....    31.402190: <stack trace>
 => kprobe_trace_func+0x1b5/0x2b0
 => kprobe_dispatcher+0x3e/0x60
 => optimized_callback+0x5d/0x90
 => filp_close+0x1/0x90
 => close_fd+0x4f/0x70
 => lab_nvcap_readdir+0x12/0x40
 => proc_readfd_common+0xe1/0x170
 => iterate_dir+0x9b/0x1b0
 => __x64_sys_getdents64+0x7d/0x120
 => do_syscall_64+0x38/0x90
            sh-90      [000] .....    32.000001: s_probe: (filp_close+0x0/0x90) ino=5
";

    #[test]
    fn hits_get_their_stacks_without_the_kprobe_frames() {
        let hits = parse(TRACE);
        assert_eq!(hits.len(), 2);
        assert!(hits[0].line.starts_with("kubelet-212") && hits[0].line.ends_with("ino=17520"), "{}", hits[0].line);
        assert_eq!(hits[0].stack.first().map(String::as_str), Some("filp_close+0x1/0x90"));
        assert_eq!(hits[0].stack.len(), 7);
        assert!(hits[1].stack.is_empty());
    }

    #[test]
    fn a_stack_written_before_its_event_is_attached_to_it() {
        let text = "  a-1 [000] ..... 1.0: <stack trace>\n => f+0x1/0x2\n => g+0x3/0x4\n  a-1 [000] ..... 1.0: p: (f+0x0/0x2)\n";
        let hits = parse(text);
        assert_eq!(hits, [Hit { line: "a-1 [000] ..... 1.0: p: (f+0x0/0x2)".into(), stack: vec!["f+0x1/0x2".into(), "g+0x3/0x4".into()] }]);
    }

    #[test]
    fn definitions_and_frames_read_as_the_kernel_writes_them() {
        let args = [("ino".to_string(), "+56(+32($arg1)):u64".to_string())];
        assert_eq!(probe_definition("lab12ab34", "fc", "filp_close", &args), "p:lab12ab34/fc filp_close ino=+56(+32($arg1)):u64");
        assert_eq!(function_of(" close_fd+0x4f/0x70"), "close_fd");
        assert_eq!(function_of("nv_cap+0x1/0x2 [nvidia]"), "nv_cap");
        assert_eq!(function_of("iterate_dir"), "iterate_dir");
    }
}
