//! The datacenter guard with real processes on loopback: rumor agents and real Serf 0.9.4
//! agents, cross-datacenter joins, a Serf agent bridging two datacenters, an agent restarted
//! into another datacenter, SIGHUP reloads of the guard's settings, untagged members and the
//! switches `--allow-untagged` and `--guard off`.
//!
//! Each test has its own 127.0.10X.0/24 (X = 0..9), so tests run side by side; every process
//! is killed when its test ends, pass or fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::*;

const FORM: Duration = Duration::from_secs(45);

/// One node of a test: its addresses.
struct Node {
    name: &'static str,
    ip: String,
    port: u16,
    rpc_port: u16,
}

impl Node {
    fn new(net: u8, host: u8, name: &'static str) -> Node {
        let ip = format!("127.0.{net}.{host}");
        let port = free_port(&ip);
        let rpc_port = free_port(&ip);
        Node {
            name,
            ip,
            port,
            rpc_port,
        }
    }
    fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
    fn rpc(&self) -> String {
        format!("{}:{}", self.ip, self.rpc_port)
    }
}

/// A rumor agent of datacenter `dc` (the `local` profile); `dc` None: taken from `--config`.
fn rumor(dir: &Path, n: &Node, dc: Option<&str>, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(rumor_bin());
    cmd.arg("agent")
        .args(["--node", n.name])
        .args(["--bind", &n.addr()])
        .args(["--rpc-addr", &n.rpc()])
        .args(["--profile", "local", "--log-level", "debug"])
        .args(extra);
    if let Some(dc) = dc {
        cmd.args(["--dc", dc]);
    }
    Proc::spawn(n.name, cmd, dir)
}

/// A real serf agent (the `local` profile) with exactly `tags` (no `dc` tag unless given).
fn serf(dir: &Path, n: &Node, tags: &[&str], extra: &[&str]) -> Proc {
    let mut cmd = Command::new(serf_bin());
    cmd.arg("agent")
        .arg(format!("-node={}", n.name))
        .arg(format!("-bind={}", n.addr()))
        .arg(format!("-rpc-addr={}", n.rpc()))
        .arg("-profile=local")
        .arg("-log-level=debug");
    for t in tags {
        cmd.arg(format!("-tag={t}"));
    }
    cmd.args(extra);
    Proc::spawn(n.name, cmd, dir)
}

/// Member names and statuses as `rumor members` reports them.
fn view(n: &Node) -> Option<BTreeSet<(String, String)>> {
    rumor_members(&n.rpc()).map(|l| l.into_iter().map(|m| (m.0, m.1)).collect())
}

/// The same from a serf agent.
fn serf_view(n: &Node) -> Option<BTreeSet<(String, String)>> {
    serf_members(&n.rpc()).map(|l| l.into_iter().map(|m| (m.0, m.1)).collect())
}

/// `names`, all alive.
fn all_alive(names: &[&str]) -> BTreeSet<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), "alive".to_string()))
        .collect()
}

fn has_alive(v: &Option<BTreeSet<(String, String)>>, name: &str) -> bool {
    v.as_ref()
        .is_some_and(|s| s.contains(&(name.to_string(), "alive".to_string())))
}

fn wait_view(n: &Node, want: &BTreeSet<(String, String)>, limit: Duration) {
    eventually(&format!("{} lists exactly {want:?}", n.name), limit, || {
        view(n).as_ref() == Some(want)
    });
}

fn up(n: &Node) {
    eventually(&format!("{} answers RPC", n.name), FORM, || {
        view(n).is_some()
    });
}

fn serf_up(n: &Node) {
    eventually(&format!("{} answers RPC", n.name), FORM, || {
        serf_view(n).is_some()
    });
}

fn join(from: &Node, to: &Node) -> Output {
    rumor_cli(&["join", "--rpc-addr", &from.rpc(), &to.addr()])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A counter of the `serf` section of `rumor info`.
fn stat(n: &Node, key: &str) -> u64 {
    let out = rumor_cli(&["info", "--format", "json", "--rpc-addr", &n.rpc()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["serf"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no serf.{key} in {v}"))
        .parse()
        .unwrap()
}

/// The agent's own tags as `rumor info` shows them.
fn own_tags(n: &Node) -> serde_json::Value {
    let out = rumor_cli(&["info", "--format", "json", "--rpc-addr", &n.rpc()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["tags"].clone()
}

/// `kill -HUP`.
fn sighup(p: &Proc) {
    let pid = p.child.as_ref().unwrap().id();
    let out = run(
        {
            let mut c = Command::new("kill");
            c.args(["-HUP", &pid.to_string()]);
            c
        },
        Duration::from_secs(5),
    );
    assert!(out.status.success(), "kill -HUP {pid}: {}", stderr(&out));
}

fn pid(p: &Proc) -> u32 {
    p.child.as_ref().unwrap().id()
}

/// The process is still running.
fn running(p: &mut Proc) -> bool {
    p.child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

/// Asserts the one-line refusal of a join of `ours` (datacenter `our_dc`) through `theirs`
/// (datacenter `their_dc`): refused by our guard (it names the remote node, its datacenter
/// and ours) or by the remote's (naming a member of ours, our datacenter and its), and it
/// says how to federate.
fn assert_foreign_refusal(o: &Output, our_dc: &str, theirs: &str, their_dc: &str) {
    assert!(
        !o.status.success(),
        "the join should have been refused: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    let by_us = format!(
        "node '{theirs}' is in datacenter '{their_dc}', but the LAN pool it would join is datacenter '{our_dc}'"
    );
    // The remote names the first of our members it refused (us or another of our pool).
    let by_them = format!(
        "' is in datacenter '{our_dc}', but the LAN pool it would join is datacenter '{their_dc}'"
    );
    let refused_by_them = err.contains("remote error: node '") && err.contains(&by_them);
    assert!(err.contains(&by_us) || refused_by_them, "{err}");
    for part in [
        "rumor agent --server --wan-bind",
        "--wan-join",
        "rumor join --wan",
    ] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
}

#[test]
fn a_cross_datacenter_join_fails_both_ways_and_changes_no_member_list() {
    let dir = tempfile::tempdir().unwrap();
    let a1 = Node::new(100, 1, "a1");
    let a2 = Node::new(100, 2, "a2");
    let b1 = Node::new(100, 3, "b1");
    let b2 = Node::new(100, 4, "b2");
    let mut p = Vec::new();
    p.push(rumor(dir.path(), &a1, Some("dc1"), &[]));
    p.push(rumor(dir.path(), &b1, Some("dc2"), &[]));
    up(&a1);
    up(&b1);
    p.push(rumor(dir.path(), &a2, Some("dc1"), &["--join", &a1.addr()]));
    p.push(rumor(dir.path(), &b2, Some("dc2"), &["--join", &b1.addr()]));
    let dc1 = all_alive(&["a1", "a2"]);
    let dc2 = all_alive(&["b1", "b2"]);
    for n in [&a1, &a2] {
        wait_view(n, &dc1, FORM);
    }
    for n in [&b1, &b2] {
        wait_view(n, &dc2, FORM);
    }
    // dc1 joins dc2: refused by our own guard, naming both datacenters.
    assert_foreign_refusal(&join(&a1, &b1), "dc1", "b1", "dc2");
    // dc2 joins dc1.
    assert_foreign_refusal(&join(&b2, &a2), "dc2", "a2", "dc1");
    // Nothing leaked into either list, then or for a while after.
    for _ in 0..8 {
        assert_eq!(view(&a1).as_ref(), Some(&dc1));
        assert_eq!(view(&a2).as_ref(), Some(&dc1));
        assert_eq!(view(&b1).as_ref(), Some(&dc2));
        assert_eq!(view(&b2).as_ref(), Some(&dc2));
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn b_a_serf_agent_bridging_two_datacenters_leaks_nothing_and_push_pull_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = Node::new(101, 1, "r1");
    let r2 = Node::new(101, 2, "r2");
    let b = Node::new(101, 3, "b");
    let s3 = Node::new(101, 4, "s3");
    let s4 = Node::new(101, 5, "s4");
    let s5 = Node::new(101, 6, "s5");
    let mut p = Vec::new();
    p.push(rumor(dir.path(), &r1, Some("dc1"), &[]));
    up(&r1);
    p.push(rumor(dir.path(), &r2, Some("dc1"), &["--join", &r1.addr()]));
    p.push(serf(
        dir.path(),
        &b,
        &["dc=dc1"],
        &[&format!("-join={}", r1.addr())],
    ));
    let ours = all_alive(&["r1", "r2", "b"]);
    wait_view(&r1, &ours, FORM);
    wait_view(&r2, &ours, FORM);
    serf_up(&b);
    // Two serf agents of dc2 join the bridge, which has no guard.
    for n in [&s3, &s4] {
        p.push(serf(
            dir.path(),
            n,
            &["dc=dc2"],
            &[&format!("-join={}", b.addr())],
        ));
    }
    eventually("the bridge lists s3 and s4 alive", FORM, || {
        let v = serf_view(&b);
        has_alive(&v, "s3") && has_alive(&v, "s4")
    });
    let dropped0 = stat(&r1, "entries_dropped");
    let vetoed0 = stat(&r1, "merges_vetoed");
    let dropped2 = stat(&r2, "entries_dropped");
    let vetoed2 = stat(&r2, "merges_vetoed");
    // A bounded watch: the dc2 members never show up in a rumor agent's list, and the dc1
    // members stay alive in every view.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        for n in [&r1, &r2] {
            assert_eq!(view(n).as_ref(), Some(&ours), "{}'s list", n.name);
        }
        let v = serf_view(&b);
        for name in ["r1", "r2", "b"] {
            assert!(has_alive(&v, name), "the bridge sees {name} alive: {v:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Periodic push-pulls with the bridge go on: its dc2 entries are dropped one by one and
    // the exchange is not refused. Push-pull runs every 15 s with the local profile; in a
    // given round r1 or r2 picks the bridge, or the bridge picks one of them, with
    // probability 7/8 (r1 alone: 5/8), so both rumor agents are watched.
    eventually(
        "a periodic push-pull of r1 or r2 drops the bridge's dc2 entries",
        Duration::from_secs(120),
        || {
            // Never refused whole: a refused exchange would count here instead.
            for (n, v0) in [(&r1, vetoed0), (&r2, vetoed2)] {
                assert_eq!(
                    stat(n, "merges_vetoed"),
                    v0,
                    "{}: no exchange refused",
                    n.name
                );
            }
            stat(&r1, "entries_dropped") > dropped0 || stat(&r2, "entries_dropped") > dropped2
        },
    );
    assert_eq!(stat(&r1, "merges_vetoed"), vetoed0, "no exchange refused");
    assert_eq!(view(&r1).as_ref(), Some(&ours));
    // A join through the bridge succeeds too, dropping at least its two dc2 entries.
    let before = stat(&r1, "entries_dropped");
    let out = join(&r1, &b);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("contacting 1 nodes"));
    assert!(stat(&r1, "entries_dropped") >= before + 2);
    assert_eq!(stat(&r1, "merges_vetoed"), vetoed0);
    // A new dc1 member that joins only the bridge reaches both rumor agents.
    p.push(serf(
        dir.path(),
        &s5,
        &["dc=dc1"],
        &[&format!("-join={}", b.addr())],
    ));
    let with_s5 = all_alive(&["r1", "r2", "b", "s5"]);
    wait_view(&r1, &with_s5, FORM);
    wait_view(&r2, &with_s5, FORM);
}

#[test]
fn c_an_agent_restarted_into_another_datacenter_is_refused_and_dropped_by_its_old_pool() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = Node::new(102, 1, "r1");
    let r2 = Node::new(102, 2, "r2");
    let x = Node::new(102, 3, "x");
    let mut p = Vec::new();
    p.push(rumor(dir.path(), &r1, Some("dc1"), &[]));
    up(&r1);
    p.push(rumor(dir.path(), &r2, Some("dc1"), &["--join", &r1.addr()]));
    p.push(rumor(dir.path(), &x, Some("dc1"), &["--join", &r1.addr()]));
    let all = all_alive(&["r1", "r2", "x"]);
    for n in [&r1, &r2, &x] {
        wait_view(n, &all, FORM);
    }
    // kill -9 and start again at once, same name and address, in dc2.
    p[2].kill9();
    p[2] = rumor(dir.path(), &x, Some("dc2"), &[]);
    up(&x);
    assert_foreign_refusal(&join(&x, &r1), "dc2", "r1", "dc1");
    assert_eq!(view(&x), Some(all_alive(&["x"])));
    // The old pool drops it.
    for n in [&r1, &r2] {
        eventually(
            &format!("{} drops x", n.name),
            Duration::from_secs(90),
            || view(n).is_some_and(|v| !v.iter().any(|m| m.0 == "x")),
        );
    }
    for n in [&r1, &r2] {
        assert_eq!(view(n), Some(all_alive(&["r1", "r2"])));
    }
    assert_eq!(view(&x), Some(all_alive(&["x"])));
}

fn write_config(path: &Path, dc: &str, guard: &str) {
    std::fs::write(path, format!("dc = \"{dc}\"\nguard = {guard}\n")).unwrap();
}

#[test]
fn d_sighup_separates_a_mixed_pool_into_its_datacenters_without_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = [
        (Node::new(103, 1, "e1"), "dc1"),
        (Node::new(103, 2, "e2"), "dc1"),
        (Node::new(103, 3, "w1"), "dc2"),
        (Node::new(103, 4, "w2"), "dc2"),
    ];
    let cfg = |i: usize| dir.path().join(format!("{}.toml", nodes[i].0.name));
    for (i, (_, dc)) in nodes.iter().enumerate() {
        write_config(&cfg(i), dc, "false");
    }
    let mut p = Vec::new();
    for (i, (n, _)) in nodes.iter().enumerate() {
        let path = cfg(i).display().to_string();
        let first = nodes[0].0.addr();
        let mut extra = vec!["--config", path.as_str()];
        if i > 0 {
            extra.extend(["--join", first.as_str()]);
        }
        p.push(rumor(dir.path(), n, None, &extra));
        if i == 0 {
            up(n);
        }
    }
    let everyone = all_alive(&["e1", "e2", "w1", "w2"]);
    for (n, _) in &nodes {
        wait_view(n, &everyone, FORM);
    }
    for q in &p {
        assert!(q.log_text().contains("the datacenter guard is off"));
    }
    let pids: Vec<u32> = p.iter().map(pid).collect();
    // A bad file: an error in the log, the old settings kept, nothing lost.
    std::fs::write(cfg(0), "guard = maybe\n").unwrap();
    sighup(&p[0]);
    eventually("e1 logs the bad file", Duration::from_secs(10), || {
        p[0].log_text()
            .contains("the configuration was not applied; keeping the current settings")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(view(&nodes[0].0).as_ref(), Some(&everyone));
    // The guard on everywhere.
    for (i, (_, dc)) in nodes.iter().enumerate() {
        write_config(&cfg(i), dc, "true");
    }
    for q in &p {
        sighup(q);
    }
    let east = all_alive(&["e1", "e2"]);
    let west = all_alive(&["w1", "w2"]);
    for (n, dc) in &nodes {
        let want = if *dc == "dc1" { &east } else { &west };
        wait_view(n, want, Duration::from_secs(30));
    }
    for q in &p {
        let log = q.log_text();
        assert!(
            log.contains("reload applied: guard: off -> on; 2 member(s) purged"),
            "{}",
            q.name
        );
    }
    // And they stay apart.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(10) {
        for (n, dc) in &nodes {
            let want = if *dc == "dc1" { &east } else { &west };
            assert_eq!(view(n).as_ref(), Some(want), "{}'s list", n.name);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for (q, pid0) in p.iter_mut().zip(&pids) {
        assert!(running(q), "{} still runs", q.name);
        assert_eq!(pid(q), *pid0);
    }
}

#[test]
fn e_an_untagged_serf_agent_is_refused_until_tagged_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let r = Node::new(104, 1, "r");
    let u = Node::new(104, 2, "u");
    let mut p = vec![rumor(dir.path(), &r, Some("dc1"), &[])];
    p.push(serf(dir.path(), &u, &["role=web"], &[]));
    up(&r);
    serf_up(&u);
    let out = join(&r, &u);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for part in [
        "node 'u' carries no 'dc' tag",
        "datacenter 'dc1'",
        "serf tags -set dc=dc1",
        "--allow-untagged",
    ] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(view(&r), Some(all_alive(&["r"])));
    // Tag the running serf agent, as the message says; the same join then succeeds.
    let serf_pid = pid(&p[1]);
    let out = serf_cli(&["tags", &format!("-rpc-addr={}", u.rpc()), "-set", "dc=dc1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = join(&r, &u);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_view(&r, &all_alive(&["r", "u"]), FORM);
    eventually("u lists r", FORM, || has_alive(&serf_view(&u), "r"));
    assert!(running(&mut p[1]));
    assert_eq!(pid(&p[1]), serf_pid);
}

#[test]
fn f1_allow_untagged_admits_a_member_without_a_dc_tag() {
    let dir = tempfile::tempdir().unwrap();
    let r = Node::new(105, 1, "r");
    let u = Node::new(105, 2, "u");
    let v = Node::new(105, 3, "v");
    let mut p = vec![rumor(dir.path(), &r, Some("dc1"), &["--allow-untagged"])];
    p.push(serf(dir.path(), &u, &[], &[]));
    up(&r);
    serf_up(&u);
    let out = join(&r, &u);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_view(&r, &all_alive(&["r", "u"]), FORM);
    // Another datacenter is still refused.
    p.push(serf(dir.path(), &v, &["dc=dc2"], &[]));
    serf_up(&v);
    assert_foreign_refusal(&join(&r, &v), "dc1", "v", "dc2");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(view(&r), Some(all_alive(&["r", "u"])));
}

#[test]
fn f2_guard_off_admits_another_datacenter_and_warns_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let r = Node::new(106, 1, "r");
    let s = Node::new(106, 2, "s");
    let mut p = vec![rumor(dir.path(), &r, Some("dc1"), &["--guard", "off"])];
    p.push(serf(dir.path(), &s, &["dc=dc2"], &[]));
    up(&r);
    serf_up(&s);
    let log = p[0].log_text();
    assert!(
        log.contains("the datacenter guard is off: members of any datacenter are admitted"),
        "{log}"
    );
    let out = join(&r, &s);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_view(&r, &all_alive(&["r", "s"]), FORM);
    eventually("s lists r", FORM, || has_alive(&serf_view(&s), "r"));
}

#[test]
fn g_a_member_of_the_wan_pool_is_refused_by_a_lan_pool() {
    let dir = tempfile::tempdir().unwrap();
    let r = Node::new(107, 1, "r");
    let w = Node::new(107, 2, "w.dc1");
    let mut p = vec![rumor(dir.path(), &r, Some("dc1"), &["--allow-untagged"])];
    p.push(serf(
        dir.path(),
        &w,
        &["dc=dc1", "pool=wan", "role=server"],
        &[],
    ));
    up(&r);
    serf_up(&w);
    let out = join(&r, &w);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("node 'w.dc1' is a member of the WAN pool; join it with rumor join --wan"),
        "{err}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(view(&r), Some(all_alive(&["r"])));
}

#[test]
fn h_sighup_with_a_new_dc_moves_the_agent_and_a_server_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = Node::new(108, 1, "r1");
    let r2 = Node::new(108, 2, "r2");
    let x = Node::new(108, 3, "x");
    let y = Node::new(108, 4, "y");
    let xcfg = dir.path().join("x.toml");
    let ycfg = dir.path().join("y.toml");
    write_config(&xcfg, "dc1", "true");
    write_config(&ycfg, "dc1", "true");
    let mut p = vec![rumor(dir.path(), &r1, Some("dc1"), &[])];
    up(&r1);
    let (xc, yc) = (xcfg.display().to_string(), ycfg.display().to_string());
    p.push(rumor(dir.path(), &r2, Some("dc1"), &["--join", &r1.addr()]));
    p.push(rumor(
        dir.path(),
        &x,
        None,
        &["--config", &xc, "--join", &r1.addr()],
    ));
    // y is a server: it also runs the WAN pool.
    let y_wan = format!("{}:{}", y.ip, free_port(&y.ip));
    p.push(rumor(
        dir.path(),
        &y,
        None,
        &[
            "--config",
            &yc,
            "--server",
            "--wan-bind",
            &y_wan,
            "--join",
            &r1.addr(),
        ],
    ));
    let all = all_alive(&["r1", "r2", "x", "y"]);
    for n in [&r1, &r2, &x, &y] {
        wait_view(n, &all, FORM);
    }
    // A server refuses to change its datacenter.
    write_config(&ycfg, "dc2", "true");
    sighup(&p[3]);
    eventually("y warns", Duration::from_secs(10), || {
        p[3].log_text()
            .contains("dc: dc1 -> dc2 refused: a server keeps its datacenter")
    });
    assert_eq!(own_tags(&y)["dc"], "dc1");
    // x moves to dc2: it drops its old pool at once, and its old pool drops it.
    write_config(&xcfg, "dc2", "true");
    sighup(&p[2]);
    wait_view(&x, &all_alive(&["x"]), Duration::from_secs(10));
    assert!(p[2]
        .log_text()
        .contains("reload applied: dc: dc1 -> dc2; 3 member(s) purged"));
    assert_eq!(own_tags(&x)["dc"], "dc2");
    // x told each of them its new record as it left them: they drop it at once, and old
    // records of it that they pass each other do not bring it back.
    let rest = all_alive(&["r1", "r2", "y"]);
    for n in [&r1, &r2, &y] {
        wait_view(n, &rest, Duration::from_secs(10));
    }
    let joins = |i: usize| p[i].log_text().matches("member-join: x").count();
    let before: Vec<usize> = (0..2).chain(3..4).map(joins).collect();
    // Tag updates through RPC know the new datacenter: dc=dc2 is ours now, dc=dc1 is not.
    let out = serf_cli(&["tags", &format!("-rpc-addr={}", x.rpc()), "-set", "dc=dc2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = serf_cli(&["tags", &format!("-rpc-addr={}", x.rpc()), "-set", "dc=dc1"]);
    assert!(!out.status.success());
    assert_eq!(own_tags(&x)["dc"], "dc2");
    assert_eq!(view(&x), Some(all_alive(&["x"])));
    std::thread::sleep(Duration::from_secs(5));
    for n in [&r1, &r2, &y] {
        assert_eq!(view(n).as_ref(), Some(&rest), "{}'s list", n.name);
    }
    let after: Vec<usize> = (0..2).chain(3..4).map(joins).collect();
    assert_eq!(before, after, "x joined r1, r2 or y again");
}
