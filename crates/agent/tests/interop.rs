//! rumor agents and real Serf 0.9.4 agents in one cluster, on loopback.
//!
//! Each test makes its own cluster of two rumor and two serf agents on its own 127.0.X.0/24
//! addresses, so tests run side by side. Processes are killed when the test ends, pass or fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use support::*;

const FORM: Duration = Duration::from_secs(45);
const DETECT: Duration = Duration::from_secs(90);

// Fields drop in order: the agents (whose logs are printed on a panic) before their directory.
struct Cluster {
    procs: Vec<Proc>,
    ips: [String; 4],
    ports: [u16; 4],
    rpcs: [String; 4],
    _dir: tempfile::TempDir,
}

const NAMES: [&str; 4] = ["r1", "s1", "r2", "s2"];

/// r1 starts alone; s1 (serf) joins r1; r2 (rumor) joins s1; s2 (serf) joins r2. So each kind
/// joins the other kind and is joined by it.
fn cluster(net: u8) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ips: [String; 4] = std::array::from_fn(|i| format!("127.0.{net}.{}", i + 1));
    let ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpc_ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpcs: [String; 4] = std::array::from_fn(|i| format!("{}:{}", ips[i], rpc_ports[i]));
    let addr = |i: usize| format!("{}:{}", ips[i], ports[i]);
    let mut procs = Vec::new();
    procs.push(rumor_agent(
        dir.path(),
        "r1",
        &ips[0],
        ports[0],
        rpc_ports[0],
        &["--tag", "kind=rumor"],
    ));
    eventually("r1 answers RPC", FORM, || rumor_members(&rpcs[0]).is_some());
    procs.push(serf_agent(
        dir.path(),
        "s1",
        &ips[1],
        ports[1],
        rpc_ports[1],
        &["-tag=kind=serf", &format!("-join={}", addr(0))],
    ));
    eventually("s1 answers RPC", FORM, || serf_members(&rpcs[1]).is_some());
    procs.push(rumor_agent(
        dir.path(),
        "r2",
        &ips[2],
        ports[2],
        rpc_ports[2],
        &["--tag", "kind=rumor", "--join", &addr(1)],
    ));
    // A serf agent whose -join finds nobody listening exits: start s2 once r2 is up.
    eventually("r2 answers RPC", FORM, || rumor_members(&rpcs[2]).is_some());
    procs.push(serf_agent(
        dir.path(),
        "s2",
        &ips[3],
        ports[3],
        rpc_ports[3],
        &["-tag=kind=serf", &format!("-join={}", addr(2))],
    ));
    let c = Cluster {
        _dir: dir,
        ips,
        ports,
        rpcs,
        procs,
    };
    c.wait_all_alive(&[0, 1, 2, 3]);
    c
}

impl Cluster {
    fn members(&self, i: usize) -> Option<MemberList> {
        if NAMES[i].starts_with('r') {
            rumor_members(&self.rpcs[i])
        } else {
            serf_members(&self.rpcs[i])
        }
    }

    fn wait_all_alive(&self, who: &[usize]) {
        for &i in who {
            eventually(&format!("{} sees everyone alive", NAMES[i]), FORM, || {
                let m = self.members(i);
                who.iter()
                    .all(|&j| status_of(&m, NAMES[j]).as_deref() == Some("alive"))
            });
        }
    }

    fn wait_status(&self, observers: &[usize], of: usize, status: &str, limit: Duration) {
        for &i in observers {
            eventually(
                &format!("{} sees {} {status}", NAMES[i], NAMES[of]),
                limit,
                || status_of(&self.members(i), NAMES[of]).as_deref() == Some(status),
            );
        }
    }
}

#[test]
fn mixed_cluster_forms_whoever_joins_whom() {
    let c = cluster(61);
    // Both CLIs against their own kind, with the tags each agent set.
    let from_rumor = rumor_members(&c.rpcs[0]).unwrap();
    let from_serf = serf_members(&c.rpcs[1]).unwrap();
    for list in [&from_rumor, &from_serf] {
        assert_eq!(list.len(), 4, "{list:?}");
        for (name, status, tags) in list {
            assert_eq!(status, "alive");
            let kind = if name.starts_with('r') {
                "rumor"
            } else {
                "serf"
            };
            assert_eq!(tags["kind"], kind, "{name}: {tags}");
            assert_eq!(tags["dc"], "dc1");
        }
    }
    // The real serf CLI lists the cluster through a rumor agent's RPC address.
    let via_serf_cli = serf_members(&c.rpcs[2]).expect("serf members against a rumor agent");
    assert_eq!(via_serf_cli.len(), 4);
    assert!(via_serf_cli.iter().all(|m| m.1 == "alive"));
    // And the rumor CLI works against a serf agent too.
    let via_rumor_cli = rumor_members(&c.rpcs[3]).expect("rumor members against a serf agent");
    assert_eq!(via_rumor_cli.len(), 4);
    let _ = (&c.ips, &c.ports);
}

#[test]
fn kill_9_is_detected_across_kinds() {
    let mut c = cluster(62);
    c.procs[3].kill9(); // s2, a serf agent
    c.wait_status(&[0, 2], 3, "failed", DETECT);
    c.procs[2].kill9(); // r2, a rumor agent
    c.wait_status(&[1], 2, "failed", DETECT);
    c.wait_status(&[0], 2, "failed", DETECT);
}

#[test]
fn graceful_leave_is_seen_as_left_by_the_other_kind() {
    let mut c = cluster(63);
    // A serf agent leaves: rumor agents see it left.
    let out = serf_cli(&["leave", &format!("-rpc-addr={}", c.rpcs[3])]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_status(&[0, 2], 3, "left", FORM);
    // A rumor agent leaves (with the rumor CLI): serf agents see it left, and it exits 0.
    let out = rumor_cli(&["leave", "--rpc-addr", &c.rpcs[2]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Graceful leave complete"));
    let st = c.procs[2]
        .wait_exit(Duration::from_secs(20))
        .expect("r2 exits after leave");
    assert!(st.success());
    c.wait_status(&[1], 2, "left", FORM);
    c.wait_status(&[0], 2, "left", FORM);
}

#[test]
fn garbage_is_dropped_and_nothing_is_lost() {
    let c = cluster(64);
    let target = format!("{}:{}", c.ips[0], c.ports[0]);
    let sock = UdpSocket::bind((c.ips[0].as_str(), 0)).unwrap();
    // Random datagrams (deterministic xorshift), truncated real-looking ones, oversized ones.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..300 {
        let len = (next() % 1400) as usize + 1;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 3 == 0 {
            buf[0] = (i % 14) as u8; // a valid type byte with a garbage body
        }
        sock.send_to(&buf, &target).unwrap();
    }
    for t in [
        &b"\x07"[..],
        b"\x07\x02\x00",
        b"\x0c\x01\x02",
        b"\x09\x82",
        b"\x04\x86\xa4Addr",
    ] {
        sock.send_to(t, &target).unwrap();
    }
    let big = vec![0x04u8; 60_000];
    sock.send_to(&big, &target).unwrap();
    // Garbage, partial and endless TCP streams.
    for g in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\x06\x83\xa4Join",
        b"\xff\xff\xff\xff",
    ] {
        if let Ok(mut s) = std::net::TcpStream::connect(&target) {
            use std::io::Write;
            let _ = s.write_all(g);
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    // The agent still serves, nobody was lost, and the drops were counted.
    let m = rumor_members(&c.rpcs[0]).unwrap();
    assert_eq!(m.len(), 4);
    assert!(m.iter().all(|x| x.1 == "alive"), "{m:?}");
    let out = rumor_cli(&["info", "--format", "json", "--rpc-addr", &c.rpcs[0]]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped: u64 = info["serf"]["packets_dropped"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dropped >= 200, "dropped only {dropped}: {info}");
    let bad_streams: u64 = info["serf"]["streams_dropped"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bad_streams >= 1, "{info}");
    // Still joinable: the serf agents keep seeing it alive a while later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        status_of(&serf_members(&c.rpcs[1]), "r1").as_deref(),
        Some("alive")
    );
}

#[test]
fn the_real_serf_cli_drives_a_rumor_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (ir, is) = ("127.0.67.1", "127.0.67.2");
    let (pr, rr) = (free_port(ir), free_port(ir));
    let (ps, rs) = (free_port(is), free_port(is));
    let mut r = rumor_agent(dir.path(), "r1", ir, pr, rr, &[]);
    let rpc_r = format!("{ir}:{rr}");
    eventually("r1 up", FORM, || rumor_members(&rpc_r).is_some());
    let mut s = serf_agent(dir.path(), "s1", is, ps, rs, &[&format!("-join={ir}:{pr}")]);
    let rpc_s = format!("{is}:{rs}");
    eventually("s1 sees r1", FORM, || {
        status_of(&serf_members(&rpc_s), "r1").as_deref() == Some("alive")
    });

    // serf tags against rumor: the serf agent sees the new tag.
    let out = serf_cli(&["tags", &format!("-rpc-addr={rpc_r}"), "-set", "role=api"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("s1 sees r1's new tag", FORM, || {
        serf_members(&rpc_s).is_some_and(|m| m.iter().any(|x| x.0 == "r1" && x.2["role"] == "api"))
    });

    // User events both ways: rumor -> serf and serf -> rumor.
    let out = rumor_cli(&["event", "--rpc-addr", &rpc_r, "deploy-from-rumor", "v1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("serf receives rumor's user event", FORM, || {
        s.log_text().contains("deploy-from-rumor")
    });
    let out = serf_cli(&[
        "event",
        &format!("-rpc-addr={rpc_s}"),
        "deploy-from-serf",
        "v2",
    ]);
    assert!(out.status.success());
    eventually("rumor receives serf's user event", FORM, || {
        r.log_text().contains("user event: deploy-from-serf")
    });
    // And through the real serf CLI against rumor.
    let out = serf_cli(&["event", &format!("-rpc-addr={rpc_r}"), "via-serf-cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("serf receives it", FORM, || {
        s.log_text().contains("via-serf-cli")
    });

    // serf info and serf monitor against rumor.
    let out = serf_cli(&["info", &format!("-rpc-addr={rpc_r}")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("agent:") && text.contains("name = r1"),
        "{text}"
    );
    let mut cmd = Command::new(serf_bin());
    cmd.args(["monitor", &format!("-rpc-addr={rpc_r}"), "-log-level=debug"]);
    let mut mon = Proc::spawn("serf-monitor", cmd, dir.path());
    eventually("monitor shows log lines", FORM, || {
        mon.log_text().contains("agent started")
    });
    mon.kill9();
    let mut cmd = Command::new(rumor_bin());
    cmd.args(["monitor", "--rpc-addr", &rpc_r, "--log-level", "info"]);
    let mut mon = Proc::spawn("rumor-monitor", cmd, dir.path());
    eventually("rumor monitor shows log lines", FORM, || {
        mon.log_text().contains("agent started")
    });
    mon.kill9();

    // kill -9 the serf agent, then force it out through the serf CLI.
    s.kill9();
    eventually("r1 sees s1 failed", Duration::from_secs(90), || {
        status_of(&rumor_members(&rpc_r), "s1").as_deref() == Some("failed")
    });
    let out = serf_cli(&["force-leave", &format!("-rpc-addr={rpc_r}"), "s1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("r1 sees s1 left", FORM, || {
        status_of(&rumor_members(&rpc_r), "s1").as_deref() == Some("left")
    });

    // serf leave against rumor: the agent leaves and exits cleanly.
    let out = serf_cli(&["leave", &format!("-rpc-addr={rpc_r}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = r
        .wait_exit(Duration::from_secs(20))
        .expect("r1 exits after serf leave");
    assert!(st.success());
}
