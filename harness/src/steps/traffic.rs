//! `traffic` — bulk TCP: a server in one namespace, N concurrent client streams from
//! another, for a duration or until stopped.
//!
//! Streams run on their own OS threads with blocking sockets: a debug kernel may hold a
//! sending thread inside the kernel for seconds (the fnhe delay), and that must not stall
//! the async runtime that drives the other steps.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;
use socket2::{Domain, Socket, Type};

use super::{Step, StepCtx, StepError, StepSummary};
use crate::scenario::check::{CheckScope, Problem};
use crate::scenario::HumanDuration;
use crate::sys::in_netns;

/// Blocking calls wake up this often to see whether the step was stopped.
const POLL: Duration = Duration::from_millis(500);
/// Progress on the timeline this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Size of each write.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub netns: String,
    /// Server: the address to listen on. Client: unused.
    #[serde(default)]
    pub address: Option<IpAddr>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// ```yaml
/// traffic:
///   server: { netns: svr, address: 192.168.123.1, port: 5001 }
///   client: { netns: cli }
///   streams: 4
///   duration: 60s      # optional in the background: then it runs until `stop`
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub server: Endpoint,
    pub client: Endpoint,
    #[serde(default = "one")]
    pub streams: u32,
    #[serde(default)]
    pub duration: Option<HumanDuration>,
    /// How long a client may take to connect.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: HumanDuration,
}

fn one() -> u32 {
    1
}
fn connect_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl Step for Spec {
    /// TCP over IPv4 between namespaces.
    fn kconfig(&self) -> &'static [&'static str] {
        &["CONFIG_INET", "CONFIG_NET_NS"]
    }

    fn check(&self, scope: &CheckScope) -> Vec<Problem> {
        let mut out = Vec::new();
        out.extend(scope.need_namespace("server.netns", &self.server.netns));
        out.extend(scope.need_namespace("client.netns", &self.client.netns));
        if self.server.address.is_none() {
            out.push(Problem::new("server.address", "the server needs the address it listens on (an address of its namespace)"));
        }
        if self.server.port.is_none() {
            out.push(Problem::new("server.port", "the server needs a port"));
        }
        if !(1..=256).contains(&self.streams) {
            out.push(Problem::new("streams", format!("{} streams: give 1 to 256", self.streams)));
        }
        out
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx<'a>) -> BoxFuture<'a, Result<StepSummary, StepError>> {
        async move { self.drive(ctx).await }.boxed()
    }
}

/// Counters shared between the stream threads and the step.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    received: AtomicU64,
    reconnects: AtomicU64,
}

impl Spec {
    async fn drive(&self, ctx: &StepCtx<'_>) -> Result<StepSummary, StepError> {
        let topo = &ctx.env.topology;
        let ns_path = |ns: &str| topo.netns_path(ns).ok_or_else(|| StepError::NetnsGone(ns.to_string()));
        let (server_ns, client_ns) = (ns_path(&self.server.netns)?, ns_path(&self.client.netns)?);
        let addr = SocketAddr::new(self.server.address.expect("checked"), self.server.port.expect("checked"));
        let counters = Arc::new(Counters::default());

        let listener = in_netns(&server_ns, move || TcpListener::bind(addr))
            .and_then(|r| r)
            .map_err(|e| StepError::io(format!("listening on {addr} in {}", self.server.netns), e))?;
        let server = spawn_server(listener, counters.clone());

        let started = Instant::now();
        let mut clients = Vec::new();
        for i in 0..self.streams {
            let sock = in_netns(&client_ns, move || Socket::new(Domain::for_address(addr), Type::STREAM, None))
                .and_then(|r| r)
                .map_err(|e| StepError::io(format!("socket in {}", self.client.netns), e))?;
            let stream = connect(sock, addr, self.connect_timeout.0)
                .map_err(|e| StepError::io(format!("stream {i}: connecting to {addr} from {}", self.client.netns), e))?;
            clients.push(spawn_client(stream, counters.clone(), client_ns.clone(), addr));
        }
        ctx.progress(format!("{} streams connected to {addr}", self.streams));

        let end = self.duration.map(|d| tokio::time::Instant::now() + d.0);
        let mut ticker = tokio::time::interval(PROGRESS_EVERY);
        ticker.tick().await;
        loop {
            let until_end = async {
                match end {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = until_end => break,
                _ = ctx.cancel.cancelled() => break,
                _ = ticker.tick() => ctx.progress(format!("{:.1} MB received", counters.received.load(Ordering::Relaxed) as f64 / 1e6)),
            }
        }
        counters.stop.store(true, Ordering::Relaxed);
        let sent: Vec<u64> = tokio::task::spawn_blocking(move || clients.into_iter().map(|c| c.join().unwrap_or(0)).collect()).await?;
        let _ = tokio::task::spawn_blocking(move || server.join()).await;
        let secs = started.elapsed().as_secs_f64();
        Ok(summarize(&sent, counters.received.load(Ordering::Relaxed), counters.reconnects.load(Ordering::Relaxed), secs))
    }
}

fn summarize(sent: &[u64], received: u64, reconnects: u64, secs: f64) -> StepSummary {
    let total: u64 = sent.iter().sum();
    let per_stream: Vec<String> = sent.iter().map(|b| format!("{:.1}", *b as f64 / 1e6)).collect();
    let mbit = total as f64 * 8.0 / 1e6 / secs.max(1e-3);
    let mut s = StepSummary::text(format!(
        "{} streams, {:.1} MB sent ({} MB per stream), {mbit:.0} Mbit/s over {secs:.1} s, {reconnects} reconnects",
        sent.len(),
        total as f64 / 1e6,
        per_stream.join(" / ")
    ))
    .counter("bytes_sent", total as f64)
    .counter("bytes_received", received as f64)
    .counter("mbit_per_s", mbit)
    .counter("reconnects", reconnects as f64)
    .counter("seconds", secs);
    for (i, b) in sent.iter().enumerate() {
        s = s.counter(&format!("stream{i}_bytes"), *b as f64);
    }
    s
}

fn connect(sock: Socket, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    abort_on_close(&sock)?;
    sock.connect_timeout(&addr.into(), timeout)?;
    let stream: TcpStream = sock.into();
    stream.set_write_timeout(Some(POLL))?;
    Ok(stream)
}

/// Accepts connections until stopped; each connection is drained on its own thread.
fn spawn_server(listener: TcpListener, counters: Arc<Counters>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut readers = Vec::new();
        while !counters.stop.load(Ordering::Relaxed) {
            if !readable(&listener) {
                continue;
            }
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_read_timeout(Some(POLL)).ok();
                    abort_on_close(&socket2::SockRef::from(&conn)).ok();
                    let counters = counters.clone();
                    readers.push(std::thread::spawn(move || {
                        let mut buf = vec![0u8; CHUNK];
                        while !counters.stop.load(Ordering::Relaxed) {
                            match conn.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    counters.received.fetch_add(n as u64, Ordering::Relaxed);
                                }
                                Err(e) if is_timeout(&e) => continue,
                                Err(_) => break,
                            }
                        }
                    }));
                }
                Err(e) if is_timeout(&e) => continue,
                Err(_) => break,
            }
        }
        for r in readers {
            let _ = r.join();
        }
    })
}

/// Writes until stopped; a broken connection is re-established from the same namespace.
fn spawn_client(mut stream: TcpStream, counters: Arc<Counters>, netns: std::path::PathBuf, addr: SocketAddr) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let buf = vec![0x5au8; CHUNK];
        let mut sent = 0u64;
        while !counters.stop.load(Ordering::Relaxed) {
            match stream.write(&buf) {
                Ok(n) => sent += n as u64,
                Err(e) if is_timeout(&e) => continue,
                Err(_) => {
                    counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    let fresh = in_netns(&netns, move || Socket::new(Domain::for_address(addr), Type::STREAM, None))
                        .ok()
                        .and_then(|r| r.ok())
                        .and_then(|s| connect(s, addr, POLL * 4).ok());
                    match fresh {
                        Some(s) => stream = s,
                        None => std::thread::sleep(POLL),
                    }
                }
            }
        }
        sent
    })
}

/// Closing sends a reset instead of lingering: a stopped stream leaves no orphaned socket
/// retransmitting into a link that is going down, which would keep its namespace (and the
/// devices in it) alive for seconds after teardown.
fn abort_on_close(sock: &Socket) -> std::io::Result<()> {
    sock.set_linger(Some(Duration::ZERO))
}

/// Waits up to [`POLL`] for a connection to accept.
fn readable(listener: &TcpListener) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(POLL.as_millis() as u16)), Ok(n) if n > 0)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_every_stream() {
        let s = summarize(&[1_000_000, 3_000_000], 4_000_000, 1, 2.0);
        assert_eq!(s.counters["bytes_sent"], 4e6);
        assert_eq!(s.counters["stream1_bytes"], 3e6);
        assert_eq!(s.counters["mbit_per_s"], 16.0);
        assert!(s.text.contains("1.0 / 3.0 MB per stream"), "{}", s.text);
    }
}
