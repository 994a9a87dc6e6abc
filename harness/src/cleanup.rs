//! One place that records what a run changes on the machine and removes it again.
//!
//! Every run writes a ledger, `/run/lab/runs/<run_id>.json`: its pid (and the pid's start
//! time, so a recycled pid is not taken for the run), the namespaces it created, the global
//! sysctls it changed with their original values, the tracefs kprobes it defined (with
//! their trace instances) and its scratch directory for mounts (FUSE mounts, bind mounts),
//! everything mounted under which is detached at the end. The file is rewritten atomically
//! on every change, and a change is recorded *before* it is made, so a run killed at any
//! point leaves a ledger that covers everything it did. Teardown removes the file;
//! `lab clean` ([`clean`]) undoes what dead runs' ledgers list.
//!
//! Everything a run creates is also tagged: namespace names start with the run id
//! (`lab3fa9c1-cli`) and interfaces carry it as their alias, so leftovers are recognisable
//! even without a ledger.
//!
//! Below the topology: it records what the topology creates and undoes it with the plain
//! kernel interfaces of [`crate::sys`], never through the topology.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::sys::{netns, sysctl, tracefs};

/// Where ledgers are kept.
pub const RUNS_DIR: &str = "/run/lab/runs";

/// Where container bundles and runtime state go, one directory per step named
/// `<run id>-<step>`: tagged like namespaces, so `lab clean` finds what a killed run left.
pub const CONTAINERS_DIR: &str = "/run/lab/containers";

/// Where a run's mounts go: `<run id>-fs` is its scratch directory (FUSE mountpoints, images,
/// source directories, pod volume paths), tagged so `lab clean` finds what a killed run left.
pub const MOUNTS_DIR: &str = "/run/lab/mounts";

/// Why a ledger could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Not the shape of a run id: it becomes a file name.
    #[error("`{0}` is not a run id")]
    BadRunId(String),
    /// A ledger for this run id exists: a run id is used once.
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    /// Reading or writing the ledger file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A ledger file is not valid JSON of a [`LedgerRecord`].
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The content of a ledger file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub run_id: String,
    /// The process that owns the run.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), to tell a
    /// recycled pid from the owner.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// Seconds since the epoch when the ledger was created.
    pub started_unix: u64,
    #[serde(default)]
    pub scenario: Option<String>,
    /// Real names under /run/netns.
    #[serde(default)]
    pub netns: Vec<String>,
    /// Global sysctls changed, with the value to restore.
    #[serde(default)]
    pub sysctls: Vec<SysctlRecord>,
    /// tracefs kprobes defined, each with the instance it is enabled in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeRecord>,
    /// Scratch directories: everything mounted under them is detached, then they are removed.
    #[serde(default)]
    pub mounts: Vec<String>,
}

/// A kprobe `group/event` a run defined, and the trace instance (under `instances/`) that
/// holds its enable, filter and trigger: the instance goes first, then the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub group: String,
    pub event: String,
    pub instance: String,
}

/// A changed global sysctl and its original value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlRecord {
    pub key: String,
    pub original: String,
}

/// The record of one run; cheap to clone, all clones share one file.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    record: Mutex<LedgerRecord>,
}

impl Ledger {
    /// Starts the ledger of run `run_id`, owned by this process.
    pub fn create(run_id: &str) -> Result<Ledger, LedgerError> {
        Self::create_for_pid(run_id, std::process::id() as i32)
    }

    /// Starts a ledger owned by process `pid` (for tools acting for another process, and
    /// for tests that need a ledger of a dead process).
    pub fn create_for_pid(run_id: &str, pid: i32) -> Result<Ledger, LedgerError> {
        Self::create_in(Path::new(RUNS_DIR), run_id, pid)
    }

    fn create_in(dir: &Path, run_id: &str, pid: i32) -> Result<Ledger, LedgerError> {
        if run_id.is_empty() || run_id.contains(['/', '.']) {
            return Err(LedgerError::BadRunId(run_id.to_string()));
        }
        std::fs::create_dir_all(dir)?;
        let record = LedgerRecord {
            run_id: run_id.to_string(),
            pid,
            pid_start: process_start(pid),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            ..Default::default()
        };
        let path = dir.join(format!("{run_id}.json"));
        if path.exists() {
            return Err(LedgerError::Exists(path));
        }
        write_atomically(&path, &record)?;
        Ok(Ledger { inner: Arc::new(Inner { path, record: Mutex::new(record) }) })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn run_id(&self) -> String {
        self.inner.record.lock().unwrap().run_id.clone()
    }

    /// A copy of what is recorded now.
    pub fn snapshot(&self) -> LedgerRecord {
        self.inner.record.lock().unwrap().clone()
    }

    /// Notes which scenario the run is.
    pub fn set_scenario(&self, name: &str) {
        self.update(|r| r.scenario = Some(name.to_string()));
    }

    /// Records a namespace about to be created (real name under /run/netns).
    pub fn record_netns(&self, real_name: &str) {
        self.update(|r| {
            if !r.netns.iter().any(|n| n == real_name) {
                r.netns.push(real_name.to_string());
            }
        });
    }

    /// Forgets a namespace that was deleted.
    pub fn forget_netns(&self, real_name: &str) {
        self.update(|r| r.netns.retain(|n| n != real_name));
    }

    /// Records the original value of a global sysctl about to be changed. The first
    /// original recorded for a key is kept.
    pub fn record_sysctl(&self, key: &str, original: &str) {
        self.update(|r| {
            if !r.sysctls.iter().any(|s| s.key == key) {
                r.sysctls.push(SysctlRecord { key: key.to_string(), original: original.to_string() });
            }
        });
    }

    /// Sets a global sysctl (of the caller's namespace: the initial one, for `lab`), recording
    /// its original value *before* writing, so a run killed right after still has it restored
    /// by `lab clean`. Returns the original; `Ok(None)` (and nothing written) when the key does
    /// not exist on this kernel. A key changed twice keeps its first original.
    pub fn set_sysctl(&self, key: &str, value: &str) -> io::Result<Option<String>> {
        let Some(original) = sysctl::read(None, key)? else {
            return Ok(None);
        };
        self.record_sysctl(key, &original);
        sysctl::write(None, key, value)?;
        Ok(Some(original))
    }

    /// Restores every recorded sysctl (latest first) and forgets those restored. Returns
    /// the problems; those sysctls stay recorded for `lab clean`.
    pub fn restore_sysctls(&self) -> Vec<String> {
        let records = self.snapshot().sysctls;
        let (done, problems) = restore(&records);
        self.update(|r| r.sysctls.retain(|s| !done.contains(&s.key)));
        problems
    }

    /// Records a kprobe (and its instance) about to be created.
    pub fn record_probe(&self, probe: &ProbeRecord) {
        self.update(|r| {
            if !r.probes.contains(probe) {
                r.probes.push(probe.clone());
            }
        });
    }

    /// Forgets a kprobe that was removed.
    pub fn forget_probe(&self, probe: &ProbeRecord) {
        self.update(|r| r.probes.retain(|p| p != probe));
    }

    /// Removes every recorded probe a step could not remove itself, and forgets those removed.
    /// Returns the problems; those probes stay recorded for `lab clean`.
    pub fn remove_probes(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for p in self.snapshot().probes {
            match remove_probe(&p) {
                Ok(()) => self.forget_probe(&p),
                Err(e) => problems.push(format!("removing kprobe {}/{}: {e}", p.group, p.event)),
            }
        }
        problems
    }

    /// The run's scratch directory for mounts, `MOUNTS_DIR/<run id>-fs`: recorded, then made.
    pub fn scratch_dir(&self) -> io::Result<PathBuf> {
        let dir = scratch_dir_of(&self.run_id());
        let shown = dir.display().to_string();
        self.update(|r| {
            if !r.mounts.contains(&shown) {
                r.mounts.push(shown.clone());
            }
        });
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Detaches everything mounted under the scratch directories and removes them; says what
    /// was unmounted and the problems (what is left stays recorded for `lab clean`).
    pub fn release_mounts(&self) -> (Vec<String>, Vec<String>) {
        let (mut done, mut problems) = (Vec::new(), Vec::new());
        for dir in self.snapshot().mounts {
            let (d, p) = release_scratch(Path::new(&dir));
            done.extend(d);
            if p.is_empty() {
                self.update(|r| r.mounts.retain(|m| m != &dir));
            }
            problems.extend(p);
        }
        (done, problems)
    }

    /// Removes the ledger file: everything it recorded is undone.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.inner.path);
    }

    fn update(&self, change: impl FnOnce(&mut LedgerRecord)) {
        let mut r = self.inner.record.lock().unwrap();
        change(&mut r);
        // A ledger that cannot be written is a ledger `lab clean` cannot use; the run itself
        // goes on and still undoes its changes at teardown.
        if let Err(e) = write_atomically(&self.inner.path, &r) {
            eprintln!("lab: cannot update {}: {e}", self.inner.path.display());
        }
    }
}

/// Writes `record` to `path` via a temporary file and a rename, so a reader (or a run killed
/// mid-write) sees the old or the new content, never half of one. No fsync: what a ledger
/// describes — namespaces, sysctl values — does not survive a reboot either, and on a disk-
/// backed /run an fsync per record cost more than building a namespace.
fn write_atomically(path: &Path, record: &LedgerRecord) -> io::Result<()> {
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(record).map_err(io::Error::other)?)?;
    f.write_all(b"\n")?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The scratch directory of run `run_id` (whether or not it exists).
pub fn scratch_dir_of(run_id: &str) -> PathBuf {
    Path::new(MOUNTS_DIR).join(format!("{run_id}-fs"))
}

/// Detaches every mount under `dir`, then removes it — only when nothing is mounted there
/// any more, so a removal never reaches into a filesystem that is still mounted.
fn release_scratch(dir: &Path) -> (Vec<String>, Vec<String>) {
    let (done, mut problems) = crate::sys::mount::detach_under(dir);
    let done = done.into_iter().map(|m| format!("mount {m}")).collect();
    if problems.is_empty() {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("removing {}: {e}", dir.display())),
        }
    }
    (done, problems)
}

/// Restores `records` latest first; returns the keys restored and the problems.
fn restore(records: &[SysctlRecord]) -> (BTreeSet<String>, Vec<String>) {
    let (mut done, mut problems) = (BTreeSet::new(), Vec::new());
    for s in records.iter().rev() {
        match sysctl::write(None, &s.key, &s.original) {
            Ok(()) => {
                done.insert(s.key.clone());
            }
            Err(e) => problems.push(format!("restoring {} = {}: {e}", s.key, s.original)),
        }
    }
    (done, problems)
}

/// Start time of process `pid` in clock ticks since boot; `None` if it does not exist.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field 22 is the start time.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether the process that wrote `record` still runs.
pub fn owner_alive(record: &LedgerRecord) -> bool {
    match (process_start(record.pid), record.pid_start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

/// The run id a name created by `lab` starts with: `lab` + 6 hex digits, then `-`.
pub fn run_id_of(name: &str) -> Option<&str> {
    let id = name.get(..9)?;
    let tagged = id.starts_with("lab") && id[3..].bytes().all(|b| b.is_ascii_hexdigit()) && name[9..].starts_with('-') && name.len() > 10;
    tagged.then_some(id)
}

/// What `lab clean` did.
#[derive(Debug, Clone, Default)]
pub struct CleanReport {
    /// Namespaces deleted, sysctls restored, ledgers removed.
    pub removed: Vec<String>,
    /// Runs left alone because their process is alive.
    pub live: Vec<String>,
    pub problems: Vec<String>,
}

impl fmt::Display for CleanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed.is_empty() && self.problems.is_empty() {
            writeln!(f, "nothing to clean")?;
        }
        for r in &self.removed {
            writeln!(f, "removed {r}")?;
        }
        for l in &self.live {
            writeln!(f, "left alone: {l} (its process is alive; --force to clean it anyway)")?;
        }
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        Ok(())
    }
}

/// `lab clean`: undoes every ledger whose process is dead (every ledger with `force`) —
/// deletes its namespaces, restores its sysctls, removes the file — then deletes namespaces
/// tagged with a run id (`lab??????-*`) that no live run owns.
pub fn clean(force: bool) -> CleanReport {
    let report = clean_in(Path::new(RUNS_DIR), Path::new(netns::NETNS_RUN_DIR), Path::new(CONTAINERS_DIR), force);
    clean_scratch(Path::new(MOUNTS_DIR), Path::new(RUNS_DIR), force, report)
}

/// Scratch directories of runs without a ledger (a run SIGKILLed before it could record,
/// or whose ledger `lab clean` just undid; a live run keeps its ledger): their mounts
/// detached, then removed. With `force`, every tagged one.
fn clean_scratch(mounts: &Path, runs: &Path, force: bool, mut report: CleanReport) -> CleanReport {
    for entry in std::fs::read_dir(mounts).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = run_id_of(&name) else { continue };
        if !force && runs.join(format!("{id}.json")).exists() {
            continue;
        }
        let (done, problems) = release_scratch(&entry.path());
        report.removed.extend(done.into_iter().map(|d| format!("{d} (run {id})")));
        report.problems.extend(problems);
        if !entry.path().exists() {
            report.removed.push(format!("scratch directory {}", entry.path().display()));
        }
    }
    report
}

fn clean_in(runs: &Path, netns_dir: &Path, bundles: &Path, force: bool) -> CleanReport {
    let mut report = CleanReport::default();
    let mut live = BTreeSet::new();
    let entries = match std::fs::read_dir(runs) {
        Ok(e) => e.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            report.problems.push(format!("reading {}: {e}", runs.display()));
            Vec::new()
        }
    };
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains(".json.tmp") {
            // A temporary file of a writer that died between write and rename.
            if let Some(pid) = name.rsplit("tmp").next().and_then(|p| p.parse::<i32>().ok()) {
                if process_start(pid).is_none() {
                    let _ = std::fs::remove_file(&path);
                }
            }
            continue;
        }
        if !name.ends_with(".json") {
            continue;
        }
        let record = match read_record(&path) {
            Ok(r) => r,
            Err(e) => {
                report.problems.push(format!("{}: unreadable ledger ({e}); remove it by hand", path.display()));
                continue;
            }
        };
        if !force && owner_alive(&record) {
            report.live.push(format!("run {} (pid {})", record.run_id, record.pid));
            live.insert(record.run_id.clone());
            continue;
        }
        undo(&path, record, netns_dir, &mut report);
    }

    // Tagged namespaces no live run owns: left by a run whose ledger is gone.
    let names: Vec<String> =
        std::fs::read_dir(netns_dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    for name in names {
        let Some(id) = run_id_of(&name) else { continue };
        if live.contains(id) || (!force && runs.join(format!("{id}.json")).exists()) {
            // Owned by a live run, or by one that started while we were looking.
            continue;
        }
        match netns::delete_path(&netns_dir.join(&name)) {
            Ok(true) => report.removed.push(format!("namespace {name} (no ledger)")),
            Ok(false) => {}
            Err(e) => report.problems.push(format!("deleting namespace {name}: {e}")),
        }
    }
    clean_bundles(bundles, &|id: &str| live.contains(id) || (!force && runs.join(format!("{id}.json")).exists()), &mut report);
    report
}

/// Container bundles of runs that are not alive (a SIGKILL during `runc run`); `owned` says
/// whether a run id belongs to a live run (or to one that started while we were looking).
fn clean_bundles(bundles: &Path, owned: &dyn Fn(&str) -> bool, report: &mut CleanReport) {
    for entry in std::fs::read_dir(bundles).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if run_id_of(&name).is_none_or(owned) {
            continue;
        }
        // A container a killed `runc run` left running: deleted by the runtime first.
        for line in crate::runtimes::delete_containers(&entry.path().join("state"), &crate::runtimes::cache_dir()) {
            report.removed.push(line);
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => report.removed.push(format!("container bundle {}", entry.path().display())),
            Err(e) => report.problems.push(format!("removing {}: {e}", entry.path().display())),
        }
    }
}

fn read_record(path: &Path) -> Result<LedgerRecord, LedgerError> {
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}

/// Undoes one dead run's ledger; removes the file when all of it is undone.
fn undo(path: &Path, mut record: LedgerRecord, netns_dir: &Path, report: &mut CleanReport) {
    let id = record.run_id.clone();
    let mut left = Vec::new();
    for name in std::mem::take(&mut record.netns) {
        match netns::delete_path(&netns_dir.join(&name)) {
            Ok(true) => report.removed.push(format!("namespace {name} (run {id})")),
            Ok(false) => {}
            Err(e) => {
                report.problems.push(format!("deleting namespace {name} of run {id}: {e}"));
                left.push(name);
            }
        }
    }
    record.netns = left;
    let (done, problems) = restore(&record.sysctls);
    for s in record.sysctls.iter().filter(|s| done.contains(&s.key)) {
        report.removed.push(format!("sysctl {} restored to {} (run {id})", s.key, s.original));
    }
    report.problems.extend(problems.into_iter().map(|p| format!("{p} (run {id})")));
    record.sysctls.retain(|s| !done.contains(&s.key));
    record.probes.retain(|p| match remove_probe(p) {
        Ok(()) => {
            report.removed.push(format!("kprobe {}/{} and trace instance {} (run {id})", p.group, p.event, p.instance));
            false
        }
        Err(e) => {
            report.problems.push(format!("removing kprobe {}/{} of run {id}: {e}", p.group, p.event));
            true
        }
    });
    for dir in std::mem::take(&mut record.mounts) {
        let (done, problems) = release_scratch(Path::new(&dir));
        report.removed.extend(done.into_iter().map(|d| format!("{d} (run {id})")));
        if !problems.is_empty() {
            report.problems.extend(problems.into_iter().map(|p| format!("{p} (run {id})")));
            record.mounts.push(dir);
        }
    }
    if record.netns.is_empty() && record.sysctls.is_empty() && record.probes.is_empty() && record.mounts.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => report.removed.push(format!("ledger {}", path.display())),
            Err(e) => report.problems.push(format!("removing {}: {e}", path.display())),
        }
    } else if let Err(e) = write_atomically(path, &record) {
        report.problems.push(format!("updating {}: {e}", path.display()));
    }
}

/// Removes a probe's instance, then the probe (the kernel refuses to remove a probe still
/// enabled somewhere). Both gone already is fine.
pub fn remove_probe(p: &ProbeRecord) -> io::Result<()> {
    let Some(root) = tracefs::root() else { return Ok(()) };
    tracefs::remove_instance(&root, &p.instance)?;
    tracefs::remove_kprobe(&root, &p.group, &p.event).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_recorded_once_and_forgotten_and_old_ledgers_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::create_in(dir.path(), "lab00abce", std::process::id() as i32).unwrap();
        let p = ProbeRecord { group: "lab00abce".into(), event: "p_probe".into(), instance: "lab00abce-probe".into() };
        l.record_probe(&p);
        l.record_probe(&p);
        let read = || -> LedgerRecord { serde_json::from_slice(&std::fs::read(l.path()).unwrap()).unwrap() };
        assert_eq!(read().probes, std::slice::from_ref(&p));
        l.forget_probe(&p);
        assert!(read().probes.is_empty());
        let old: LedgerRecord = serde_json::from_str(r#"{"run_id":"lab00abcd","pid":1,"started_unix":0}"#).unwrap();
        assert!(old.probes.is_empty());
        l.finish();
    }

    #[test]
    fn run_ids_are_recognised_in_names() {
        assert_eq!(run_id_of("lab3fa9c1-cli"), Some("lab3fa9c1"));
        assert_eq!(run_id_of("lab3fa9c1-"), None);
        assert_eq!(run_id_of("lab3fa9g1-cli"), None);
        assert_eq!(run_id_of("labxyz"), None);
        assert_eq!(run_id_of("cni-1234-5678"), None);
    }

    #[test]
    fn own_process_start_is_read_and_matches() {
        let me = std::process::id() as i32;
        let start = process_start(me).expect("own start time");
        let rec = LedgerRecord { pid: me, pid_start: Some(start), ..Default::default() };
        assert!(owner_alive(&rec));
        assert!(!owner_alive(&LedgerRecord { pid_start: Some(start + 1), ..rec.clone() }));
        assert!(!owner_alive(&LedgerRecord { pid: i32::MAX, ..rec }));
    }

    #[test]
    fn ledger_is_rewritten_on_every_change_and_removed_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::create_in(dir.path(), "lab00abcd", std::process::id() as i32).unwrap();
        let read = || -> LedgerRecord { serde_json::from_slice(&std::fs::read(l.path()).unwrap()).unwrap() };
        assert_eq!(read().run_id, "lab00abcd");
        l.record_netns("lab00abcd-a");
        l.record_netns("lab00abcd-b");
        l.record_sysctl("net.core.somaxconn", "4096");
        l.record_sysctl("net.core.somaxconn", "1");
        assert_eq!(read().netns, ["lab00abcd-a", "lab00abcd-b"]);
        assert_eq!(read().sysctls, [SysctlRecord { key: "net.core.somaxconn".into(), original: "4096".into() }]);
        l.forget_netns("lab00abcd-a");
        assert_eq!(read().netns, ["lab00abcd-b"]);
        let again = Ledger::create_in(dir.path(), "lab00abcd", 1).unwrap_err();
        assert!(matches!(again, LedgerError::Exists(_)), "a run id is used once");
        assert_eq!(again.to_string(), format!("{} already exists", l.path().display()));
        assert_eq!(Ledger::create_in(dir.path(), "../x", 1).unwrap_err().to_string(), "`../x` is not a run id");
        let path = l.path().to_path_buf();
        l.finish();
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary files left");
    }

    #[test]
    fn clean_removes_scratch_directories_without_a_ledger_only() {
        let (runs, mounts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for d in ["lab0000aa-fs/mnt", "lab0000bb-fs/src/vol", "other/x"] {
            std::fs::create_dir_all(mounts.path().join(d)).unwrap();
        }
        let _live = Ledger::create_in(runs.path(), "lab0000aa", std::process::id() as i32).unwrap();
        let report = clean_scratch(mounts.path(), runs.path(), false, CleanReport::default());
        assert!(report.problems.is_empty(), "{report}");
        let mut left: Vec<String> =
            std::fs::read_dir(mounts.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["lab0000aa-fs", "other"], "a ledgered run's directory and untagged ones stay");
        assert!(report.removed.iter().any(|r| r.contains("lab0000bb-fs")), "{report}");
    }

    #[test]
    fn clean_leaves_live_runs_and_removes_dead_empty_ones() {
        let (runs, netns_dir, bundles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(bundles.path().join("lab0000bb-3/bundle/rootfs")).unwrap();
        std::fs::create_dir_all(bundles.path().join("lab0000aa-1/bundle")).unwrap();
        let live = Ledger::create_in(runs.path(), "lab0000aa", std::process::id() as i32).unwrap();
        let dead = Ledger::create_in(runs.path(), "lab0000bb", i32::MAX).unwrap();
        // Plain files stand in for namespace mounts: delete_path unlinks either.
        std::fs::write(netns_dir.path().join("lab0000bb-x"), "").unwrap();
        std::fs::write(netns_dir.path().join("lab0000cc-y"), "").unwrap();
        std::fs::write(netns_dir.path().join("lab0000aa-z"), "").unwrap();
        std::fs::write(netns_dir.path().join("other"), "").unwrap();
        dead.record_netns("lab0000bb-x");
        let report = clean_in(runs.path(), netns_dir.path(), bundles.path(), false);
        assert!(report.problems.is_empty(), "{report}");
        assert!(!dead.path().exists() && live.path().exists(), "{report}");
        let mut left: Vec<String> =
            std::fs::read_dir(netns_dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["lab0000aa-z", "other"]);
        assert_eq!(report.live.len(), 1);
        let bundles_left: Vec<String> =
            std::fs::read_dir(bundles.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(bundles_left, ["lab0000aa-1"], "a dead run's bundle goes, a live run's stays");
    }
}
