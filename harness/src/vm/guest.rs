//! The guest agent: `lab` itself as PID 1 of the VM.
//!
//! The contract with the host (built by [`super::qemu::kernel_cmdline`]):
//! - the kernel boots the host's `/` read-only over 9p with `init=<host's lab binary>`, and
//!   passes `__lab_guest` ([`super::qemu::GUEST_ARG`]) as init's first argument (after `--`);
//!   `main` calls [`guest_main`] when [`is_guest_invocation`] says so, before parsing the CLI;
//! - `lab.mode=run|shell`, `lab.scenario=<abs path>`, `lab.variant=<name>`, `lab.kernel=<version>` (and, for the
//!   shell, `lab.term=`, `lab.winsize=<cols>x<rows>`) are read from `/proc/cmdline`;
//! - run mode writes every [`Event`] as a JSON line to the virtio port `lab.agent`, the last
//!   being the `Verdict`, waits for the host's `ack` and powers off; meanwhile it copies
//!   every `/dev/kmsg` record to the port `lab.kmsg` ([`super::kmsg_port`]);
//! - shell mode builds the topology, runs bash on ttyS0, tears down and powers off.
//!
//! PID 1 never exits and never panics on its own errors: they are reported (as events when
//! the channel is up, on the console always, prefixed `lab-guest:`) and the guest powers off.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::mount::{mount, MsFlags};
use tokio_util::sync::CancellationToken;

use super::channel::GuestChannel;
use super::qemu::{keys, parse_cmdline, GuestMode, GUEST_ARG};
use crate::engine::{self, RunOptions};
use crate::event::{Event, EventSink, Level, Outcome};

/// How long the guest waits for the host's ack of its verdict before powering off anyway.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this process is the guest agent: PID 1 started with [`GUEST_ARG`]. Both are
/// required, so `lab` as PID 1 of a container is never mistaken for a VM's init.
pub fn is_guest_invocation() -> bool {
    std::process::id() == 1 && std::env::args_os().nth(1).is_some_and(|a| a == GUEST_ARG)
}

/// What the host asked for, from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestArgs {
    pub mode: GuestMode,
    pub scenario: PathBuf,
    pub variant: String,
    /// `None`: the scenario's default kernel (a command line from before the key existed).
    pub kernel: Option<crate::scenario::KernelVersion>,
    pub term: Option<String>,
    pub winsize: Option<(u16, u16)>,
}

/// Why the guest agent cannot do its work, in the words the host's report shows.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("{0} missing from the kernel command line")]
    Missing(&'static str),
    #[error("{key}={value}: expected {expected}")]
    BadValue { key: &'static str, value: String, expected: &'static str },
    #[error("cannot read scenario {} in the guest: {source}", path.display())]
    ReadScenario { path: PathBuf, source: std::io::Error },
    #[error("the scenario does not load in the guest: {0}")]
    Load(#[from] crate::scenario::LoadError),
    #[error(transparent)]
    Variant(#[from] crate::scenario::VariantError),
    #[error("cannot start the async runtime in the guest: {0}")]
    Runtime(#[source] std::io::Error),
}

impl GuestArgs {
    /// Reads the `lab.*` keys of a kernel command line; the error names what is missing.
    pub fn parse(cmdline: &str) -> Result<GuestArgs, GuestError> {
        let kv = parse_cmdline(cmdline);
        // The last occurrence wins, as for the kernel's own parameters.
        let get = |k: &str| kv.iter().rev().find(|(key, _)| key == k).and_then(|(_, v)| v.clone());
        let mode = match get(keys::MODE).as_deref() {
            Some("run") => GuestMode::Run,
            Some("shell") => GuestMode::Shell,
            Some(other) => return Err(GuestError::BadValue { key: keys::MODE, value: other.into(), expected: "run or shell" }),
            None => return Err(GuestError::Missing(keys::MODE)),
        };
        let scenario = get(keys::SCENARIO).filter(|s| !s.is_empty()).ok_or(GuestError::Missing(keys::SCENARIO))?;
        let variant = get(keys::VARIANT).filter(|s| !s.is_empty()).ok_or(GuestError::Missing(keys::VARIANT))?;
        let winsize = match get(keys::WINSIZE) {
            None => None,
            Some(w) => {
                Some(parse_winsize(&w).ok_or(GuestError::BadValue { key: keys::WINSIZE, value: w, expected: "<columns>x<rows>" })?)
            }
        };
        let kernel = match get(keys::KERNEL) {
            None => None,
            Some(k) => Some(k.parse().map_err(|_| GuestError::BadValue {
                key: keys::KERNEL,
                value: k,
                expected: "a kernel version (5.10, 6.1, 6.12)",
            })?),
        };
        Ok(GuestArgs { mode, scenario: PathBuf::from(scenario), variant, kernel, term: get(keys::TERM), winsize })
    }
}

fn parse_winsize(s: &str) -> Option<(u16, u16)> {
    let (c, r) = s.split_once('x')?;
    Some((c.parse().ok()?, r.parse().ok()?))
}

/// The guest's clock when init started, for [`Event::GuestBoot`].
static INIT_AT_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Milliseconds since the kernel started (CLOCK_BOOTTIME).
fn boottime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Writes a line on the console (PID 1's stderr is /dev/console).
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "lab-guest: {msg}");
}

/// The guest's init. Never returns: the guest powers off when the work is done or failed.
pub fn guest_main() -> ! {
    let _ = INIT_AT_MS.set(boottime_ms());
    // The kernel gives init only HOME and TERM.
    std::env::set_var("PATH", crate::steps::exec::GUEST_PATH.join(":"));
    std::env::set_var("HOME", "/root");
    std::panic::set_hook(Box::new(|info| say(&format!("panic: {info}"))));
    if let Err(payload) = std::panic::catch_unwind(agent) {
        let what =
            payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        say(&format!("the agent panicked ({what}); powering off"));
    }
    power_off()
}

fn agent() {
    if let Err(e) = mount_fs("proc", "/proc", "proc", MsFlags::empty(), None) {
        say(&format!("cannot mount /proc: {e}"));
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let args = match GuestArgs::parse(&cmdline) {
        Ok(a) => a,
        Err(e) => {
            say(&format!("bad kernel command line: {e}"));
            report_failure(&format!("the guest agent could not start: {e}"), &[]);
            return;
        }
    };
    // Read the scenario before tmpfs covers /tmp, /run, /root: the file may live there.
    let text = std::fs::read_to_string(&args.scenario).map_err(|source| GuestError::ReadScenario { path: args.scenario.clone(), source });
    let problems = setup_filesystems();
    let _ = nix::unistd::sethostname("lab-guest");
    match args.mode {
        GuestMode::Run => run_mode(&args, text, &problems),
        GuestMode::Shell => shell_mode(&args, text, &problems),
    }
}

/// Mounts what the engine and the tools need; returns what failed, in words.
pub fn setup_filesystems() -> Vec<String> {
    let mut problems = Vec::new();
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let m = |src, target, fstype, flags, data, required| Mount { src, target, fstype, flags, data, required };
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let table = [
        m("sysfs", "/sys", "sysfs", nosuid, None, true),
        // Usually mounted already by CONFIG_DEVTMPFS_MOUNT.
        m("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755"), true),
        m("devpts", "/dev/pts", "devpts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("gid=5,mode=620,ptmxmode=666"), false),
        m("tmpfs", "/dev/shm", "tmpfs", nodev, None, false),
        m("tmpfs", "/run", "tmpfs", nodev, Some("mode=0755"), true),
        m("tmpfs", "/tmp", "tmpfs", nodev, Some("mode=1777"), true),
        m("tmpfs", "/var/tmp", "tmpfs", nodev, Some("mode=1777"), false),
        m("tmpfs", "/root", "tmpfs", nodev, Some("mode=0700"), false),
        m("tmpfs", "/var/log", "tmpfs", nodev, Some("mode=0755"), false),
        m("tracefs", "/sys/kernel/tracing", "tracefs", nosuid, None, false),
        m("debugfs", "/sys/kernel/debug", "debugfs", nosuid, None, false),
        m("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid, None, false),
        m("bpf", "/sys/fs/bpf", "bpf", nosuid, None, false),
    ];
    for Mount { src, target, fstype, flags, data, required } in table {
        if !Path::new(target).is_dir() {
            if required {
                problems.push(format!("cannot mount {fstype} on {target}: no such directory in the root filesystem"));
            }
            continue;
        }
        match mount_fs(src, target, fstype, flags, data) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {}
            // Filesystems the kernel was built without: only a problem if required.
            Err(nix::errno::Errno::ENODEV) if !required => {}
            Err(e) => problems.push(format!("cannot mount {fstype} on {target}: {e}")),
        }
    }
    for dir in ["/run/netns", "/run/lab", "/run/lock"] {
        if let Err(e) = std::fs::create_dir_all(dir) {
            problems.push(format!("cannot create {dir}: {e}"));
        }
    }
    problems
}

/// One entry of the guest's mount table.
struct Mount {
    src: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
    /// Whether the run cannot work without it (reported when it fails).
    required: bool,
}

fn mount_fs(src: &str, target: &str, fstype: &str, flags: MsFlags, data: Option<&str>) -> nix::Result<()> {
    mount(Some(src), target, Some(fstype), flags, data)
}

/// Run mode: the engine, its events on the channel, then the host's ack.
fn run_mode(args: &GuestArgs, text: Result<String, GuestError>, problems: &[String]) {
    let mut channel = match GuestChannel::open() {
        Ok(c) => c,
        Err(e) => {
            say(&format!("cannot open the agent channel: {e}"));
            return;
        }
    };
    let (sink, mut rx) = EventSink::channel();
    // The writer thread owns the port; it ends when every sink is dropped.
    let writer = std::thread::Builder::new().name("agent-channel".into()).spawn(move || {
        let mut broken = false;
        while let Some(ev) = rx.blocking_recv() {
            if !broken {
                if let Err(e) = channel.send(&ev) {
                    say(&format!("writing to the agent channel failed: {e}"));
                    broken = true;
                }
            }
        }
        channel
    });
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            say(&format!("cannot start the channel thread: {e}"));
            return;
        }
    };
    // First, for the host's boot phase table.
    sink.send(Event::GuestBoot { init_at_ms: INIT_AT_MS.get().copied().unwrap_or(0), agent_at_ms: boottime_ms() });
    for p in problems {
        sink.note(Level::Warn, format!("guest: {p}"));
    }
    let kmsg = super::kmsg_port::KmsgCopier::start()
        .map_err(|e| sink.note(Level::Warn, format!("guest: the whole kernel log is not kept (kmsg.log): {e}")))
        .ok();
    run_scenario(args, text, sink);
    let joined = writer.join();
    // Before the ack: once it comes the guest powers off, and the log's tail would be lost.
    if let Some(k) = kmsg {
        k.finish();
    }
    match joined {
        Ok(mut channel) => {
            if !channel.wait_ack(ACK_TIMEOUT) {
                say("the host did not acknowledge the verdict; powering off anyway");
            }
        }
        Err(_) => say("the channel thread panicked"),
    }
}

/// Loads the scenario and runs the engine; whatever fails ends in a `Verdict` event.
fn run_scenario(args: &GuestArgs, text: Result<String, GuestError>, sink: EventSink) {
    let ready = text.and_then(|text| {
        let scenario = crate::scenario::load_str(&text, &args.scenario)?;
        let variant = crate::scenario::Variant::resolve_on(&scenario, Some(&args.variant), args.kernel)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(GuestError::Runtime)?;
        Ok((scenario, variant, runtime))
    });
    let (scenario, variant, runtime) = match ready {
        Ok(r) => r,
        Err(e) => {
            say(&e.to_string());
            sink.send(Event::Verdict { outcome: Outcome::Error, summary: e.to_string(), notes: Vec::new() });
            return;
        }
    };
    let opts = RunOptions { backend: "vm".into(), leak_scan: true };
    // The host owns the deadline: it stops the whole VM, so the guest never cancels itself.
    runtime.block_on(engine::run(&scenario, &variant, &opts, sink, CancellationToken::new()));
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// Without a channel (bad command line), tries to tell the host anyway.
fn report_failure(msg: &str, problems: &[String]) {
    if let Ok(mut ch) = GuestChannel::open() {
        for p in problems {
            let _ = ch.send(&Event::Note { level: Level::Warn, message: p.clone() });
        }
        let _ = ch.send(&Event::Verdict { outcome: Outcome::Error, summary: msg.to_string(), notes: Vec::new() });
        ch.wait_ack(ACK_TIMEOUT);
    }
}

/// Shell mode: topology up, bash on the serial console, topology down.
fn shell_mode(args: &GuestArgs, text: Result<String, GuestError>, problems: &[String]) {
    for p in problems {
        say(p);
    }
    let scenario = text.and_then(|t| Ok(crate::scenario::load_str(&t, &args.scenario)?));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return say(&format!("cannot start the async runtime: {e}")),
    };
    let built = match &scenario {
        Ok(s) => runtime.block_on(build_topology(s)),
        Err(e) => {
            say(&format!("{e}\nlab-guest: no topology; here is a shell anyway"));
            None
        }
    };
    if let Some((_, topology)) = &built {
        say("topology up; network namespaces:");
        for n in topology.netns_names() {
            // The real name carries the run id: `<run id>-<name>` under /run/netns.
            let real =
                topology.netns_path(&n).and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned())).unwrap_or_else(|| n.clone());
            say(&format!("  {n}: ip netns exec {real} bash"));
        }
    }
    say("exit the shell to power the VM off");
    if let Err(e) = interactive_shell(args) {
        say(&format!("cannot start a shell: {e}"));
    }
    if let Some((ledger, topology)) = built {
        let report = runtime.block_on(topology.teardown(&ledger));
        for p in &report.problems {
            say(&format!("teardown: {p}"));
        }
        ledger.finish();
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn build_topology(scenario: &crate::scenario::Scenario) -> Option<(crate::cleanup::Ledger, crate::topology::Topology)> {
    let run_id = engine::new_run_id();
    let ledger = match crate::cleanup::Ledger::create(&run_id) {
        Ok(l) => l,
        Err(e) => {
            say(&format!("cannot record the run under /run/lab: {e}"));
            return None;
        }
    };
    let plan = crate::topology::plan(&scenario.topology, &run_id);
    match crate::topology::Topology::apply(&plan, &ledger).await {
        Ok(t) => Some((ledger, t)),
        Err(e) => {
            say(&format!("building the topology failed: {e}"));
            None
        }
    }
}

/// Runs bash (or sh) as a session leader with ttyS0 as its controlling terminal.
fn interactive_shell(args: &GuestArgs) -> std::io::Result<()> {
    let tty_path = "/dev/ttyS0";
    let tty = std::fs::OpenOptions::new().read(true).write(true).open(tty_path)?;
    if let Some((cols, rows)) = args.winsize {
        let ws = nix::libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize struct we own.
        unsafe { nix::libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&tty), nix::libc::TIOCSWINSZ, &ws) };
    }
    let shell = ["/bin/bash", "/bin/sh"].into_iter().find(|s| Path::new(s).exists()).unwrap_or("/bin/sh");
    let mut cmd = std::process::Command::new(shell);
    if shell.ends_with("bash") {
        cmd.arg("--norc").arg("-i");
    }
    cmd.stdin(tty.try_clone()?).stdout(tty.try_clone()?).stderr(tty);
    cmd.env("TERM", args.term.as_deref().unwrap_or("linux"));
    cmd.env("PS1", "lab-guest:\\w# ");
    cmd.current_dir("/root");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status()?;
    say(&format!("shell exited ({status})"));
    Ok(())
}

/// Syncs and powers the VM off (QEMU exits); never returns.
fn power_off() -> ! {
    use nix::sys::reboot::{reboot, RebootMode};
    nix::unistd::sync();
    let e = reboot(RebootMode::RB_POWER_OFF).err();
    say(&format!("power off failed ({e:?}); rebooting, which ends QEMU under -no-reboot"));
    let _ = reboot(RebootMode::RB_AUTOBOOT);
    loop {
        // PID 1 must not exit: that would panic the kernel.
        nix::unistd::pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::qemu::{kernel_cmdline, GuestRequest};

    fn request(mode: GuestMode) -> GuestRequest {
        GuestRequest {
            mode,
            init: "/work/target/debug/lab".into(),
            scenario: "/work/main/scenarios/fnhe-leak.yaml".into(),
            variant: "fixed".into(),
            kernel: crate::scenario::KernelVersion::V6_1,
            term: None,
            winsize: None,
            extra: vec![],
        }
    }

    #[test]
    fn parses_what_the_host_writes() {
        let line = kernel_cmdline(&request(GuestMode::Run)).unwrap();
        let a = GuestArgs::parse(&line).unwrap();
        assert_eq!(
            a,
            GuestArgs {
                mode: GuestMode::Run,
                scenario: "/work/main/scenarios/fnhe-leak.yaml".into(),
                variant: "fixed".into(),
                kernel: Some(crate::scenario::KernelVersion::V6_1),
                term: None,
                winsize: None
            }
        );
        let mut r = request(GuestMode::Shell);
        r.term = Some("xterm".into());
        r.winsize = Some((200, 50));
        let a = GuestArgs::parse(&kernel_cmdline(&r).unwrap()).unwrap();
        assert_eq!((a.mode, a.term.as_deref(), a.winsize), (GuestMode::Shell, Some("xterm"), Some((200, 50))));
    }

    #[test]
    fn parses_proc_cmdline_as_the_kernel_shows_it() {
        // /proc/cmdline keeps quotes and ends with a newline; QEMU may prepend its own keys.
        let line = "BOOT_IMAGE=x console=ttyS0 lab.mode=run lab.scenario=\"/a b/s.yaml\" lab.variant=buggy -- __lab_guest\n";
        let a = GuestArgs::parse(line).unwrap();
        assert_eq!(a.scenario, PathBuf::from("/a b/s.yaml"));
        assert_eq!(a.variant, "buggy");
    }

    #[test]
    fn says_what_is_missing_or_wrong() {
        assert!(GuestArgs::parse("console=ttyS0").unwrap_err().to_string().contains("lab.mode missing"));
        assert!(GuestArgs::parse("lab.mode=fly").unwrap_err().to_string().contains("expected run or shell"));
        assert!(GuestArgs::parse("lab.mode=run lab.variant=x").unwrap_err().to_string().contains("lab.scenario missing"));
        assert!(GuestArgs::parse("lab.mode=run lab.scenario=/s lab.variant=").unwrap_err().to_string().contains("lab.variant missing"));
        assert!(GuestArgs::parse("lab.mode=shell lab.scenario=/s lab.variant=v lab.winsize=big")
            .unwrap_err()
            .to_string()
            .contains("<columns>x<rows>"));
    }

    #[test]
    fn a_test_process_is_never_the_guest() {
        assert!(!is_guest_invocation());
    }
}
