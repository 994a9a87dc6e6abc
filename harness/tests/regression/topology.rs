//! The topology on the running kernel: namespaces, veths, addresses, routes, sysctls built
//! over netlink, real TCP through them, MTU changes, teardown and `clean()` of a dead run.
//! Every check looks at real kernel state, partly through `ip`, an observer independent of
//! the code under test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lab::cleanup::{self, Ledger};
use lab::topology::{self, in_netns, sysctl, Topology};
use libtest_mimic::{Failed, Trial};

use crate::support::{host_lock, root_trial};

const TIMEOUT_KEY: &str = "net.core.netdev_unregister_timeout_secs";
const IFNAMES: [&str; 4] = ["cli-veth", "cligw-veth", "svr-veth", "svrgw-veth"];

pub fn tests() -> Vec<Trial> {
    vec![
        root_trial("topology::fnhe_leak_is_built_as_planned_and_tagged", built_as_planned),
        root_trial("topology::tcp_cli_to_svr_through_gw", tcp_through_gw),
        root_trial("topology::mtu_and_state_changes_read_back", mtu_changes),
        root_trial("topology::teardown_leaves_nothing_and_is_idempotent", teardown_leaves_nothing),
        root_trial("topology::failed_apply_removes_what_it_created", failed_apply_rolls_back),
        root_trial("topology::clean_removes_a_dead_runs_namespaces_and_sysctls", clean_dead_run),
    ]
}

fn fail(msg: impl Into<String>) -> Failed {
    msg.into().into()
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(fail(msg()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn fnhe_spec() -> Result<lab::scenario::TopologySpec, Failed> {
    let path = crate::support::repo().join("scenarios/fnhe-leak.yaml");
    let loaded = lab::scenario::load(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(loaded.scenario.topology)
}

/// `ip <args>`, its stdout; fails on a non-zero exit.
fn ip(args: &[&str]) -> Result<String, Failed> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(fail(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names under /run/netns that carry `run_id`.
fn netns_of(run_id: &str) -> Vec<String> {
    crate::support::lab_namespaces().into_iter().filter(|n| n.starts_with(&format!("{run_id}-"))).collect()
}

/// A built fnhe-leak topology with its ledger and runtime; torn down on drop if a check failed.
struct Live {
    rt: tokio::runtime::Runtime,
    ledger: Ledger,
    topo: Option<Topology>,
    run_id: String,
}

impl Live {
    fn up() -> Result<Live, Failed> {
        let run_id = lab::engine::new_run_id();
        let ledger = Ledger::create(&run_id)?;
        let rt = runtime();
        let plan = topology::plan(&fnhe_spec()?, &run_id);
        match rt.block_on(Topology::apply(&plan, &ledger)) {
            Ok(t) => Ok(Live { rt, ledger, topo: Some(t), run_id }),
            Err(e) => {
                ledger.finish();
                Err(fail(format!("apply: {e}")))
            }
        }
    }

    fn topo(&self) -> &Topology {
        self.topo.as_ref().expect("up")
    }

    fn path(&self, ns: &str) -> std::path::PathBuf {
        self.topo().netns_path(ns).expect("namespace of the plan")
    }

    fn down(mut self) -> topology::TeardownReport {
        let topo = self.topo.take().expect("up");
        let report = self.rt.block_on(topo.teardown(&self.ledger));
        drop(topo);
        if report.problems.is_empty() {
            self.ledger.clone().finish();
        }
        report
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(t) = self.topo.take() {
            let r = self.rt.block_on(t.teardown(&self.ledger));
            drop(t);
            if r.problems.is_empty() {
                let _ = std::fs::remove_file(self.ledger.path());
            }
        }
    }
}

fn built_as_planned() -> Result<(), Failed> {
    let _g = host_lock();
    let live = Live::up()?;
    let id = live.run_id.clone();
    let mut names = netns_of(&id);
    names.sort();
    check(names == [format!("{id}-cli"), format!("{id}-gw"), format!("{id}-svr")], || format!("namespaces {names:?}"))?;
    check(live.topo().netns_names() == ["cli", "gw", "svr"], || format!("netns_names {:?}", live.topo().netns_names()))?;

    // The veths never reach the initial namespace.
    let host_links = ip(&["-o", "link", "show"])?;
    for ifname in IFNAMES {
        check(!host_links.contains(&format!(" {ifname}@")) && !host_links.contains(&format!(" {ifname}:")), || {
            format!("{ifname} is in the host namespace")
        })?;
    }
    // `ip netns exec` works on our namespaces, and sees what the plan asked for.
    let expect = [
        ("cli", "cli-veth", "10.0.123.1/24"),
        ("gw", "cligw-veth", "10.0.123.254/24"),
        ("svr", "svr-veth", "192.168.123.1/24"),
        ("gw", "svrgw-veth", "192.168.123.254/24"),
    ];
    for (ns, ifname, addr) in expect {
        let real = format!("{id}-{ns}");
        let link = ip(&["netns", "exec", &real, "ip", "-d", "link", "show", ifname])?;
        check(link.contains("state UP") || link.contains(",UP"), || format!("{ifname} in {ns} is not up: {link}"))?;
        check(link.contains(&format!("alias {id}")), || format!("{ifname} has no alias {id}: {link}"))?;
        check(link.contains("veth"), || format!("{ifname} is not a veth: {link}"))?;
        let addrs = ip(&["-n", &real, "-o", "addr", "show", "dev", ifname])?;
        check(addrs.contains(&format!("inet {addr}")), || format!("{ifname} in {ns} lacks {addr}: {addrs}"))?;
        check(live.topo().link_netns(ifname) == Some(ns), || format!("link_netns({ifname})"))?;
        let lo = ip(&["-n", &real, "link", "show", "lo"])?;
        check(lo.contains("UP"), || format!("lo down in {ns}: {lo}"))?;
    }
    for (ns, gw) in [("cli", "10.0.123.254"), ("svr", "192.168.123.254")] {
        let routes = ip(&["-n", &format!("{id}-{ns}"), "route", "show", "default"])?;
        check(routes.contains(&format!("default via {gw}")), || format!("default route in {ns}: {routes:?}"))?;
    }
    for ns in ["cli", "gw", "svr"] {
        let v = sysctl::read(Some(&live.path(ns)), "net.ipv4.route.mtu_expires")?;
        check(v.as_deref() == Some("1"), || format!("mtu_expires in {ns} is {v:?}"))?;
        let fwd = sysctl::read(Some(&live.path(ns)), "net.ipv4.ip_forward")?;
        let want = if ns == "gw" { "1" } else { "0" };
        check(fwd.as_deref() == Some(want), || format!("ip_forward in {ns} is {fwd:?}"))?;
    }
    check(crate::support::sysctl(TIMEOUT_KEY) == "1", || format!("{TIMEOUT_KEY} not set"))?;
    let rec = live.ledger.snapshot();
    check(rec.netns.len() == 3 && rec.sysctls.iter().any(|s| s.key == TIMEOUT_KEY), || format!("ledger {rec:?}"))?;
    let report = live.down();
    check(report.problems.is_empty(), || format!("teardown problems {:?}", report.problems))
}

fn tcp_through_gw() -> Result<(), Failed> {
    let _g = host_lock();
    let live = Live::up()?;
    let addr: SocketAddr = "192.168.123.1:5001".parse()?;
    let listener = in_netns(&live.path("svr"), move || TcpListener::bind(addr))??;
    let server = std::thread::spawn(move || -> std::io::Result<(Vec<u8>, SocketAddr)> {
        let (mut s, peer) = listener.accept()?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        s.write_all(&got)?;
        Ok((got, peer))
    });
    let sent: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let stream = in_netns(&live.path("cli"), move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))??;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = stream.try_clone()?;
    let payload = sent.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        w.write_all(&payload)?;
        w.shutdown(std::net::Shutdown::Write)
    });
    let mut back = Vec::new();
    (&stream).read_to_end(&mut back)?;
    writer.join().map_err(|_| fail("writer panicked"))??;
    let (got, peer) = server.join().map_err(|_| fail("server panicked"))??;
    check(got == sent && back == sent, || {
        format!("round trip lost bytes: sent {}, server got {}, back {}", sent.len(), got.len(), back.len())
    })?;
    check(peer.ip().to_string() == "10.0.123.1", || format!("the server saw {peer}, not cli's address: not routed through gw"))?;
    // Without forwarding in gw the same exchange must fail: gw really is the path.
    sysctl::write(Some(&live.path("gw")), "net.ipv4.ip_forward", "0")?;
    let refused = in_netns(&live.path("cli"), move || TcpStream::connect_timeout(&addr, Duration::from_millis(500)))?;
    check(refused.is_err(), || "connected with forwarding off in gw".into())?;
    let report = live.down();
    check(report.problems.is_empty(), || format!("teardown problems {:?}", report.problems))
}

fn mtu_changes() -> Result<(), Failed> {
    let _g = host_lock();
    let live = Live::up()?;
    let id = live.run_id.clone();
    for mtu in [1400, 1300, 1100, 1000] {
        for ifname in IFNAMES {
            live.rt.block_on(live.topo().set_mtu(ifname, mtu))?;
        }
        for ifname in IFNAMES {
            let read = live.rt.block_on(live.topo().mtu(ifname))?;
            check(read == mtu, || format!("{ifname}: set {mtu}, read back {read}"))?;
            let ns = live.topo().link_netns(ifname).unwrap();
            let shown = ip(&["-n", &format!("{id}-{ns}"), "link", "show", ifname])?;
            check(shown.contains(&format!("mtu {mtu} ")), || format!("ip shows {shown}"))?;
        }
    }
    let bad = live.rt.block_on(live.topo().set_mtu("cli-veth", 10));
    check(bad.as_ref().is_err_and(|e| e.to_string().contains("cli-veth")), || format!("MTU 10 must fail naming the link: {bad:?}"))?;
    let unknown = live.rt.block_on(live.topo().set_mtu("eth0", 1400));
    check(unknown.is_err(), || "eth0 is not ours and must not be touched".into())?;
    live.rt.block_on(live.topo().set_up("cli-veth", false))?;
    let shown = ip(&["-n", &format!("{id}-cli"), "link", "show", "cli-veth"])?;
    check(!shown.contains(",UP"), || format!("cli-veth still up: {shown}"))?;
    live.rt.block_on(live.topo().set_up("cli-veth", true))?;
    let shown = ip(&["-n", &format!("{id}-cli"), "link", "show", "cli-veth"])?;
    check(shown.contains(",UP"), || format!("cli-veth not up again: {shown}"))?;
    let report = live.down();
    check(report.problems.is_empty(), || format!("teardown problems {:?}", report.problems))
}

fn teardown_leaves_nothing() -> Result<(), Failed> {
    let _g = host_lock();
    let before = crate::support::sysctl(TIMEOUT_KEY);
    let mut live = Live::up()?;
    let id = live.run_id.clone();
    let topo = live.topo.take().unwrap();
    let first = live.rt.block_on(topo.teardown(&live.ledger));
    check(first.problems.is_empty() && first.removed.len() == 3, || format!("first teardown {first:?}"))?;
    check(netns_of(&id).is_empty(), || format!("left in /run/netns: {:?}", netns_of(&id)))?;
    let ns_list = ip(&["netns", "list"])?;
    check(!ns_list.contains(&id), || format!("ip netns list still shows {id}: {ns_list}"))?;
    let now = crate::support::sysctl(TIMEOUT_KEY);
    check(now == before, || format!("{TIMEOUT_KEY} is {now}, was {before}"))?;
    let rec = live.ledger.snapshot();
    check(rec.netns.is_empty() && rec.sysctls.is_empty(), || format!("ledger still lists {rec:?}"))?;
    check(topo.netns_path("cli").is_none(), || "netns_path after teardown".into())?;
    let after = live.rt.block_on(topo.set_mtu("cli-veth", 1400));
    check(after.is_err(), || "set_mtu after teardown must fail".into())?;
    let second = live.rt.block_on(topo.teardown(&live.ledger));
    check(second.problems.is_empty() && second.removed.is_empty(), || format!("second teardown {second:?}"))?;
    let path = live.ledger.path().to_path_buf();
    live.ledger.clone().finish();
    check(!path.exists(), || "ledger file left".into())
}

fn failed_apply_rolls_back() -> Result<(), Failed> {
    let _g = host_lock();
    let before = crate::support::sysctl(TIMEOUT_KEY);
    let mut spec = fnhe_spec()?;
    // Validation would refuse this; the kernel refuses it too, half way through the build.
    spec.links[1].ends[1].name = "cligw-veth".into();
    let run_id = lab::engine::new_run_id();
    let ledger = Ledger::create(&run_id)?;
    let result = runtime().block_on(Topology::apply(&topology::plan(&spec, &run_id), &ledger));
    let err = match result {
        Ok(_) => return Err(fail("a duplicate interface name must fail")),
        Err(e) => e.to_string(),
    };
    check(err == "creating veth svr-veth <-> cligw-veth: File exists", || format!("error names the object: {err}"))?;
    check(netns_of(&run_id).is_empty(), || format!("left behind: {:?}", netns_of(&run_id)))?;
    check(crate::support::sysctl(TIMEOUT_KEY) == before, || "global sysctl changed".into())?;
    check(ledger.snapshot().netns.is_empty(), || format!("ledger {:?}", ledger.snapshot()))?;
    ledger.finish();
    Ok(())
}

fn clean_dead_run() -> Result<(), Failed> {
    let _g = host_lock();
    let before = crate::support::sysctl(TIMEOUT_KEY);
    let mut child = Command::new("true").spawn()?;
    let dead = child.id() as i32;
    child.wait()?;
    let run_id = lab::engine::new_run_id();
    let ledger = Ledger::create_for_pid(&run_id, dead)?;
    let file = ledger.path().to_path_buf();
    {
        let rt = runtime();
        let topo = rt.block_on(Topology::apply(&topology::plan(&fnhe_spec()?, &run_id), &ledger)).map_err(|e| fail(e.to_string()))?;
        // The "run" dies: no teardown. Dropping the runtime closes its netlink sockets.
        drop(topo);
    }
    drop(ledger);
    check(netns_of(&run_id).len() == 3 && crate::support::sysctl(TIMEOUT_KEY) == "1", || {
        "the dead run must leave its namespaces and sysctl".into()
    })?;
    check(!cleanup::owner_alive(&serde_json::from_slice(&std::fs::read(&file)?)?), || format!("pid {dead} should be dead"))?;
    let report = cleanup::clean(false);
    let text = report.to_string();
    check(netns_of(&run_id).is_empty(), || format!("namespaces left: {:?}\n{text}", netns_of(&run_id)))?;
    let now = crate::support::sysctl(TIMEOUT_KEY);
    check(now == before, || format!("{TIMEOUT_KEY} is {now}, was {before}\n{text}"))?;
    check(!file.exists(), || format!("ledger {} left\n{text}", file.display()))?;
    for ns in ["cli", "gw", "svr"] {
        check(text.contains(&format!("{run_id}-{ns}")), || format!("report does not name {run_id}-{ns}:\n{text}"))?;
    }
    check(Path::new("/run/netns").exists(), || "/run/netns vanished".into())
}
