//! The snapshot file (`--snapshot`): restarts that find the cluster again without `--join`,
//! with rumor's own snapshots and with a real Serf 0.9.4 agent's; no replay of handled
//! events; bad files; graceful leave. Each test has its own 127.0.7X.0/24 (75 to 79).
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const FORM: Duration = Duration::from_secs(45);
const DETECT: Duration = Duration::from_secs(90);

/// One agent's addresses.
struct Node {
    name: String,
    ip: String,
    port: u16,
    rpc_port: u16,
}

impl Node {
    fn new(name: &str, ip: String) -> Node {
        Node {
            name: name.to_string(),
            port: free_port(&ip),
            rpc_port: free_port(&ip),
            ip,
        }
    }
    fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
    fn rpc(&self) -> String {
        format!("{}:{}", self.ip, self.rpc_port)
    }
    /// A rumor agent for this node; `label` names its log file (restarts get their own).
    fn rumor(&self, dir: &Path, label: &str, extra: &[&str]) -> Proc {
        let mut cmd = Command::new(rumor_bin());
        cmd.arg("agent")
            .args(["--node", &self.name, "--dc", "dc1"])
            .args(["--bind", &self.addr()])
            .args(["--rpc-addr", &self.rpc()])
            .args(["--log-level", "debug"])
            .args(extra);
        Proc::spawn(label, cmd, dir)
    }
}

fn snap_arg(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn status(rpc: &str, of: &str) -> Option<String> {
    status_of(&rumor_members(rpc), of)
}

fn wait_status(observer: &str, rpc: &str, of: &str, want: &str, limit: Duration) {
    eventually(&format!("{observer} sees {of} {want}"), limit, || {
        status(rpc, of).as_deref() == Some(want)
    });
}

/// The agent's member clock (`rumor info`: serf.member_time).
fn member_time(rpc: &str) -> Option<u64> {
    let out = rumor_cli(&[
        "info",
        "--format",
        "json",
        "--rpc-addr",
        rpc,
        "--timeout",
        "3",
    ]);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["serf"]["member_time"].as_str()?.parse().ok()
}

/// The last `clock: N` in a snapshot file.
fn last_clock(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("clock: "))
        .and_then(|v| v.parse().ok())
}

fn sigterm(p: &mut Proc) {
    let pid = p.child.as_ref().unwrap().id();
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        p.wait_exit(Duration::from_secs(20)).is_some(),
        "{} did not stop on SIGTERM",
        p.name
    );
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// (a) Killed with -9 and restarted with its snapshot, an agent rejoins without `--join`, and
/// its member clock does not go back.
#[test]
fn killed_agent_rejoins_from_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (1..=3)
        .map(|i| Node::new(&format!("n{i}"), format!("127.0.75.{i}")))
        .collect();
    let snaps: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("n{i}.snap")))
        .collect();
    let mut procs = Vec::new();
    procs.push(nodes[0].rumor(dir.path(), "n1", &["--snapshot", &snap_arg(&snaps[0])]));
    eventually("n1 answers RPC", FORM, || {
        rumor_members(&nodes[0].rpc()).is_some()
    });
    for i in 1..3 {
        procs.push(nodes[i].rumor(
            dir.path(),
            &nodes[i].name,
            &[
                "--snapshot",
                &snap_arg(&snaps[i]),
                "--join",
                &nodes[0].addr(),
            ],
        ));
    }
    for o in &nodes {
        for n in &nodes {
            wait_status(&o.name, &o.rpc(), &n.name, "alive", FORM);
        }
    }
    // n3's snapshot knows both others and its clock, flushed within 500 ms.
    let n3 = &nodes[2];
    let before = member_time(&n3.rpc()).unwrap();
    eventually("n3's snapshot is written", Duration::from_secs(5), || {
        let t = read(&snaps[2]);
        t.contains(&format!("alive: n1 {}\n", nodes[0].addr()))
            && t.contains(&format!("alive: n2 {}\n", nodes[1].addr()))
            && last_clock(&t).is_some_and(|c| c + 1 >= before)
    });
    procs[2].kill9();
    wait_status("n1", &nodes[0].rpc(), "n3", "failed", DETECT);
    let restarted = Instant::now();
    let _n3b = n3.rumor(
        dir.path(),
        "n3-restart",
        &["--snapshot", &snap_arg(&snaps[2])],
    );
    for o in &nodes {
        for n in &nodes {
            wait_status(&o.name, &o.rpc(), &n.name, "alive", FORM);
        }
    }
    let took = restarted.elapsed();
    assert!(took < FORM, "rejoined after {took:?}");
    let after = member_time(&n3.rpc()).unwrap();
    assert!(
        after >= before,
        "member clock went back: {before} -> {after}"
    );
    let log = read(&dir.path().join("n3-restart.log"));
    assert_eq!(
        count(&log, "Re-joined to previously known node: "),
        1,
        "exactly one successful rejoin:\n{log}"
    );
    assert!(
        log.contains(&format!("n1: {}", nodes[0].addr()))
            || log.contains(&format!("n2: {}", nodes[1].addr())),
        "{log}"
    );
    assert!(!log.contains("Failed to re-join"), "{log}");
}

/// (b) A rumor agent started on a real serf agent's snapshot rejoins the other serf agent.
#[test]
fn rumor_restarts_from_a_serf_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Node::new("s1", "127.0.76.1".into());
    let s2 = Node::new("s2", "127.0.76.2".into());
    let snap1 = dir.path().join("s1.snap");
    let snap2 = dir.path().join("s2.snap");
    let _p1 = serf_agent(
        dir.path(),
        "s1",
        &s1.ip,
        s1.port,
        s1.rpc_port,
        &[&format!("-snapshot={}", snap_arg(&snap1))],
    );
    eventually("s1 answers RPC", FORM, || serf_members(&s1.rpc()).is_some());
    let mut p2 = serf_agent(
        dir.path(),
        "s2",
        &s2.ip,
        s2.port,
        s2.rpc_port,
        &[
            &format!("-snapshot={}", snap_arg(&snap2)),
            &format!("-join={}", s1.addr()),
        ],
    );
    eventually("s1 sees s2 alive", FORM, || {
        status_of(&serf_members(&s1.rpc()), "s2").as_deref() == Some("alive")
    });
    // Serf flushes its buffer only on a later append or at shutdown.
    sigterm(&mut p2);
    assert!(
        read(&snap2).contains(&format!("alive: s1 {}\n", s1.addr())),
        "{}",
        read(&snap2)
    );
    eventually("s1 sees s2 failed", DETECT, || {
        status_of(&serf_members(&s1.rpc()), "s2").as_deref() == Some("failed")
    });
    let written_by_serf = read(&snap2);
    let _r2 = s2.rumor(dir.path(), "s2-rumor", &["--snapshot", &snap_arg(&snap2)]);
    eventually("s1 sees s2 (now rumor) alive", FORM, || {
        status_of(&serf_members(&s1.rpc()), "s2").as_deref() == Some("alive")
    });
    wait_status("s2 (rumor)", &s2.rpc(), "s1", "alive", FORM);
    let log = read(&dir.path().join("s2-rumor.log"));
    assert!(
        log.contains(&format!(
            "Re-joined to previously known node: s1: {}",
            s1.addr()
        )),
        "{log}"
    );
    assert!(
        !log.contains("skipped"),
        "serf's file reads cleanly:\n{log}"
    );
    // rumor appends to serf's file: what serf wrote is still its beginning.
    eventually("rumor appended to the file", Duration::from_secs(5), || {
        let now = read(&snap2);
        now.len() > written_by_serf.len() && now.starts_with(&written_by_serf)
    });
}

/// (c) A restarted agent does not handle again a user event it handled before the restart,
/// and does handle a new one.
#[test]
fn restarted_agent_does_not_replay_handled_events() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::new("a", "127.0.77.1".into());
    let b = Node::new("b", "127.0.77.2".into());
    let snap = dir.path().join("b.snap");
    let _pa = a.rumor(dir.path(), "a", &[]);
    eventually("a answers RPC", FORM, || rumor_members(&a.rpc()).is_some());
    let mut pb = b.rumor(
        dir.path(),
        "b",
        &["--snapshot", &snap_arg(&snap), "--join", &a.addr()],
    );
    wait_status("a", &a.rpc(), "b", "alive", FORM);
    let out = rumor_cli(&["event", "--rpc-addr", &a.rpc(), "deploy-one", "x"]);
    assert!(out.status.success(), "{out:?}");
    eventually("b handles the event", FORM, || {
        read(&pb.log).contains("user event: deploy-one")
    });
    eventually(
        "b's snapshot has the event clock",
        Duration::from_secs(5),
        || read(&snap).contains("event-clock: "),
    );
    pb.kill9();
    assert_eq!(count(&read(&pb.log), "user event: deploy-one"), 1);
    let pb2 = b.rumor(dir.path(), "b-restart", &["--snapshot", &snap_arg(&snap)]);
    eventually("b rejoins", FORM, || {
        read(&pb2.log).contains("Re-joined to previously known node: a: ")
    });
    wait_status("a", &a.rpc(), "b", "alive", FORM);
    let out = rumor_cli(&["event", "--rpc-addr", &a.rpc(), "deploy-two", "y"]);
    assert!(out.status.success(), "{out:?}");
    eventually("restarted b handles a new event", FORM, || {
        read(&pb2.log).contains("user event: deploy-two")
    });
    let log = read(&pb2.log);
    assert_eq!(count(&log, "user event: deploy-two"), 1, "{log}");
    assert_eq!(
        count(&log, "user event: deploy-one"),
        0,
        "the old event came back after the restart:\n{log}"
    );
}

/// (d) A corrupt, cut snapshot: the agent starts, warns naming the file and each bad line,
/// uses what it could read, and leaves no cut line behind.
#[test]
fn corrupt_snapshot_warns_and_starts() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::new("c", "127.0.78.1".into());
    let gone = Node::new("gone", "127.0.78.2".into());
    let snap = dir.path().join("c.snap");
    let text = format!(
        "alive: gone {}\n\u{1}garbage\nclock: 12x\nevent-clock: 40\nquery-cl",
        gone.addr()
    );
    std::fs::write(&snap, text).unwrap();
    let p = n.rumor(dir.path(), "c", &["--snapshot", &snap_arg(&snap)]);
    eventually("c answers RPC", FORM, || rumor_members(&n.rpc()).is_some());
    let path = snap.display().to_string();
    eventually(
        "warnings for lines 2, 3 and 5",
        Duration::from_secs(10),
        || {
            let log = read(&p.log);
            [2, 3, 5]
                .iter()
                .all(|l| log.contains(&format!("snapshot {path} line {l}: ")))
        },
    );
    let log = read(&p.log);
    assert!(!log.contains(&format!("snapshot {path} line 1:")), "{log}");
    assert!(!log.contains(&format!("snapshot {path} line 4:")), "{log}");
    assert!(log.contains("last line is not terminated"), "{log}");
    // The one good member is tried (nobody answers there).
    eventually("rejoin gives up", FORM, || {
        read(&p.log).contains("Failed to re-join any previously known node")
    });
    assert!(read(&p.log).contains(&format!(
        "Attempting re-join to previously known node: gone: {}",
        gone.addr()
    )));
    // The cut line was compacted away and what was read kept; the file now reads cleanly.
    let now = read(&snap);
    let r = rumor_serf::snapshot::replay(now.as_bytes(), false);
    assert!(r.errors.is_empty(), "{:?}\n{now}", r.errors);
    assert_eq!(r.state.event_clock, 40);
    assert!(r.state.alive.contains_key("gone"), "{now}");
    assert!(r.state.alive.contains_key("c"), "{now}");
}

/// (e) After a graceful leave the snapshot ends with `leave`; a plain restart does not
/// rejoin; a restart with `--rejoin` does.
#[test]
fn graceful_leave_is_recorded_and_not_rejoined() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::new("a", "127.0.79.1".into());
    let b = Node::new("b", "127.0.79.2".into());
    let snap = dir.path().join("b.snap");
    let _pa = a.rumor(dir.path(), "a", &[]);
    eventually("a answers RPC", FORM, || rumor_members(&a.rpc()).is_some());
    let mut pb = b.rumor(
        dir.path(),
        "b",
        &["--snapshot", &snap_arg(&snap), "--join", &a.addr()],
    );
    wait_status("a", &a.rpc(), "b", "alive", FORM);
    eventually("b's snapshot knows a", Duration::from_secs(5), || {
        read(&snap).contains(&format!("alive: a {}\n", a.addr()))
    });
    let out = rumor_cli(&["leave", "--rpc-addr", &b.rpc()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        pb.wait_exit(Duration::from_secs(30)).is_some(),
        "b did not exit"
    );
    let text = read(&snap);
    assert!(text.ends_with("leave\n"), "{text}");
    assert_eq!(count(&text, "leave\n"), 1, "{text}");
    wait_status("a", &a.rpc(), "b", "left", FORM);
    // A plain restart: no rejoin, b stays alone and left in a's eyes.
    let plain = b.rumor(dir.path(), "b-plain", &["--snapshot", &snap_arg(&snap)]);
    eventually("b answers RPC", FORM, || rumor_members(&b.rpc()).is_some());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let mine = rumor_members(&b.rpc()).unwrap();
        assert_eq!(mine.len(), 1, "b found members without rejoining: {mine:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(status(&a.rpc(), "b").as_deref(), Some("left"));
    let log = read(&plain.log);
    assert!(!log.contains("re-join"), "{log}");
    drop(plain);
    // With --rejoin the leave is ignored and b finds a again.
    let again = b.rumor(
        dir.path(),
        "b-rejoin",
        &["--snapshot", &snap_arg(&snap), "--rejoin"],
    );
    eventually("b rejoins with --rejoin", FORM, || {
        read(&again.log).contains(&format!(
            "Re-joined to previously known node: a: {}",
            a.addr()
        ))
    });
    wait_status("a", &a.rpc(), "b", "alive", FORM);
}
