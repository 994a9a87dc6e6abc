//! The agent channel: the guest writes every [`Event`] as one JSON line to its virtio-serial
//! port; the host reads them from the unix socket QEMU connects that port to.
//!
//! One line back, host to guest: [`ACK`] once the host has the verdict, so the guest powers
//! off only when nothing it sent can be lost in QEMU's buffers.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::event::Event;

/// What the host answers once it holds the verdict.
pub const ACK: &str = "ack";

/// Where the kernel lists virtio-serial ports, each with a `name` file.
pub const VIRTIO_PORTS: &str = "/sys/class/virtio-ports";

/// One event as one line (serde_json escapes newlines inside strings).
pub fn encode(event: &Event) -> String {
    let mut s = serde_json::to_string(event).expect("events always serialize");
    s.push('\n');
    s
}

/// A line from the guest that is not an event, or a channel that broke.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{source}: {line}")]
    NotAnEvent { line: String, source: serde_json::Error },
    #[error("reading the agent channel: {0}")]
    Read(#[from] io::Error),
}

/// An event from one line, or why the line is not one.
pub fn decode(line: &str) -> Result<Event, ChannelError> {
    serde_json::from_str(line.trim_end())
        .map_err(|source| ChannelError::NotAnEvent { line: truncate(line.trim_end(), 200).to_string(), source })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The device node of the port named `name`, from `sysdir` (`/sys/class/virtio-ports`): its
/// entries are `vport<dev>p<port>` with a `name` file; the node is `/dev/<entry>`.
pub fn find_port(sysdir: &Path, name: &str) -> Option<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(sysdir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    entries.into_iter().find_map(|e| {
        let n = std::fs::read_to_string(e.path().join("name")).ok()?;
        (n.trim() == name).then(|| Path::new("/dev").join(e.file_name()))
    })
}

/// The guest's end: a blocking writer for the agent thread.
pub struct GuestChannel {
    port: File,
    pub path: PathBuf,
}

impl GuestChannel {
    /// Opens the port named [`super::qemu::AGENT_PORT`].
    pub fn open() -> io::Result<GuestChannel> {
        let path = find_port(Path::new(VIRTIO_PORTS), super::qemu::AGENT_PORT).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no virtio-serial port named {} under {VIRTIO_PORTS} (is CONFIG_VIRTIO_CONSOLE set?)", super::qemu::AGENT_PORT),
            )
        })?;
        let port = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(GuestChannel { port, path })
    }

    pub fn send(&mut self, event: &Event) -> io::Result<()> {
        self.port.write_all(encode(event).as_bytes())
    }

    /// Waits up to `timeout` for the host's [`ACK`]; false if it did not come.
    pub fn wait_ack(&mut self, timeout: Duration) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return false,
            }
            let mut buf = [0u8; 64];
            match io::Read::read(&mut self.port, &mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&got).lines().any(|l| l.trim() == ACK) {
                return true;
            }
        }
    }
}

/// The host's end of the agent socket.
pub struct HostChannel {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl HostChannel {
    pub fn new(stream: UnixStream) -> HostChannel {
        let (r, w) = stream.into_split();
        HostChannel { lines: BufReader::new(r).lines(), writer: w }
    }

    /// The next line as an event (`Err` with the line when it is not one); `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Event, ChannelError>> {
        loop {
            match self.lines.next_line().await {
                Ok(Some(l)) if l.trim().is_empty() => continue,
                Ok(Some(l)) => return Some(decode(&l)),
                Ok(None) => return None,
                Err(e) => return Some(Err(ChannelError::Read(e))),
            }
        }
    }

    /// Tells the guest its verdict arrived.
    pub async fn ack(&mut self) -> io::Result<()> {
        self.writer.write_all(format!("{ACK}\n").as_bytes()).await?;
        self.writer.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{GuestFault, Level, Outcome};

    #[test]
    fn events_are_one_line_each_and_round_trip() {
        let events = [
            Event::Note { level: Level::Warn, message: "two\nlines".into() },
            Event::GuestFault {
                fault: GuestFault::Panic,
                message: "Kernel panic".into(),
                lines: vec!["a".into(), "b".into()],
                class: None,
                title: None,
            },
            Event::Verdict { outcome: Outcome::Met, summary: "ok".into(), notes: vec![] },
        ];
        for e in events {
            let line = encode(&e);
            assert_eq!(line.matches('\n').count(), 1);
            assert!(line.ends_with('\n'));
            assert_eq!(decode(&line).unwrap(), e);
        }
        let err = decode("{\"event\":\"no_such_event\"}").unwrap_err();
        assert!(err.to_string().contains("no_such_event"), "{err}");
    }

    #[test]
    fn the_port_is_found_by_name_not_by_number() {
        let dir = tempfile::tempdir().unwrap();
        for (entry, name) in [("vport0p0", ""), ("vport1p1", "org.qemu.guest_agent.0"), ("vport2p1", "lab.agent")] {
            std::fs::create_dir(dir.path().join(entry)).unwrap();
            std::fs::write(dir.path().join(entry).join("name"), format!("{name}\n")).unwrap();
        }
        assert_eq!(find_port(dir.path(), "lab.agent"), Some(PathBuf::from("/dev/vport2p1")));
        assert_eq!(find_port(dir.path(), "other"), None);
        assert_eq!(find_port(&dir.path().join("missing"), "lab.agent"), None);
    }

    #[tokio::test]
    async fn host_reads_events_skips_blank_lines_and_acks() {
        let (host, guest) = UnixStream::pair().unwrap();
        let mut ch = HostChannel::new(host);
        let (gr, mut gw) = guest.into_split();
        let verdict = Event::Verdict { outcome: Outcome::NotMet, summary: "no".into(), notes: vec![] };
        gw.write_all(format!("\n{}garbage\n", encode(&verdict)).as_bytes()).await.unwrap();
        drop(gw);
        assert!(matches!(ch.next().await, Some(Ok(v)) if v == verdict));
        assert!(matches!(ch.next().await, Some(Err(e)) if e.to_string().contains("garbage")));
        assert!(ch.next().await.is_none());
        ch.ack().await.unwrap();
        let mut back = String::new();
        BufReader::new(gr).read_line(&mut back).await.unwrap();
        assert_eq!(back, "ack\n");
    }
}
