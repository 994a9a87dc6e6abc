//! The host side of a VM run: get the kernel, boot it under QEMU with `lab` as the guest's
//! init, forward the guest's events, watch the console, and end the run however it ends —
//! verdict, kernel fault, hang, QEMU gone, or Ctrl-C — with nothing left running.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::artifacts::{runs_root, RunDir};
use super::channel::HostChannel;
use super::console::{self, FaultReport, Tail};
use super::kernel::{self, BuildProgress};
use super::kvm;
use super::qemu::{self, Accel, Console, GuestMode, GuestRequest, QemuConfig};
use crate::engine::RunReport;
use crate::event::{Event, EventSink, GuestFault, Level, Outcome};
use crate::scenario::{Loaded, Variant};

/// Lines of console put in a hang or exit report.
const REPORT_LINES: usize = 40;
/// After the verdict, how long the guest may take to power off before QEMU is killed.
const POWER_OFF_GRACE: Duration = Duration::from_secs(10);
/// After QEMU exits, how long to wait for the console and channel readers to drain.
const DRAIN: Duration = Duration::from_secs(2);

/// How to run the VM. `Default` is what `lab run` uses without flags.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Boot this bzImage instead of building the variant's kernel (`--kernel`).
    pub kernel: Option<PathBuf>,
    /// The `lab` binary the guest runs as init; default: this executable.
    pub lab_binary: Option<PathBuf>,
    /// `qemu-system-x86_64` or a path.
    pub qemu: PathBuf,
    /// Force an accelerator instead of probing (`--accel`, `$LAB_ACCEL`).
    pub accel: Option<Accel>,
    /// QEMU start to the agent's first event; default 60 s under TCG, 20 s under KVM.
    pub boot_timeout: Option<Duration>,
    /// Agent's first event to verdict; default the scenario's `deadline`.
    pub deadline: Option<Duration>,
    /// Parent of the run directory; default `$LAB_RUNS`, else `<cache>/runs`.
    pub runs_dir: Option<PathBuf>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            kernel: None,
            lab_binary: None,
            qemu: PathBuf::from("qemu-system-x86_64"),
            accel: std::env::var("LAB_ACCEL").ok().and_then(|a| a.parse().ok()),
            boot_timeout: None,
            deadline: None,
            runs_dir: None,
        }
    }
}

impl VmOptions {
    fn boot_timeout(&self, accel: Accel) -> Duration {
        self.boot_timeout.unwrap_or(match accel {
            Accel::Kvm => Duration::from_secs(20),
            Accel::Tcg => Duration::from_secs(60),
        })
    }
}

/// Makes a child die with `lab`: killed when its handle is dropped, and SIGKILLed by the
/// kernel if `lab` itself dies (even by SIGKILL), so no QEMU outlives a run.
///
/// Spawn from a thread that lives as long as the child (the runtime's worker or main
/// thread, never `spawn_blocking`): the parent-death signal follows the spawning thread.
pub fn guard_child(cmd: &mut Command) {
    cmd.kill_on_drop(true);
    let parent = std::process::id() as i32;
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if nix::libc::getppid() != parent {
                nix::libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// A kernel to boot and what it was built from.
struct KernelChoice {
    bzimage: PathBuf,
    config: Option<PathBuf>,
    patches: Vec<PathBuf>,
}

async fn get_kernel(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    dir: &RunDir,
    events: &EventSink,
    stop: &CancellationToken,
) -> Result<KernelChoice, String> {
    let t0 = Instant::now();
    if let Some(bz) = &opts.kernel {
        if !bz.is_file() {
            return Err(format!("--kernel {}: no such file", bz.display()));
        }
        if !variant.patches.is_empty() {
            events.note(
                Level::Warn,
                format!("--kernel: booting {} as it is; variant `{}`'s patches are not applied by lab", bz.display(), variant.name),
            );
        }
        events.send(Event::KernelReady {
            key: format!("--kernel {}", bz.display()),
            bzimage: bz.display().to_string(),
            built: false,
            took_ms: 0,
        });
        return Ok(KernelChoice { bzimage: bz.clone(), config: config_near(bz), patches: Vec::new() });
    }
    let req = kernel::request_for(loaded, variant);
    let missing = kernel::missing_files(&req);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        return Err(format!("variant `{}` needs files that do not exist: {}", variant.name, list.join(", ")));
    }
    let progress_events = events.clone();
    let blocking_req = req.clone();
    // A plain thread, not spawn_blocking: on Ctrl-C the run returns at once, and the
    // runtime's shutdown does not wait for a build nobody wants any more.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kernel-build".into())
        .spawn(move || {
            // One event per phase and per percent compiled, not one per object file.
            let last_percent = std::sync::atomic::AtomicU8::new(u8::MAX);
            let progress = move |p: BuildProgress| match p {
                BuildProgress::Phase(phase) => progress_events.send(Event::KernelProgress { phase, percent: None }),
                BuildProgress::Compiled { done, estimate } => {
                    let percent = (done * 100 / estimate.max(1)).min(99) as u8;
                    if last_percent.swap(percent, std::sync::atomic::Ordering::Relaxed) != percent {
                        progress_events.send(Event::KernelProgress { phase: "compiling".into(), percent: Some(percent) });
                    }
                }
            };
            let _ = tx.send(kernel::ensure_built(&blocking_req, &progress));
        })
        .map_err(|e| format!("cannot start the kernel build thread: {e}"))?;
    let built = tokio::select! {
        b = rx => b.map_err(|_| "the kernel build thread died".to_string())?.map_err(|e| format!("kernel build failed: {e}"))?,
        _ = stop.cancelled() => return Err("interrupted during the kernel build".into()),
    };
    let _ = std::os::unix::fs::symlink(&built.log, dir.file("kernel-build.log"));
    events.send(Event::KernelReady {
        key: built.key.clone(),
        bzimage: built.bzimage.display().to_string(),
        built: built.built,
        took_ms: t0.elapsed().as_millis() as u64,
    });
    Ok(KernelChoice { bzimage: built.bzimage, config: Some(built.config), patches: req.patches })
}

/// The `.config` of a kernel given with `--kernel`: next to it, or at the top of the build
/// tree it sits in (`arch/x86/boot/bzImage`).
fn config_near(bz: &Path) -> Option<PathBuf> {
    let dir = bz.parent()?;
    [dir.join(".config"), dir.join("config"), dir.join("../../../.config")].into_iter().find(|p| p.is_file())
}

/// A socket path that fits in `sockaddr_un` (107 bytes): in the run dir if short enough.
fn socket_path(dir: &RunDir) -> std::io::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let p = dir.file("agent.sock");
    if p.as_os_str().len() < 100 {
        return Ok((p, None));
    }
    let tmp = tempfile::Builder::new().prefix("lab-vm-").tempdir()?;
    Ok((tmp.path().join("agent.sock"), Some(tmp)))
}

fn lab_binary(opts: &VmOptions) -> Result<PathBuf, String> {
    let p = match &opts.lab_binary {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| format!("cannot find the lab binary for the guest: {e}"))?,
    };
    std::fs::canonicalize(&p).map_err(|e| format!("the lab binary for the guest, {}: {e}", p.display()))
}

/// Runs `loaded` as `variant` in a VM. Every event goes to `events` (and `events.jsonl`);
/// the last two are `Artifacts` and `Verdict`.
pub async fn run(loaded: &Loaded, variant: &Variant, opts: &VmOptions, events: EventSink, stop: CancellationToken) -> RunReport {
    let root = opts.runs_dir.clone().unwrap_or_else(runs_root);
    let dir = match RunDir::create(&root, &loaded.scenario.name, &variant.name) {
        Ok(d) => d,
        Err(e) => return finish_without_dir(&events, format!("cannot create the run directory: {e}")),
    };
    let (sink, recorder) = match dir.record(events.clone()) {
        Ok(r) => r,
        Err(e) => return finish_without_dir(&events, format!("cannot write {}: {e}", dir.file("events.jsonl").display())),
    };
    let report = match boot_and_watch(loaded, variant, opts, &sink, &dir, stop).await {
        Ok(r) => r,
        Err(e) => RunReport::error(e),
    };
    let verdict = Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: report.notes.clone() };
    if let Err(e) = dir.save_verdict(&verdict) {
        sink.note(Level::Warn, format!("cannot write verdict.json: {e}"));
    }
    sink.send(Event::Artifacts { dir: dir.path.display().to_string() });
    sink.send(verdict);
    drop(sink);
    recorder.finish().await;
    report
}

fn finish_without_dir(events: &EventSink, msg: String) -> RunReport {
    let report = RunReport::error(msg);
    events.send(Event::Verdict { outcome: report.outcome, summary: report.summary.clone(), notes: vec![] });
    report
}

/// How the watch loop ended.
enum End {
    Verdict,
    Fault(FaultReport),
    BootTimeout,
    Deadline,
    Exited(std::process::ExitStatus),
    Interrupted,
}

async fn boot_and_watch(
    loaded: &Loaded,
    variant: &Variant,
    opts: &VmOptions,
    events: &EventSink,
    dir: &RunDir,
    stop: CancellationToken,
) -> Result<RunReport, String> {
    let kernel = get_kernel(loaded, variant, opts, dir, events, &stop).await?;
    let _ = dir.save_config(kernel.config.as_deref());
    let _ = dir.save_patches(&kernel.patches);
    if stop.is_cancelled() {
        return Ok(RunReport::error("interrupted"));
    }
    let choice = kvm::choose(&opts.qemu, opts.accel).await;
    events.send(Event::VmStarting { accel: choice.accel.to_string(), reason: choice.reason.clone() });

    let scenario_path = std::fs::canonicalize(&loaded.path).map_err(|e| format!("{}: {e}", loaded.path.display()))?;
    let append = qemu::kernel_cmdline(&GuestRequest {
        mode: GuestMode::Run,
        init: lab_binary(opts)?,
        scenario: scenario_path,
        variant: variant.name.clone(),
        term: None,
        winsize: None,
        extra: loaded.scenario.kernel.cmdline.clone(),
    })
    .map_err(|e| e.to_string())?;
    let (sock, _sock_dir) = socket_path(dir).map_err(|e| format!("cannot make the agent socket: {e}"))?;
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
    let cfg = QemuConfig {
        binary: opts.qemu.clone(),
        accel: choice.accel,
        cpus: loaded.scenario.kernel.cpus,
        memory_mib: loaded.scenario.kernel.memory_mib,
        kernel: kernel.bzimage.clone(),
        append,
        agent_socket: Some(sock.clone()),
        console: Console::Captured,
    };
    let args = qemu::args(&cfg);
    let mut qemu_log = tokio::fs::File::create(dir.file("qemu.log")).await.map_err(|e| format!("cannot write qemu.log: {e}"))?;
    let _ = qemu_log.write_all(format!("# {} {}\n", cfg.binary.display(), shell_words(&args)).as_bytes()).await;

    let mut cmd = Command::new(&cfg.binary);
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    guard_child(&mut cmd);
    let spawned = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e} (Debian: apt install qemu-system-x86)", cfg.binary.display()))?;

    // Console: to console.log, classified, tail kept.
    let tail = Tail::default();
    let (fault_tx, mut faults) = mpsc::unbounded_channel();
    let console_task = {
        let stdout = child.stdout.take().expect("piped");
        let (log, tail) = (dir.file("console.log"), tail.clone());
        tokio::spawn(async move { console::watch(stdout, &log, tail, fault_tx).await })
    };
    // QEMU's own messages: to qemu.log, and kept for the report.
    let stderr_text = Arc::new(Mutex::new(String::new()));
    let stderr_task = {
        let stderr = child.stderr.take().expect("piped");
        let text = stderr_text.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = qemu_log.write_all(format!("{l}\n").as_bytes()).await;
                let mut t = text.lock().unwrap();
                if t.len() < 16 * 1024 {
                    t.push_str(&l);
                    t.push('\n');
                }
            }
            let _ = qemu_log.flush().await;
        })
    };
    // Agent channel: QEMU connects at start; the reader acks the verdict itself.
    let (guest_tx, mut guest_rx) = mpsc::unbounded_channel::<Result<Event, String>>();
    let channel_task = tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else { return };
        let mut ch = HostChannel::new(stream);
        while let Some(item) = ch.next().await {
            let is_verdict = matches!(item, Ok(Event::Verdict { .. }));
            if guest_tx.send(item).is_err() {
                return;
            }
            if is_verdict {
                let _ = ch.ack().await;
            }
        }
    });

    // A scenario may declare reports its own debug patches cause (a busy-wait's soft lockup).
    let tolerated = &loaded.scenario.kernel.tolerate;
    let fatal = |f: &console::FaultReport| f.fatal && !tolerated.contains(&f.fault);
    let boot_timeout = opts.boot_timeout(choice.accel);
    let deadline = opts.deadline.unwrap_or(loaded.scenario.deadline);
    let mut timer = tokio::time::Instant::from_std(spawned + boot_timeout);
    let mut agent_up = false;
    let mut last_event: Option<String> = None;
    let mut guest_verdict: Option<(Outcome, String, Vec<String>)> = None;
    let mut host_notes: Vec<String> = Vec::new();
    let (mut faults_open, mut guest_open) = (true, true);
    let end = loop {
        tokio::select! {
            _ = stop.cancelled() => break End::Interrupted,
            f = faults.recv(), if faults_open => match f {
                None => faults_open = false,
                Some(f) => {
                    events.send(Event::GuestFault { fault: f.fault, message: f.message.clone(), lines: f.lines.clone() });
                    if fatal(&f) {
                        break End::Fault(f);
                    }
                    host_notes.push(format!("{}: {} (see console.log)", console::describe(f.fault), f.message));
                }
            },
            item = guest_rx.recv(), if guest_open => match item {
                None => guest_open = false,
                Some(item) => {
                    if !agent_up {
                        agent_up = true;
                        events.send(Event::VmAgentUp { boot_ms: spawned.elapsed().as_millis() as u64 });
                        timer = tokio::time::Instant::now() + deadline;
                    }
                    match item {
                        Ok(Event::Verdict { outcome, summary, notes }) => {
                            guest_verdict = Some((outcome, summary, notes));
                            break End::Verdict;
                        }
                        Ok(ev) => {
                            last_event = Some(event_name(&ev));
                            events.send(ev);
                        }
                        Err(line) => events.note(Level::Warn, format!("unreadable line from the guest agent: {line}")),
                    }
                }
            },
            status = child.wait() => break match status {
                Ok(s) => End::Exited(s),
                Err(e) => { host_notes.push(format!("waiting for QEMU failed: {e}")); End::Exited(std::process::ExitStatus::default()) }
            },
            _ = tokio::time::sleep_until(timer) => break if agent_up { End::Deadline } else { End::BootTimeout },
        }
    };

    // Stop QEMU (or let it power off after a verdict), then drain the readers.
    let exit_status = match &end {
        End::Exited(s) => Some(*s),
        End::Verdict => match tokio::time::timeout(POWER_OFF_GRACE, child.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                host_notes
                    .push(format!("the guest did not power off within {} s of its verdict; QEMU was killed", POWER_OFF_GRACE.as_secs()));
                kill(&mut child).await
            }
        },
        _ => kill(&mut child).await,
    };
    let _ = tokio::time::timeout(DRAIN, console_task).await;
    let _ = tokio::time::timeout(DRAIN, stderr_task).await;
    let _ = tokio::time::timeout(DRAIN, channel_task).await;
    let _ = std::fs::remove_file(&sock);
    // A verdict may have arrived together with QEMU's exit.
    while let Ok(item) = guest_rx.try_recv() {
        match item {
            Ok(Event::Verdict { outcome, summary, notes }) if guest_verdict.is_none() => guest_verdict = Some((outcome, summary, notes)),
            Ok(ev) => events.send(ev),
            Err(_) => {}
        }
    }
    // Faults seen while QEMU went down (a panic is why it exited).
    let mut late_fatal = None;
    while let Ok(f) = faults.try_recv() {
        events.send(Event::GuestFault { fault: f.fault, message: f.message.clone(), lines: f.lines.clone() });
        if fatal(&f) && late_fatal.is_none() {
            late_fatal = Some(f);
        } else if !fatal(&f) {
            host_notes.push(format!("{}: {} (see console.log)", console::describe(f.fault), f.message));
        }
    }
    let stderr_text = stderr_text.lock().unwrap().clone();

    let console_lines = |n| {
        let mut l = tail.last(n);
        l.extend(stderr_text.lines().map(|s| format!("qemu: {s}")));
        l
    };
    let report = match end {
        End::Interrupted => RunReport::error("interrupted; QEMU was stopped"),
        End::Fault(f) => fault_report(&f),
        _ if late_fatal.is_some() && guest_verdict.is_none() => fault_report(late_fatal.as_ref().unwrap()),
        End::Verdict | End::Exited(_) if guest_verdict.is_some() => {
            let (outcome, summary, mut notes) = guest_verdict.unwrap();
            if let Some(f) = &late_fatal {
                notes.push(format!("after its verdict, {}: {}", console::describe(f.fault), f.message));
            }
            RunReport { outcome, summary, notes }
        }
        End::Exited(status) => {
            let message = format!(
                "QEMU exited ({}) before the guest reported a verdict{}",
                describe_status(exit_status.unwrap_or(status)),
                if agent_up { String::new() } else { "; the guest agent never started".into() }
            );
            events.send(Event::GuestFault { fault: GuestFault::Exited, message: message.clone(), lines: console_lines(REPORT_LINES) });
            RunReport::error(message)
        }
        End::BootTimeout => {
            let message = format!(
                "the guest agent sent nothing within {} s of QEMU starting ({} boot); QEMU was stopped",
                boot_timeout.as_secs(),
                choice.accel
            );
            events.send(Event::GuestFault { fault: GuestFault::Hang, message: message.clone(), lines: console_lines(REPORT_LINES) });
            RunReport::error(message)
        }
        End::Deadline => {
            let message = format!(
                "no verdict from the guest within the scenario deadline of {}{}; QEMU was stopped",
                humantime::format_duration(deadline),
                last_event.map(|e| format!(" (its last event: {e})")).unwrap_or_default()
            );
            events.send(Event::GuestFault { fault: GuestFault::Hang, message: message.clone(), lines: console_lines(REPORT_LINES) });
            RunReport::error(message)
        }
        End::Verdict => unreachable!("a verdict end always has the verdict"),
    };
    Ok(RunReport { notes: [report.notes, host_notes].concat(), ..report })
}

fn fault_report(f: &FaultReport) -> RunReport {
    RunReport::error(format!("{}: {}", console::describe(f.fault), f.message))
}

async fn kill(child: &mut Child) -> Option<std::process::ExitStatus> {
    let _ = child.start_kill();
    child.wait().await.ok()
}

fn describe_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// The serde tag of an event (`step_finished`), for messages.
fn event_name(ev: &Event) -> String {
    let v = serde_json::to_value(ev).unwrap_or_default();
    match (v["event"].as_str(), v["step"].as_str()) {
        (Some(e), Some(step)) => format!("{e} of step {step}"),
        (Some(e), None) => e.to_string(),
        _ => "?".into(),
    }
}

/// Arguments quoted for a shell, for the command line recorded in `qemu.log`.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,./:+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `lab shell`: boots the scenario's kernel with its topology built and hands the guest's
/// console to the user's terminal (Ctrl-A X quits QEMU; `exit` powers the guest off).
pub async fn shell(loaded: &Loaded, variant: &Variant, opts: &VmOptions, events: EventSink, stop: CancellationToken) -> Result<(), String> {
    let root = opts.runs_dir.clone().unwrap_or_else(runs_root);
    let dir = RunDir::create(&root, &loaded.scenario.name, &format!("{}-shell", variant.name))
        .map_err(|e| format!("cannot create the run directory: {e}"))?;
    let kernel = get_kernel(loaded, variant, opts, &dir, &events, &stop).await?;
    let choice = kvm::choose(&opts.qemu, opts.accel).await;
    events.send(Event::VmStarting { accel: choice.accel.to_string(), reason: choice.reason.clone() });
    let append = qemu::kernel_cmdline(&GuestRequest {
        mode: GuestMode::Shell,
        init: lab_binary(opts)?,
        scenario: std::fs::canonicalize(&loaded.path).map_err(|e| format!("{}: {e}", loaded.path.display()))?,
        variant: variant.name.clone(),
        term: std::env::var("TERM").ok().filter(|t| !t.is_empty() && !t.contains(char::is_whitespace)),
        winsize: terminal_size(),
        extra: loaded.scenario.kernel.cmdline.clone(),
    })
    .map_err(|e| e.to_string())?;
    let cfg = QemuConfig {
        binary: opts.qemu.clone(),
        accel: choice.accel,
        cpus: loaded.scenario.kernel.cpus,
        memory_mib: loaded.scenario.kernel.memory_mib,
        kernel: kernel.bzimage,
        append,
        agent_socket: None,
        console: Console::Interactive,
    };
    let mut cmd = Command::new(&cfg.binary);
    cmd.args(qemu::args(&cfg)).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    guard_child(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", cfg.binary.display()))?;
    tokio::select! {
        s = child.wait() => match s {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("QEMU ended with {}", describe_status(s))),
            Err(e) => Err(format!("waiting for QEMU: {e}")),
        },
        _ = stop.cancelled() => {
            kill(&mut child).await;
            Err("interrupted; QEMU was stopped".into())
        }
    }
}

/// Columns and rows of the terminal on stdin, if it is one.
fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own.
    let r = unsafe { nix::libc::ioctl(0, nix::libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_command_lines_are_quoted_for_a_shell() {
        let a = vec!["-append".to_string(), "console=ttyS0 panic=-1".into(), "it's".into()];
        assert_eq!(shell_words(&a), "-append 'console=ttyS0 panic=-1' 'it'\\''s'");
    }
}
