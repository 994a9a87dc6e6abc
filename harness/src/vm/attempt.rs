//! One QEMU launch of a run, in three phases: [`spawn`] (QEMU and its three readers),
//! [`Running::watch`] (until a verdict, a fault, a failed accelerator, a timeout, QEMU's
//! exit or Ctrl-C) and [`Running::shut_down`] (power-off or kill, drain the readers), which
//! hands back a [`Watched`] for [`super::conclude`] to turn into a report.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::accel::signs::{self, AccelFailure};
use super::artifacts::RunDir;
use super::channel::{ChannelError, HostChannel};
use super::conclude::{End, GuestVerdict, Watched};
use super::console::{self, FaultReport, Tail};
use super::error::VmError;
use super::prepare::Prepared;
use super::qemu::{self, Accel, Console, QemuConfig};
use super::unexpected::FaultRules;
use crate::event::{BootPhases, Event, EventSink};

/// Lines of console put in a hang or exit report.
const REPORT_LINES: usize = 40;
/// Lines of QEMU's stderr kept for reports (a KVM register dump is about 30).
const STDERR_LINES: usize = 200;
/// After the verdict, how long the guest may take to power off before QEMU is killed.
const POWER_OFF_GRACE: Duration = Duration::from_secs(10);
/// After QEMU exits, how long to wait for the console and channel readers to drain.
const DRAIN: Duration = Duration::from_secs(2);

/// What a run's watch needs beyond the launch itself.
pub struct WatchRules<'a> {
    pub events: &'a EventSink,
    pub boot_timeout: Duration,
    /// Agent's first event to verdict.
    pub deadline: Duration,
    /// The scenario's signature, its tolerated kinds (`kernel.tolerate`) and `faults:` policy.
    pub faults: &'a FaultRules,
}

/// A QEMU process and the readers of its console, stderr and agent channel.
pub struct Running {
    accel: Accel,
    child: Child,
    spawned: Instant,
    faults: UnboundedReceiver<FaultReport>,
    stderr_lines: UnboundedReceiver<String>,
    guest: UnboundedReceiver<Result<Event, ChannelError>>,
    readers: Vec<JoinHandle<()>>,
    tail: Tail,
    stderr: Arc<Mutex<Vec<String>>>,
    socket: PathBuf,
    _socket_dir: Option<tempfile::TempDir>,
}

/// Starts QEMU for `prepared` under `accel`, its console to `console.log`, the guest's whole
/// kernel log to `kmsg.log` (written by QEMU itself) and its stderr to `qemu.log` in `dir`.
pub async fn spawn(prepared: &Prepared, accel: Accel, qemu_binary: &std::path::Path, dir: &RunDir) -> Result<Running, VmError> {
    let (socket, socket_dir) = socket_path(dir).map_err(VmError::Socket)?;
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(|source| VmError::Listen { path: socket.clone(), source })?;
    let cfg = QemuConfig {
        binary: qemu_binary.to_path_buf(),
        accel,
        machine: prepared.machine.machine,
        cpus: prepared.cpus,
        memory_mib: prepared.memory_mib,
        kernel: prepared.machine.kernel.clone(),
        append: prepared.append.clone(),
        agent_socket: Some(socket.clone()),
        console: Console::Captured,
    };
    let mut args = qemu::args(&cfg);
    args.extend(qemu::kmsg_args(&dir.file("kmsg.log")));
    let log_path = dir.file("qemu.log");
    let mut qemu_log = tokio::fs::File::create(&log_path).await.map_err(|source| VmError::Write { path: log_path, source })?;
    let _ = qemu_log.write_all(format!("# {} {}\n", cfg.binary.display(), shell_words(&args)).as_bytes()).await;

    let mut cmd = Command::new(&cfg.binary);
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    crate::process::guard_child(&mut cmd);
    let spawned = Instant::now();
    let mut child = cmd.spawn().map_err(|source| VmError::Spawn { binary: cfg.binary.clone(), source })?;

    let tail = Tail::default();
    let (fault_tx, faults) = mpsc::unbounded_channel();
    let console = {
        let (stdout, log, tail) = (child.stdout.take().expect("piped"), dir.file("console.log"), tail.clone());
        tokio::spawn(async move {
            let _ = console::watch(stdout, &log, tail, fault_tx).await;
        })
    };
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (line_tx, stderr_lines) = mpsc::unbounded_channel();
    let stderr_reader = tokio::spawn(read_stderr(child.stderr.take().expect("piped"), qemu_log, stderr.clone(), line_tx));
    let (guest_tx, guest) = mpsc::unbounded_channel();
    let channel = tokio::spawn(read_agent(listener, guest_tx));
    Ok(Running {
        accel,
        child,
        spawned,
        faults,
        stderr_lines,
        guest,
        readers: vec![console, stderr_reader, channel],
        tail,
        stderr,
        socket,
        _socket_dir: socket_dir,
    })
}

/// QEMU's own messages: to `qemu.log`, kept for the report, and passed on line by line so
/// the watch sees a failing accelerator the moment QEMU says so.
async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    mut log: tokio::fs::File,
    kept: Arc<Mutex<Vec<String>>>,
    lines_out: mpsc::UnboundedSender<String>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        let _ = log.write_all(format!("{l}\n").as_bytes()).await;
        {
            let mut k = kept.lock().unwrap();
            if k.len() < STDERR_LINES {
                k.push(l.clone());
            }
        }
        let _ = lines_out.send(l);
    }
    let _ = log.flush().await;
}

/// The agent channel: QEMU connects at start; the reader acks the verdict itself.
async fn read_agent(listener: UnixListener, out: mpsc::UnboundedSender<Result<Event, ChannelError>>) {
    let Ok((stream, _)) = listener.accept().await else { return };
    let mut ch = HostChannel::new(stream);
    while let Some(item) = ch.next().await {
        let is_verdict = matches!(item, Ok(Event::Verdict { .. }));
        if out.send(item).is_err() {
            return;
        }
        if is_verdict {
            let _ = ch.ack().await;
        }
    }
}

/// The watch's state: what the guest said so far.
struct Watch<'a> {
    rules: &'a WatchRules<'a>,
    spawned: Instant,
    timer: tokio::time::Instant,
    seen: Seen,
}

impl Watch<'_> {
    fn fatal(&self, f: &FaultReport) -> bool {
        f.fatal && !self.rules.faults.tolerates(f)
    }

    fn on_fault(&mut self, f: FaultReport) -> Option<End> {
        self.rules.events.send(f.event());
        self.seen.faults.push(f.clone());
        if self.fatal(&f) {
            return Some(End::Fault(f));
        }
        self.seen.notes.push(format!("{}: {} (see console.log)", console::describe(f.fault), f.name()));
        None
    }

    fn on_guest(&mut self, item: Result<Event, ChannelError>) -> Option<End> {
        if !self.seen.agent_up {
            self.seen.agent_up = true;
            self.rules.events.send(Event::VmAgentUp { boot_ms: self.spawned.elapsed().as_millis() as u64 });
            self.timer = tokio::time::Instant::now() + self.rules.deadline;
        }
        match item {
            Ok(Event::Verdict { outcome, summary, notes }) => {
                self.seen.verdict = Some(GuestVerdict { outcome, summary, notes });
                return Some(End::Verdict);
            }
            Ok(Event::GuestBoot { init_at_ms, agent_at_ms }) => {
                self.seen.guest_boot = Some((init_at_ms, agent_at_ms, self.spawned.elapsed().as_millis() as u64));
            }
            Ok(ev) => {
                if let (Event::RunStarted { .. }, Some((init, agent, agent_seen)), None) = (&ev, self.seen.guest_boot, self.seen.boot) {
                    let phases = BootPhases::from_clocks(init, agent, agent_seen, self.spawned.elapsed().as_millis() as u64);
                    self.seen.boot = Some(phases);
                    self.rules.events.send(Event::VmBootPhases(phases));
                }
                self.seen.last_event = Some(event_name(&ev));
                self.rules.events.send(ev);
            }
            Err(e) => self.rules.events.note(crate::event::Level::Warn, format!("unreadable line from the guest agent: {e}")),
        }
        None
    }

    fn on_stderr(&mut self, line: &str) -> Option<End> {
        signs::accel_failure(line)
            .map(|what| End::AccelFailed(AccelFailure { summary: signs::describe(what, line), lines: vec![line.into()] }))
    }

    fn on_timer(&self) -> End {
        if self.seen.agent_up {
            End::Deadline
        } else {
            End::BootTimeout
        }
    }
}

impl Running {
    /// Watches until the run ends one way or another; QEMU may still be running after.
    pub async fn watch(&mut self, rules: &WatchRules<'_>, stop: &CancellationToken) -> (End, Seen) {
        let mut w = Watch {
            rules,
            spawned: self.spawned,
            timer: tokio::time::Instant::from_std(self.spawned + rules.boot_timeout),
            seen: Seen::default(),
        };
        let (mut faults_open, mut guest_open, mut stderr_open) = (true, true, true);
        let end = loop {
            let ended = tokio::select! {
                _ = stop.cancelled() => Some(End::Interrupted),
                f = self.faults.recv(), if faults_open => match f {
                    None => { faults_open = false; None }
                    Some(f) => w.on_fault(f),
                },
                l = self.stderr_lines.recv(), if stderr_open => match l {
                    None => { stderr_open = false; None }
                    Some(l) => w.on_stderr(&l),
                },
                item = self.guest.recv(), if guest_open => match item {
                    None => { guest_open = false; None }
                    Some(item) => w.on_guest(item),
                },
                status = self.child.wait() => Some(match status {
                    Ok(s) => End::Exited(s),
                    Err(e) => { w.seen.notes.push(format!("waiting for QEMU failed: {e}")); End::Exited(ExitStatus::default()) }
                }),
                _ = tokio::time::sleep_until(w.timer) => Some(w.on_timer()),
            };
            if let Some(end) = ended {
                break end;
            }
        };
        (end, w.seen)
    }

    /// Lets the guest power off after a verdict (or kills QEMU), drains the readers, and
    /// gathers what was watched for [`super::conclude::conclude`].
    pub async fn shut_down(mut self, end: End, seen: Seen, rules: &WatchRules<'_>) -> Watched {
        let mut notes = seen.notes;
        let exit_status = match &end {
            End::Exited(s) => Some(*s),
            End::Verdict => match tokio::time::timeout(POWER_OFF_GRACE, self.child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    notes.push(format!(
                        "the guest did not power off within {} s of its verdict; QEMU was killed",
                        POWER_OFF_GRACE.as_secs()
                    ));
                    kill(&mut self.child).await
                }
            },
            _ => kill(&mut self.child).await,
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(DRAIN, reader).await;
        }
        let _ = std::fs::remove_file(&self.socket);
        let mut verdict = seen.verdict;
        // A verdict may have arrived together with QEMU's exit.
        while let Ok(item) = self.guest.try_recv() {
            match item {
                Ok(Event::Verdict { outcome, summary, notes }) if verdict.is_none() => {
                    verdict = Some(GuestVerdict { outcome, summary, notes })
                }
                Ok(ev) => rules.events.send(ev),
                Err(_) => {}
            }
        }
        let late_faults = std::iter::from_fn(|| self.faults.try_recv().ok()).collect();
        let stderr = self.stderr.lock().unwrap().clone();
        let end = match end {
            // QEMU's register dump follows its first line: report the whole failure.
            End::AccelFailed(f) => End::AccelFailed(signs::first_failure(&stderr, 40).unwrap_or(f)),
            other => other,
        };
        let mut console_tail = self.tail.last(REPORT_LINES);
        console_tail.extend(stderr.iter().map(|s| format!("qemu: {s}")));
        Watched {
            accel: self.accel,
            end,
            agent_up: seen.agent_up,
            last_event: seen.last_event,
            verdict,
            faults: seen.faults,
            late_faults,
            fault_rules: rules.faults.clone(),
            notes,
            exit_status,
            boot_timeout: rules.boot_timeout,
            deadline: rules.deadline,
            console_tail,
            stderr,
            boot: seen.boot,
        }
    }
}

/// What the guest said during the watch, handed to [`Running::shut_down`].
#[derive(Default)]
pub struct Seen {
    agent_up: bool,
    /// The guest's `GuestBoot` (init and agent times on its clock) and when it arrived (ms
    /// since QEMU's start).
    guest_boot: Option<(u64, u64, u64)>,
    boot: Option<BootPhases>,
    last_event: Option<String>,
    verdict: Option<GuestVerdict>,
    notes: Vec<String>,
    faults: Vec<FaultReport>,
}

async fn kill(child: &mut Child) -> Option<ExitStatus> {
    let _ = child.start_kill();
    child.wait().await.ok()
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
pub fn shell_words(args: &[String]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_command_lines_are_quoted_for_a_shell() {
        let a = vec!["-append".to_string(), "console=ttyS0 panic=-1".into(), "it's".into()];
        assert_eq!(shell_words(&a), "-append 'console=ttyS0 panic=-1' 'it'\\''s'");
    }
}
