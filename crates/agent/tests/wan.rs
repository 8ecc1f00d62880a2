//! The WAN pool of servers, with real processes on loopback (127.0.110.x – 127.0.119.x):
//! federation of three datacenters through one `--wan-join` each (flood join brings the
//! rest), `rumor dcs`, the WAN guard against clients and foreign members, and labels.
//! Every agent runs with `--profile local` (both pools use the local timing profile).
//! Processes are killed when a test ends, pass or fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::*;

const FORM: Duration = Duration::from_secs(60);

const NOT_A_SERVER: &str =
    "this agent is not a server: start it with --server --wan-bind IP:PORT to join the WAN pool";

/// One agent's addresses on its own loopback IP.
struct Addrs {
    ip: String,
    lan: u16,
    wan: u16,
    rpc: u16,
}

impl Addrs {
    fn new(ip: String) -> Addrs {
        let lan = free_port(&ip);
        let mut wan = free_port(&ip);
        while wan == lan {
            wan = free_port(&ip);
        }
        let mut rpc = free_port(&ip);
        while rpc == lan || rpc == wan {
            rpc = free_port(&ip);
        }
        Addrs { ip, lan, wan, rpc }
    }
    fn lan_addr(&self) -> String {
        format!("{}:{}", self.ip, self.lan)
    }
    fn wan_addr(&self) -> String {
        format!("{}:{}", self.ip, self.wan)
    }
    fn rpc_addr(&self) -> String {
        format!("{}:{}", self.ip, self.rpc)
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `rumor dcs --format json` against `rpc`, parsed.
fn dcs_json(rpc: &str) -> Option<serde_json::Value> {
    let out = rumor_cli(&[
        "dcs",
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
    serde_json::from_slice(&out.stdout).ok()
}

/// Names and statuses of a member list.
fn names(list: &MemberList) -> BTreeSet<(String, String)> {
    list.iter().map(|m| (m.0.clone(), m.1.clone())).collect()
}

#[test]
fn three_datacenters_federate_with_one_wan_join_each() {
    let dir = tempfile::tempdir().unwrap();
    let dcs = ["east", "west", "north"];
    // Servers dc-major: (east1, east2), (west1, west2), (north1, north2) on 127.0.110.1-6.
    let addrs: Vec<Addrs> = (0..6)
        .map(|i| Addrs::new(format!("127.0.110.{}", i + 1)))
        .collect();
    let name = |i: usize| format!("{}{}", dcs[i / 2], i % 2 + 1);
    let mut procs = Vec::new();
    for i in 0..6 {
        let a = &addrs[i];
        let wan_bind = a.wan_addr();
        let mut extra: Vec<String> = vec![
            "--profile".into(),
            "local".into(),
            "--server".into(),
            "--wan-bind".into(),
            wan_bind,
        ];
        if i % 2 == 0 {
            // The first server of each dc joins the next dc's first server: one --wan-join
            // per datacenter, in a ring (each retries until its peer is up).
            let next = &addrs[(i + 2) % 6];
            extra.extend(["--wan-join".into(), next.wan_addr()]);
        } else {
            // The second joins only its dc's LAN pool.
            extra.extend(["--join".into(), addrs[i - 1].lan_addr()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        procs.push(rumor_agent_dc(
            dir.path(),
            &name(i),
            dcs[i / 2],
            &a.ip,
            a.lan,
            a.rpc,
            &extra,
        ));
    }
    let want: BTreeSet<(String, String)> = (0..6)
        .map(|i| (format!("{}.{}", name(i), dcs[i / 2]), "alive".to_string()))
        .collect();
    for a in &addrs {
        eventually("every server sees all 6 WAN members alive", FORM, || {
            rumor_wan_members(&a.rpc_addr()).is_some_and(|l| l.len() == 6 && names(&l) == want)
        });
    }
    // WAN members carry dc, role=server, pool=wan and are named NODE.DC after their dc tag.
    let wan = rumor_wan_members(&addrs[3].rpc_addr()).unwrap();
    for (n, _, tags) in &wan {
        let dc = tags["dc"].as_str().unwrap();
        assert!(n.ends_with(&format!(".{dc}")), "{n} {tags}");
        assert_eq!(tags["pool"], "wan", "{n}");
        assert_eq!(tags["role"], "server", "{n}");
        assert_eq!(tags.as_object().unwrap().len(), 3, "{n}: {tags}");
    }
    // The LAN pool of each dc holds only its two servers, with role=server and wan_addr.
    for i in 0..6 {
        let lan = rumor_members(&addrs[i].rpc_addr()).unwrap();
        let peer = i ^ 1;
        let got: BTreeSet<String> = lan.iter().map(|m| m.0.clone()).collect();
        assert_eq!(
            got,
            BTreeSet::from([name(i), name(peer)]),
            "LAN of {}",
            name(i)
        );
        for j in [i, peer] {
            let m = lan.iter().find(|m| m.0 == name(j)).unwrap();
            assert_eq!(m.2["role"], "server");
            assert_eq!(m.2["wan_addr"], addrs[j].wan_addr().as_str());
            assert_eq!(m.2["dc"], dcs[j / 2]);
        }
    }
    // `rumor dcs`: three datacenters, two alive servers each, finite RTTs, nearest first.
    eventually("dcs shows three datacenters with RTTs", FORM, || {
        let Some(v) = dcs_json(&addrs[0].rpc_addr()) else {
            return false;
        };
        let list = v["datacenters"].as_array().unwrap();
        list.len() == 3 && list.iter().all(|d| d["rtt_ms"].is_f64())
    });
    let v = dcs_json(&addrs[0].rpc_addr()).unwrap();
    let list = v["datacenters"].as_array().unwrap();
    let got: BTreeSet<&str> = list.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(got, BTreeSet::from(dcs));
    let mut last = 0.0;
    for d in list {
        assert_eq!(d["alive"], 2, "{d}");
        assert_eq!(d["failed"], 0, "{d}");
        let rtt = d["rtt_ms"].as_f64().unwrap();
        assert!(rtt > 0.0 && rtt < 1000.0, "{d}");
        assert!(rtt >= last, "nearest first: {v}");
        last = rtt;
        let dc = d["name"].as_str().unwrap();
        let servers: Vec<&str> = d["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            servers,
            [format!("{dc}1.{dc}"), format!("{dc}2.{dc}")],
            "{d}"
        );
    }
    let table = rumor_cli(&["dcs", "--rpc-addr", &addrs[0].rpc_addr()]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.starts_with("DATACENTER  ALIVE  FAILED  RTT\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    // `rumor info`: the wan section.
    let info = rumor_cli(&[
        "info",
        "--format",
        "json",
        "--rpc-addr",
        &addrs[2].rpc_addr(),
    ]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["wan"]["name"], "west1.west");
    assert_eq!(info["wan"]["members"], "6");
    assert_eq!(info["wan"]["failed"], "0");
    assert_eq!(info["agent"]["name"], "west1");
    assert_eq!(info["serf"]["members"], "2");
    // A graceful leave leaves both pools: the others see west2.west left in the WAN pool.
    let out = rumor_cli(&["leave", "--rpc-addr", &addrs[3].rpc_addr()]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("west2 left both pools", FORM, || {
        let wan_left = rumor_wan_members(&addrs[0].rpc_addr())
            .is_some_and(|l| status_of(&Some(l), "west2.west").as_deref() == Some("left"));
        let lan_left =
            status_of(&rumor_members(&addrs[2].rpc_addr()), "west2").as_deref() == Some("left");
        wan_left && lan_left
    });
    assert!(procs[3].wait_exit(Duration::from_secs(20)).is_some());
}

#[test]
fn clients_and_foreign_members_stay_out_of_the_wan_pool() {
    let dir = tempfile::tempdir().unwrap();
    let s = Addrs::new("127.0.111.1".into());
    let c = Addrs::new("127.0.111.2".into());
    let mut procs = vec![rumor_agent(
        dir.path(),
        "s1",
        &s.ip,
        s.lan,
        s.rpc,
        &[
            "--profile",
            "local",
            "--server",
            "--wan-bind",
            &s.wan_addr(),
        ],
    )];
    eventually("s1 answers RPC", FORM, || {
        rumor_wan_members(&s.rpc_addr()).is_some()
    });
    procs.push(rumor_agent(
        dir.path(),
        "c1",
        &c.ip,
        c.lan,
        c.rpc,
        &["--profile", "local", "--join", &s.lan_addr()],
    ));
    eventually("c1 is in s1's LAN pool", FORM, || {
        status_of(&rumor_members(&s.rpc_addr()), "c1").as_deref() == Some("alive")
    });
    // The client answers every WAN command with the not-a-server error.
    for args in [
        vec!["join", "--wan", &s.wan_addr()],
        vec!["members", "--wan"],
        vec!["dcs"],
    ] {
        let mut args = args.clone();
        let rpc = c.rpc_addr();
        args.extend(["--rpc-addr", &rpc]);
        let out = rumor_cli(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(NOT_A_SERVER), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Joining the client's LAN pool to the server's WAN address is refused.
    let out = rumor_cli(&["join", &s.wan_addr(), "--rpc-addr", &c.rpc_addr()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("WAN"), "{err}");
    // Two serf agents try the WAN address: one tagged pool=wan but not named NODE.DC, one
    // named NODE.DC without pool=wan. Both are refused, with the reason.
    let r1 = Addrs::new("127.0.111.3".into());
    let r2 = Addrs::new("127.0.111.4".into());
    procs.push(serf_agent(
        dir.path(),
        "rogue",
        &r1.ip,
        r1.lan,
        r1.rpc,
        &["-tag=pool=wan", "-tag=role=server"],
    ));
    procs.push(serf_agent(
        dir.path(),
        "rogue.dc1",
        &r2.ip,
        r2.lan,
        r2.rpc,
        &["-tag=role=server"],
    ));
    for (r, why) in [
        (&r1, "does not end in '.dc1'"),
        (&r2, "carries no tag pool=wan"),
    ] {
        eventually("the serf agent answers RPC", FORM, || {
            serf_members(&r.rpc_addr()).is_some()
        });
        let out = serf_cli(&[
            "join",
            &format!("-rpc-addr={}", r.rpc_addr()),
            &s.wan_addr(),
        ]);
        assert!(!out.status.success(), "{}", stdout(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(why), "{text}");
    }
    // Nothing entered: the WAN pool is the server alone, the LAN pool is s1 and c1.
    std::thread::sleep(Duration::from_secs(2));
    let wan = rumor_wan_members(&s.rpc_addr()).unwrap();
    assert_eq!(
        names(&wan),
        BTreeSet::from([("s1.dc1".to_string(), "alive".to_string())])
    );
    let lan = rumor_members(&s.rpc_addr()).unwrap();
    let got: BTreeSet<String> = lan.iter().map(|m| m.0.clone()).collect();
    assert_eq!(got, BTreeSet::from(["s1".to_string(), "c1".to_string()]));
    for r in [&r1, &r2] {
        let l = serf_members(&r.rpc_addr()).unwrap();
        assert_eq!(l.len(), 1, "{l:?}");
    }
}

#[test]
fn agents_with_different_lan_labels_do_not_form_a_pool() {
    let dir = tempfile::tempdir().unwrap();
    let a = Addrs::new("127.0.112.1".into());
    let b = Addrs::new("127.0.112.2".into());
    let c = Addrs::new("127.0.112.3".into());
    let d = Addrs::new("127.0.112.4".into());
    let mut procs = Vec::new();
    for (n, x, label) in [
        ("a", &a, Some("blue")),
        ("b", &b, Some("red")),
        ("c", &c, Some("blue")),
        ("d", &d, None),
    ] {
        let mut extra = vec!["--profile", "local"];
        if let Some(l) = label {
            extra.extend(["--lan-label", l]);
        }
        procs.push(rumor_agent(dir.path(), n, &x.ip, x.lan, x.rpc, &extra));
    }
    for x in [&a, &b, &c, &d] {
        eventually("agent answers RPC", FORM, || {
            rumor_members(&x.rpc_addr()).is_some()
        });
    }
    // Another label, or none: the join fails.
    for x in [&b, &d] {
        let out = rumor_cli(&["join", &a.lan_addr(), "--rpc-addr", &x.rpc_addr()]);
        assert!(!out.status.success(), "{}", stdout(&out));
    }
    // The same label: the join succeeds and both see each other.
    let out = rumor_cli(&["join", &a.lan_addr(), "--rpc-addr", &c.rpc_addr()]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("a sees c alive", FORM, || {
        status_of(&rumor_members(&a.rpc_addr()), "c").as_deref() == Some("alive")
    });
    std::thread::sleep(Duration::from_secs(2));
    let got: BTreeSet<String> = rumor_members(&a.rpc_addr())
        .unwrap()
        .iter()
        .map(|m| m.0.clone())
        .collect();
    assert_eq!(got, BTreeSet::from(["a".to_string(), "c".to_string()]));
    for x in [&b, &d] {
        assert_eq!(rumor_members(&x.rpc_addr()).unwrap().len(), 1);
    }
    // a dropped the two join streams that carried another label or none.
    let info = rumor_cli(&["info", "--format", "json", "--rpc-addr", &a.rpc_addr()]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["serf"]["label_dropped"], "2", "{info}");
    // The same holds in the WAN pool with --wan-label.
    let servers: Vec<Addrs> = (5..8)
        .map(|i| Addrs::new(format!("127.0.112.{i}")))
        .collect();
    for (i, (x, label)) in servers.iter().zip(["green", "gray", "green"]).enumerate() {
        let wan = x.wan_addr();
        let extra = [
            "--profile",
            "local",
            "--server",
            "--wan-bind",
            &wan,
            "--wan-label",
            label,
        ];
        let n = format!("s{i}");
        procs.push(rumor_agent(dir.path(), &n, &x.ip, x.lan, x.rpc, &extra));
    }
    for x in &servers {
        eventually("server answers RPC", FORM, || {
            rumor_wan_members(&x.rpc_addr()).is_some()
        });
    }
    let target = servers[0].wan_addr();
    let out = rumor_cli(&[
        "join",
        "--wan",
        &target,
        "--rpc-addr",
        &servers[1].rpc_addr(),
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let info = rumor_cli(&[
        "info",
        "--format",
        "json",
        "--rpc-addr",
        &servers[0].rpc_addr(),
    ]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["wan"]["label_dropped"], "1", "{info}");
    assert_eq!(info["wan"]["label"], "green", "{info}");
    let out = rumor_cli(&[
        "join",
        "--wan",
        &target,
        "--rpc-addr",
        &servers[2].rpc_addr(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    eventually("s0 sees s2 in the WAN pool", FORM, || {
        status_of(&rumor_wan_members(&servers[0].rpc_addr()), "s2.dc1").as_deref() == Some("alive")
    });
    let wan = rumor_wan_members(&servers[0].rpc_addr()).unwrap();
    assert_eq!(
        names(&wan),
        BTreeSet::from([
            ("s0.dc1".to_string(), "alive".to_string()),
            ("s2.dc1".to_string(), "alive".to_string())
        ])
    );
}

#[test]
fn server_options_are_checked_with_one_line_errors() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--wan-bind", "127.0.113.1:8302"],
            "--wan-bind needs --server",
        ),
        (&["--server"], "--server needs --wan-bind IP:PORT"),
        (
            &["--server", "--wan-bind", "nowhere"],
            "WAN bind address 'nowhere' is not an address",
        ),
        (
            &[
                "--server",
                "--wan-bind",
                "127.0.113.1:8302",
                "--wan-advertise",
                "1.2.3.4",
            ],
            "WAN advertise address '1.2.3.4'",
        ),
        (
            &["--lan-label", ""],
            "the LAN label must be 1 to 255 bytes long",
        ),
        (
            &["--wan-join", "127.0.113.2:8302"],
            "--wan-join needs --server",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "agent",
            "--node",
            "x",
            "--bind",
            "127.0.113.1:0",
            "--rpc-addr",
            "127.0.113.1:0",
        ];
        args.extend_from_slice(extra);
        let out = rumor_cli(&args);
        assert!(!out.status.success(), "{extra:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: {want}")),
            "{extra:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let long = "x".repeat(256);
    let out = rumor_cli(&[
        "agent",
        "--node",
        "x",
        "--bind",
        "127.0.113.1:0",
        "--server",
        "--wan-bind",
        "127.0.113.1:0",
        "--wan-label",
        &long,
    ]);
    assert!(stderr(&out).contains("not 256 bytes"), "{}", stderr(&out));
}
