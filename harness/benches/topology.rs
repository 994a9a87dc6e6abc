//! Build + teardown of the fnhe-leak topology (three namespaces, two veth pairs, four
//! addresses, two routes, per-namespace sysctls): over netlink by `lab::topology`, against
//! the same topology made by an `ip` command script, measured in one run, interleaved.
//!
//! `sudo cargo bench -p lab --bench topology` (root needed); `LAB_BENCH_ITERS=50` for more
//! iterations (default 20). Global sysctls of the scenario are left out of both sides: the
//! benchmark changes nothing in the initial namespace.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use lab::cleanup::Ledger;
use lab::scenario::TopologySpec;
use lab::topology::{self, Topology, TopologyPlan};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("topology bench: needs root (it creates network namespaces); skipped");
        return;
    }
    let iters: usize = std::env::var("LAB_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fnhe-leak.yaml");
    let mut spec: TopologySpec = lab::scenario::load(&repo).expect("scenarios/fnhe-leak.yaml").scenario.topology;
    spec.sysctls.clear();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    // One warm-up of each, not measured (page cache, module loading, first /run/netns mount).
    netlink_once(&rt, &spec);
    script_once(&spec);

    let (mut nl, mut sh) = (Samples::default(), Samples::default());
    for i in 0..iters {
        // Alternate who goes first so background namespace cleanup hits both alike.
        if i % 2 == 0 {
            nl.push(netlink_once(&rt, &spec));
            sh.push(script_once(&spec));
        } else {
            sh.push(script_once(&spec));
            nl.push(netlink_once(&rt, &spec));
        }
    }
    println!("topology build+teardown, fnhe-leak (3 netns, 2 veth pairs), {iters} iterations each");
    println!("{:<10} {:>12} {:>12} {:>14} {:>14}", "", "mean", "median", "build (med)", "teardown (med)");
    nl.print("netlink");
    sh.print("ip script");
    let (a, b) = (nl.median(|s| s.0 + s.1), sh.median(|s| s.0 + s.1));
    println!(
        "ratio (ip script / netlink): median {:.1}x, mean {:.1}x",
        b.as_secs_f64() / a.as_secs_f64(),
        sh.mean().as_secs_f64() / nl.mean().as_secs_f64()
    );
}

#[derive(Default)]
struct Samples(Vec<(Duration, Duration)>);

impl Samples {
    fn push(&mut self, s: (Duration, Duration)) {
        self.0.push(s);
    }
    fn mean(&self) -> Duration {
        self.0.iter().map(|s| s.0 + s.1).sum::<Duration>() / self.0.len() as u32
    }
    fn median(&self, f: impl Fn(&(Duration, Duration)) -> Duration) -> Duration {
        let mut v: Vec<Duration> = self.0.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    }
    fn print(&self, name: &str) {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "{name:<10} {:>12} {:>12} {:>14} {:>14}",
            ms(self.mean()),
            ms(self.median(|s| s.0 + s.1)),
            ms(self.median(|s| s.0)),
            ms(self.median(|s| s.1))
        );
    }
}

/// One build + teardown through `lab::topology`, ledger included.
fn netlink_once(rt: &tokio::runtime::Runtime, spec: &TopologySpec) -> (Duration, Duration) {
    let run_id = lab::engine::new_run_id();
    let t0 = Instant::now();
    let ledger = Ledger::create(&run_id).expect("ledger");
    let plan = topology::plan(spec, &run_id);
    let topo = rt.block_on(Topology::apply(&plan, &ledger)).expect("apply");
    let built = t0.elapsed();
    let t1 = Instant::now();
    let report = rt.block_on(topo.teardown(&ledger));
    drop(topo);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    ledger.finish();
    (built, t1.elapsed())
}

/// One build + teardown by `bash -e` running the `ip` commands an operator would type.
fn script_once(spec: &TopologySpec) -> (Duration, Duration) {
    let run_id = lab::engine::new_run_id();
    let plan = topology::plan(spec, &run_id);
    let (up, down) = ip_script(&plan);
    let t0 = Instant::now();
    run_script(&up);
    let built = t0.elapsed();
    let t1 = Instant::now();
    run_script(&down);
    (built, t1.elapsed())
}

fn run_script(script: &str) {
    let out = Command::new("bash").args(["-e", "-c", script]).output().expect("bash");
    assert!(out.status.success(), "script failed: {}\n{script}", String::from_utf8_lossy(&out.stderr));
}

/// The `ip` equivalent of `plan`: (build script, teardown script).
fn ip_script(plan: &TopologyPlan) -> (String, String) {
    let real = |ns: &str| plan.netns(ns).expect("planned").real_name.clone();
    let (mut up, mut down) = (String::new(), String::new());
    for ns in &plan.namespaces {
        writeln!(up, "ip netns add {}", ns.real_name).unwrap();
        let keys: Vec<String> = ns.sysctls.iter().filter(|s| !s.after_links).map(|s| format!("{}={}", s.key, s.value)).collect();
        if !keys.is_empty() {
            writeln!(up, "ip netns exec {} sysctl -qw {}", ns.real_name, keys.join(" ")).unwrap();
        }
        writeln!(up, "ip -n {} link set lo up", ns.real_name).unwrap();
        writeln!(down, "ip netns del {}", ns.real_name).unwrap();
    }
    for v in &plan.veths {
        let mtu = |m: Option<u32>| m.map(|m| format!(" mtu {m}")).unwrap_or_default();
        writeln!(
            up,
            "ip link add {}{} netns {} type veth peer name {}{} netns {}",
            v.a.name,
            mtu(v.a.mtu),
            real(&v.a.netns),
            v.b.name,
            mtu(v.b.mtu),
            real(&v.b.netns)
        )
        .unwrap();
    }
    for e in plan.ends() {
        for a in &e.addresses {
            writeln!(up, "ip -n {} addr add {a} dev {}", real(&e.netns), e.name).unwrap();
        }
        writeln!(up, "ip -n {} link set {} alias {}{}", real(&e.netns), e.name, plan.run_id, if e.up { " up" } else { "" }).unwrap();
    }
    for r in &plan.routes {
        let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
        let dev = r.dev.as_ref().map(|d| format!(" dev {d}")).unwrap_or_default();
        writeln!(up, "ip -n {} route add {}{via}{dev}", real(&r.netns), r.to).unwrap();
    }
    for ns in &plan.namespaces {
        let keys: Vec<String> = ns.sysctls.iter().filter(|s| s.after_links).map(|s| format!("{}={}", s.key, s.value)).collect();
        if !keys.is_empty() {
            writeln!(up, "ip netns exec {} sysctl -qw {}", ns.real_name, keys.join(" ")).unwrap();
        }
    }
    (up, down)
}
