//! What was learnt about KVM on this host, remembered in the cache so the next run boots
//! the right way first time.
//!
//! Keyed by what decides it: the QEMU binary (path and `--version`), the host CPU model and
//! the host kernel. A new QEMU, CPU or kernel means a new key, so the question is asked
//! again; `lab doctor --forget` drops the record by hand.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::vm::qemu::Accel;

/// The facts a KVM verdict depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKey {
    /// The QEMU binary, as found on `PATH` and resolved.
    pub qemu: String,
    /// The first line of `qemu --version`.
    pub qemu_version: String,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `uname -r` of the host.
    pub host_kernel: String,
}

impl HostKey {
    /// The key of this host for `qemu`: runs `qemu --version` (about 20 ms).
    pub async fn current(qemu: &Path) -> io::Result<HostKey> {
        let resolved = resolve(qemu).unwrap_or_else(|| qemu.to_path_buf());
        let out = tokio::process::Command::new(&resolved).arg("--version").output().await?;
        if !out.status.success() {
            return Err(io::Error::other(format!("{} --version failed", resolved.display())));
        }
        let version = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_string();
        Ok(HostKey {
            qemu: resolved.display().to_string(),
            qemu_version: version,
            cpu_model: cpu_model(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
            host_kernel: crate::sys::kernel_release(),
        })
    }

    /// A short stable name for the record file.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a key serializes");
        hex::encode(&Sha256::digest(&json)[..8])
    }
}

/// `qemu-system-x86_64` looked up on `PATH` (as `Command` would), then resolved.
fn resolve(qemu: &Path) -> Option<PathBuf> {
    let found = if qemu.components().count() > 1 {
        qemu.to_path_buf()
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(qemu)).find(|p| p.is_file())?
    };
    std::fs::canonicalize(found).ok()
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// One remembered decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelRecord {
    pub key: HostKey,
    /// What to boot with on this host.
    pub accel: Accel,
    /// Why, in words: the probe's finding, or how the real boot went.
    pub evidence: String,
    /// QEMU's own lines when KVM failed.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Seconds since the epoch.
    pub decided_at: u64,
}

impl AccelRecord {
    pub fn new(key: HostKey, accel: Accel, evidence: impl Into<String>, lines: Vec<String>) -> Self {
        let decided_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        AccelRecord { key, accel, evidence: evidence.into(), lines, decided_at }
    }
}

/// The directory of records: `<cache>/accel/<digest>.json`.
#[derive(Debug, Clone)]
pub struct Records {
    pub dir: PathBuf,
}

impl Default for Records {
    fn default() -> Self {
        Records { dir: crate::vm::kernel::cache_dir().join("accel") }
    }
}

impl Records {
    pub fn path(&self, key: &HostKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.digest()))
    }

    /// The record for `key`; a missing or unreadable one is no record.
    pub fn load(&self, key: &HostKey) -> Option<AccelRecord> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str::<AccelRecord>(&text).ok().filter(|r| &r.key == key)
    }

    /// Writes `record` atomically (a run killed mid-write leaves the old one).
    pub fn save(&self, record: &AccelRecord) -> io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&record.key);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(record).expect("a record serializes") + "\n")?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Drops the record for `key`; true if there was one.
    pub fn forget(&self, key: &HostKey) -> io::Result<bool> {
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cpu: &str) -> HostKey {
        HostKey {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            qemu_version: "QEMU emulator version 7.2.19".into(),
            cpu_model: cpu.into(),
            host_kernel: "6.18.44".into(),
        }
    }

    #[test]
    fn a_record_is_found_again_under_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records { dir: dir.path().join("accel") };
        assert_eq!(records.load(&key("AMD EPYC")), None);
        let rec = AccelRecord::new(key("AMD EPYC"), Accel::Tcg, "KVM internal error", vec!["emulation failure".into()]);
        records.save(&rec).unwrap();
        assert_eq!(records.load(&key("AMD EPYC")), Some(rec));
        assert_eq!(records.load(&key("Intel Xeon")), None, "another CPU is another question");
        assert!(records.forget(&key("AMD EPYC")).unwrap());
        assert!(!records.forget(&key("AMD EPYC")).unwrap());
    }

    #[test]
    fn cpu_model_is_read_from_cpuinfo() {
        assert_eq!(cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n"), "AMD EPYC 7B13");
        assert_eq!(cpu_model(""), "unknown");
    }
}
