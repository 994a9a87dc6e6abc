//! The run directory: everything a VM run leaves for a person to read afterwards.
//!
//! `$LAB_RUNS/<UTC time>-<scenario>-<variant>/`, else under `<cache_dir>/runs/`:
//! `console.log` (the guest console, whole), `kmsg.log` (the guest's whole kernel log, every
//! level, as `dmesg -r` prints it: written by QEMU from the port [`super::kmsg_port`]
//! copies to), `events.jsonl` (every event, host and guest),
//! `kernel.config` (the merged config the kernel was built with), `patches.txt` (the
//! patches applied, with their sha256), `verdict.json`, `qemu.log` (QEMU's own stderr and
//! its command line), `kernel-build.log` when a build ran.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::accel::AccelUsed;
use super::unexpected::Unexpected;
use crate::event::{BootPhases, Event, EventSink};

/// Where run directories go: `$LAB_RUNS`, else `<cache_dir>/runs`.
pub fn runs_root() -> PathBuf {
    std::env::var_os("LAB_RUNS").map(PathBuf::from).unwrap_or_else(|| super::kernel::cache_dir().join("runs"))
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<UTC time>-<scenario>-<variant>` (with `-2`, `-3`... if taken).
    pub fn create(root: &Path, scenario: &str, variant: &str) -> io::Result<RunDir> {
        std::fs::create_dir_all(root).map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", root.display())))?;
        let base = dir_name(SystemTime::now(), scenario, variant);
        for n in 1.. {
            let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
            let path = root.join(name);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))),
            }
        }
        unreachable!()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Copies the merged kernel config, or writes why there is none.
    pub fn save_config(&self, config: Option<&Path>) -> io::Result<()> {
        let dest = self.file("kernel.config");
        match config {
            Some(c) if c.is_file() => std::fs::copy(c, dest).map(|_| ()),
            Some(c) => std::fs::write(dest, format!("# not available: {} does not exist\n", c.display())),
            None => std::fs::write(dest, "# not available: the kernel was given with --bzimage and no .config was found next to it\n"),
        }
    }

    /// `patches.txt`: one line per patch, `<sha256>  <path>`, in the order applied.
    pub fn save_patches(&self, patches: &[PathBuf]) -> io::Result<()> {
        let mut out = String::new();
        if patches.is_empty() {
            out.push_str("# no patches: the base kernel as it is\n");
        }
        for p in patches {
            match std::fs::read(p) {
                Ok(bytes) => out.push_str(&format!("{}  {}\n", hex::encode(Sha256::digest(&bytes)), p.display())),
                Err(e) => out.push_str(&format!("{:64}  {} (unreadable: {e})\n", "?", p.display())),
            }
        }
        std::fs::write(self.file("patches.txt"), out)
    }

    /// `verdict.json`: the verdict event as the report's summary, with the accelerator the
    /// run used and any fallback, the boot's phases (`boot`), and the kernel faults that were
    /// not the scenario's signature (`unexpected_faults`, always present).
    pub fn save_verdict(
        &self,
        verdict: &Event,
        accel: Option<&AccelUsed>,
        boot: Option<&BootPhases>,
        unexpected: &[Unexpected],
    ) -> io::Result<()> {
        let mut json = serde_json::to_value(verdict).expect("events serialize");
        json["unexpected_faults"] = serde_json::to_value(unexpected).expect("faults serialize");
        if let Some(a) = accel {
            json["accel"] = serde_json::to_value(a).expect("accel serializes");
        }
        if let Some(b) = boot {
            json["boot"] = serde_json::to_value(b).expect("boot phases serialize");
        }
        let text = serde_json::to_string_pretty(&json).expect("json serializes");
        std::fs::write(self.file("verdict.json"), text + "\n")
    }

    /// A sink that writes every event to `events.jsonl` and passes it on to `out`. Await the
    /// returned recorder after dropping every clone of the sink, so the file is complete.
    pub fn record(&self, out: EventSink) -> io::Result<(EventSink, Recorder)> {
        let mut file = io::BufWriter::new(std::fs::File::create(self.file("events.jsonl"))?);
        let (sink, mut rx) = EventSink::channel();
        let task = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let _ = file.write_all(super::channel::encode(&ev).as_bytes());
                // Keep the file current: a person may `tail -f` it during a long run.
                if rx.is_empty() {
                    let _ = file.flush();
                }
                out.send(ev);
            }
            let _ = file.flush();
        });
        Ok((sink, Recorder(task)))
    }
}

/// The task writing `events.jsonl`.
pub struct Recorder(tokio::task::JoinHandle<()>);

impl Recorder {
    /// Waits until every event sent so far is written and forwarded.
    pub async fn finish(self) {
        let _ = self.0.await;
    }
}

/// `20250131T094501Z-fnhe-leak-buggy`: sortable, and safe as a file name.
pub fn dir_name(at: SystemTime, scenario: &str, variant: &str) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(at).to_string().chars().filter(|c| !matches!(c, '-' | ':')).collect();
    format!("{stamp}-{}-{}", safe(scenario), safe(variant))
}

fn safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Level, Outcome};
    use std::time::Duration;

    #[test]
    fn dir_names_sort_by_time_and_are_safe() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_738_316_701);
        assert_eq!(dir_name(t, "fnhe-leak", "buggy"), "20250131T094501Z-fnhe-leak-buggy");
        assert_eq!(dir_name(t, "a/b c", "x"), "20250131T094501Z-a_b_c-x");
    }

    #[test]
    fn a_taken_name_gets_a_suffix() {
        let root = tempfile::tempdir().unwrap();
        let a = RunDir::create(root.path(), "s", "v").unwrap();
        let b = RunDir::create(root.path(), "s", "v").unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.is_dir() && b.path.is_dir());
    }

    #[test]
    fn patches_are_listed_with_their_hash_in_order() {
        let root = tempfile::tempdir().unwrap();
        let d = RunDir::create(root.path(), "s", "v").unwrap();
        let p = root.path().join("0001-x.patch");
        std::fs::write(&p, "abc").unwrap();
        d.save_patches(&[p.clone(), root.path().join("missing.patch")]).unwrap();
        let text = std::fs::read_to_string(d.file("patches.txt")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  {}", p.display()));
        assert!(lines[1].contains("missing.patch (unreadable"));
        d.save_config(None).unwrap();
        assert!(std::fs::read_to_string(d.file("kernel.config")).unwrap().starts_with("# not available"));
    }

    #[tokio::test]
    async fn the_recorder_writes_and_forwards_every_event() {
        let root = tempfile::tempdir().unwrap();
        let d = RunDir::create(root.path(), "s", "v").unwrap();
        let (out, mut rx) = EventSink::channel();
        let (sink, rec) = d.record(out).unwrap();
        sink.note(Level::Info, "one");
        let verdict = Event::Verdict { outcome: Outcome::Met, summary: "ok".into(), notes: vec![] };
        sink.send(verdict.clone());
        drop(sink);
        rec.finish().await;
        let text = std::fs::read_to_string(d.file("events.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(matches!(rx.recv().await, Some(Event::Note { .. })));
        assert_eq!(rx.recv().await, Some(verdict.clone()));
        d.save_verdict(&verdict, None, None, &[]).unwrap();
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.file("verdict.json")).unwrap()).unwrap();
        assert_eq!((json["outcome"].as_str(), json["unexpected_faults"].as_array().map(Vec::len)), (Some("met"), Some(0)));
    }
}
