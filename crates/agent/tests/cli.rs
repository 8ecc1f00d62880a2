//! The `rumor` binary as an operator uses it: agents on loopback (IPv4 and IPv6), start joins
//! that retry, client commands and their errors, and the datacenter guard.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const FORM: Duration = Duration::from_secs(45);

#[test]
fn client_commands_fail_with_one_line_errors() {
    let port = free_port("127.0.0.1");
    let rpc = format!("127.0.0.1:{port}");
    for args in [
        vec!["members", "--rpc-addr", &rpc, "--timeout", "2"],
        vec!["join", "--rpc-addr", &rpc, "--timeout", "2", "127.0.0.1:1"],
        vec!["info", "--rpc-addr", &rpc, "--timeout", "2"],
        vec!["leave", "--rpc-addr", &rpc, "--timeout", "2"],
    ] {
        let out = rumor_cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(&rpc), "{err}");
    }
    // Bad input to the agent itself: a clear error, no agent.
    let out = rumor_cli(&["agent", "--node", "x", "--bind", "not-an-address"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bind address 'not-an-address'"));
    let out = rumor_cli(&["members", "--rpc-addr", &rpc, "--status", "(unclosed"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad filter"));
}

#[test]
fn ipv6_cluster_with_a_start_join_that_retries_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p1 = free_port("::1");
    let p2 = free_port("::1");
    let r1 = free_port("::1");
    let r2 = free_port("::1");
    // a2 starts first and keeps retrying until a1 is up.
    let _a2 = rumor_agent(
        dir.path(),
        "v6b",
        "[::1]",
        p2,
        r2,
        &["--join", &format!("[::1]:{p1}"), "--join-timeout", "60"],
    );
    std::thread::sleep(Duration::from_secs(2));
    let _a1 = rumor_agent(dir.path(), "v6a", "[::1]", p1, r1, &[]);
    let rpc1 = format!("[::1]:{r1}");
    let rpc2 = format!("[::1]:{r2}");
    for rpc in [&rpc1, &rpc2] {
        eventually("both see both alive over IPv6", FORM, || {
            let m = rumor_members(rpc);
            status_of(&m, "v6a").as_deref() == Some("alive")
                && status_of(&m, "v6b").as_deref() == Some("alive")
        });
    }
    let out = rumor_cli(&["members", "--rpc-addr", &rpc1]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("[::1]:{p2}")), "{table}");
    assert!(
        _a2.log_text().contains("join failed; retrying"),
        "the first attempts failed and were retried"
    );

    // A DNS name works for a join too (resolved when the join runs).
    let dir4 = tempfile::tempdir().unwrap();
    let q1 = free_port("127.0.0.1");
    let q2 = free_port("127.0.0.1");
    let s1 = free_port("127.0.0.1");
    let s2 = free_port("127.0.0.1");
    let _b1 = rumor_agent(dir4.path(), "dns-a", "127.0.0.1", q1, s1, &[]);
    let _b2 = rumor_agent(
        dir4.path(),
        "dns-b",
        "127.0.0.1",
        q2,
        s2,
        &["--join", &format!("localhost:{q1}")],
    );
    eventually("joined by name", FORM, || {
        status_of(&rumor_members(&format!("127.0.0.1:{s1}")), "dns-b").as_deref() == Some("alive")
    });
}

#[test]
fn start_join_gives_up_after_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = free_port("127.0.0.1");
    let r = free_port("127.0.0.1");
    let dead = free_port("127.0.0.1");
    let mut a = rumor_agent(
        dir.path(),
        "lonely",
        "127.0.0.1",
        p,
        r,
        &[
            "--join",
            &format!("127.0.0.1:{dead}"),
            "--join-timeout",
            "3",
        ],
    );
    let st = a
        .wait_exit(Duration::from_secs(30))
        .expect("the agent gives up and exits");
    assert!(!st.success());
    assert!(a.log_text().contains("could not join"), "{}", a.log_text());
}

#[test]
fn members_filters_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.65.1";
    let ip2 = "127.0.65.2";
    let (p1, r1) = (free_port(ip), free_port(ip));
    let (p2, r2) = (free_port(ip2), free_port(ip2));
    let _a = rumor_agent(dir.path(), "web-1", ip, p1, r1, &["--tag", "role=web"]);
    let rpc = format!("{ip}:{r1}");
    eventually("a1 up", FORM, || rumor_members(&rpc).is_some());
    let _b = rumor_agent(
        dir.path(),
        "db-1",
        ip2,
        p2,
        r2,
        &["--tag", "role=db", "--join", &format!("{ip}:{p1}")],
    );
    eventually("2 members", FORM, || {
        rumor_members(&rpc).is_some_and(|m| m.len() == 2)
    });
    let out = rumor_cli(&[
        "members",
        "--rpc-addr",
        &rpc,
        "--tag",
        "role=we.",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["web-1"]);
    let out = rumor_cli(&[
        "members",
        "--rpc-addr",
        &rpc,
        "--name",
        "db-.*",
        "--status",
        "alive",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("db-1") && !text.contains("web-1"), "{text}");
    // The real serf CLI's filters work against us too.
    let mut cmd = Command::new(serf_bin());
    cmd.args(["members", &format!("-rpc-addr={rpc}"), "-tag", "role=db"]);
    let out = run(cmd, Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("db-1") && !text.contains("web-1"), "{text}");
    // info shows the tags and counters.
    let out = rumor_cli(&["info", "--rpc-addr", &rpc, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["agent"]["name"], "web-1");
    assert_eq!(v["tags"]["role"], "web");
    assert_eq!(v["serf"]["members"], "2");
}

#[test]
fn cross_datacenter_join_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ia, ib, ic) = ("127.0.66.1", "127.0.66.2", "127.0.66.3");
    let (pa, ra) = (free_port(ia), free_port(ia));
    let (pb, rb) = (free_port(ib), free_port(ib));
    let (pc, rc) = (free_port(ic), free_port(ic));
    let _a = rumor_agent(dir.path(), "east-1", ia, pa, ra, &[]); // dc1
    let rpc_a = format!("{ia}:{ra}");
    eventually("a up", FORM, || rumor_members(&rpc_a).is_some());
    // A rumor agent of dc2 asks to join dc1's LAN pool: refused, with a clear error.
    let mut cmd = Command::new(rumor_bin());
    cmd.args([
        "agent",
        "--node",
        "west-1",
        "--dc",
        "dc2",
        "--bind",
        &format!("{ib}:{pb}"),
    ])
    .args(["--rpc-addr", &format!("{ib}:{rb}")]);
    let mut b = Proc::spawn("west-1", cmd, dir.path());
    let rpc_b = format!("{ib}:{rb}");
    eventually("b up", FORM, || rumor_members(&rpc_b).is_some());
    let out = rumor_cli(&["join", "--rpc-addr", &rpc_b, &format!("{ia}:{pa}")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("datacenter")
            && err.contains("dc1")
            && err.contains("dc2")
            && err.contains("WAN"),
        "{err}"
    );
    // A real serf agent tagged dc2 joins the rumor agent: neither side takes the other in.
    let _c = serf_agent(dir.path(), "west-serf", ic, pc, rc, &["-tag=dc=dc2"]);
    // serf_agent sets -tag=dc=dc1 first; the later -tag=dc=dc2 wins in serf's flag parsing.
    let rpc_c = format!("{ic}:{rc}");
    eventually("c up", FORM, || serf_members(&rpc_c).is_some());
    let mut cmd = Command::new(serf_bin());
    cmd.args(["join", &format!("-rpc-addr={rpc_c}"), &format!("{ia}:{pa}")]);
    let out = run(cmd, Duration::from_secs(30));
    assert!(
        !out.status.success(),
        "serf's join was refused: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::thread::sleep(Duration::from_secs(3));
    let m = rumor_members(&rpc_a).unwrap();
    assert_eq!(m.len(), 1, "no foreign member entered dc1's list: {m:?}");
    let m = rumor_members(&rpc_b).unwrap();
    assert_eq!(m.len(), 1, "{m:?}");
    b.kill9();
}
