//! Encryption and key rotation in mixed clusters of rumor and real Serf 0.9.4 agents, on
//! loopback 127.0.90.x–127.0.94.x (one /24 per test). Processes are killed when a test ends,
//! pass or fail.
#![allow(clippy::unwrap_used, clippy::needless_range_loop, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use support::*;

const FORM: Duration = Duration::from_secs(45);

/// Two fixed 16-byte keys and a 32-byte one (base64 of "AAAA…", "BBBB…", "CCCC…").
const K1: &str = "QUFBQUFBQUFBQUFBQUFBQQ==";
const K2: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
const K3: &str = "Q0NDQ0NDQ0NDQ0NDQ0NDQw==";

const NAMES: [&str; 4] = ["r1", "s1", "r2", "s2"];

/// Fields drop in order: the processes (and their logs, printed on failure) before the
/// directory.
struct Cluster {
    procs: Vec<Proc>,
    ips: [String; 4],
    ports: [u16; 4],
    rpc_ports: [u16; 4],
    rpcs: [String; 4],
    dir: tempfile::TempDir,
}

fn is_rumor(i: usize) -> bool {
    NAMES[i].starts_with('r')
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a CLI said about a failure: `rumor` writes errors to stderr, `serf` to stdout.
fn said(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// An encrypted mixed cluster: r1 (rumor, keyring file holding K1) alone; s1 (serf,
/// `-encrypt K1`) joins r1; r2 (rumor, `--encrypt K1`) joins s1; s2 (serf) joins r2.
fn cluster(net: u8) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ips: [String; 4] = std::array::from_fn(|i| format!("127.0.{net}.{}", i + 1));
    let ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpc_ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpcs: [String; 4] = std::array::from_fn(|i| format!("{}:{}", ips[i], rpc_ports[i]));
    std::fs::write(dir.path().join("r1-keyring.json"), format!("[\"{K1}\"]")).unwrap();
    let mut c = Cluster {
        dir,
        ips,
        ports,
        rpc_ports,
        rpcs,
        procs: Vec::new(),
    };
    let p = c.start(0, None);
    c.procs.push(p);
    eventually("r1 answers RPC", FORM, || {
        rumor_members(&c.rpcs[0]).is_some()
    });
    for i in 1..4 {
        let p = c.start(i, Some(i - 1));
        c.procs.push(p);
        // The next agent joins this one: a serf agent exits if its -join finds nobody.
        eventually(&format!("{} answers RPC", NAMES[i]), FORM, || {
            c.members(i).is_some()
        });
    }
    c.wait_all_alive(&[0, 1, 2, 3]);
    c
}

impl Cluster {
    fn addr(&self, i: usize) -> String {
        format!("{}:{}", self.ips[i], self.ports[i])
    }

    fn keyring_file(&self) -> std::path::PathBuf {
        self.dir.path().join("r1-keyring.json")
    }

    /// Start member `i` (r1 with its keyring file, the others with `K1`), joining `join`.
    fn start(&self, i: usize, join: Option<usize>) -> Proc {
        let (ip, port, rpc) = (&self.ips[i], self.ports[i], self.rpc_ports[i]);
        let join = join.map(|j| self.addr(j));
        if is_rumor(i) {
            let file = self.keyring_file().display().to_string();
            let mut extra: Vec<&str> = if i == 0 {
                vec!["--keyring-file", &file]
            } else {
                vec!["--encrypt", K1]
            };
            if let Some(j) = &join {
                extra.extend(["--join", j.as_str()]);
            }
            rumor_agent(self.dir.path(), NAMES[i], ip, port, rpc, &extra)
        } else {
            let enc = format!("-encrypt={K1}");
            let mut extra = vec![enc.as_str()];
            let j = join.map(|j| format!("-join={j}"));
            if let Some(j) = &j {
                extra.push(j);
            }
            serf_agent(self.dir.path(), NAMES[i], ip, port, rpc, &extra)
        }
    }

    fn members(&self, i: usize) -> Option<MemberList> {
        if is_rumor(i) {
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

    /// Right now, every member lists exactly the four, all alive.
    fn assert_all_alive_now(&self, step: &str) {
        for i in 0..4 {
            let m = self
                .members(i)
                .unwrap_or_else(|| panic!("{step}: {} answers", NAMES[i]));
            let mut names: Vec<_> = m.iter().map(|x| x.0.as_str()).collect();
            names.sort();
            assert_eq!(
                names,
                ["r1", "r2", "s1", "s2"],
                "{step}: {} lists {m:?}",
                NAMES[i]
            );
            assert!(
                m.iter().all(|x| x.1 == "alive"),
                "{step}: {} lists {m:?}",
                NAMES[i]
            );
        }
    }

    /// No agent logged a member failure.
    fn assert_nobody_failed(&self) {
        for p in &self.procs {
            let log = p.log_text();
            assert!(
                !log.contains("member-failed") && !log.contains("EventMemberFailed"),
                "{} logged a failure:\n{log}",
                p.name
            );
        }
    }
}

/// `keys` through agent `i`'s RPC, with the rumor or the serf CLI.
fn keys(c: &Cluster, with_rumor: bool, i: usize, op: &str, key: Option<&str>) -> Output {
    let rpc = &c.rpcs[i];
    if with_rumor {
        let mut args = vec!["keys", "--rpc-addr", rpc.as_str(), op];
        if let Some(k) = key {
            args.push(k);
        }
        rumor_cli(&args)
    } else {
        let flag = match key {
            Some(k) => format!("-{}={k}", &op[2..]),
            None => format!("-{}", &op[2..]),
        };
        serf_cli(&["keys", &format!("-rpc-addr={rpc}"), &flag])
    }
}

/// The `KEY  [n/total]` lines of a successful list.
fn listed(out: &Output) -> BTreeMap<String, String> {
    assert!(out.status.success(), "list failed: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some(k), Some(n), None) if n.starts_with('[') => {
                    Some((k.to_string(), n.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

fn ok(out: &Output, step: &str, want: &str) {
    assert!(
        out.status.success(),
        "{step}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(want),
        "{step}: {}",
        text(&out.stdout)
    );
}

/// install K2, use K2, remove K1 through member `via`, checking lists and members each step.
fn rotate(c: &Cluster, with_rumor: bool, via: usize) {
    let start = Instant::now();
    let l = listed(&keys(c, with_rumor, via, "--list", None));
    assert_eq!(l, BTreeMap::from([(K1.to_string(), "[4/4]".to_string())]));
    ok(
        &keys(c, with_rumor, via, "--install", Some(K2)),
        "install",
        "Successfully installed key!",
    );
    c.assert_all_alive_now("after install");
    let l = listed(&keys(c, with_rumor, via, "--list", None));
    assert_eq!(
        l,
        BTreeMap::from([
            (K1.to_string(), "[4/4]".to_string()),
            (K2.to_string(), "[4/4]".to_string())
        ])
    );
    ok(
        &keys(c, with_rumor, via, "--use", Some(K2)),
        "use",
        "Successfully changed primary key!",
    );
    c.assert_all_alive_now("after use");
    ok(
        &keys(c, with_rumor, via, "--remove", Some(K1)),
        "remove",
        "Successfully removed key!",
    );
    c.assert_all_alive_now("after remove");
    // Every member, asked through each kind, holds only K2.
    for i in 0..4 {
        let l = listed(&keys(c, with_rumor, i, "--list", None));
        assert_eq!(
            l,
            BTreeMap::from([(K2.to_string(), "[4/4]".to_string())]),
            "via {}",
            NAMES[i]
        );
    }
    // Each step waits for every answer, so a rotation on an idle loopback cluster is quick
    // (each step's upper bound is the 3.2 s query timeout for 4 members).
    assert!(start.elapsed() < Duration::from_secs(120));
    c.assert_all_alive_now("after rotation");
}

/// Removing the primary key fails on all four members and the CLI exits 1, naming each.
fn remove_primary_fails(c: &Cluster, with_rumor: bool, via: usize) {
    let out = keys(c, with_rumor, via, "--remove", Some(K2));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = said(&out);
    for n in NAMES {
        let line = err
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(n))
            .unwrap_or_else(|| panic!("no failure line for {n}: {err}"));
        assert!(line.starts_with("failed:"), "{line}");
        assert!(
            line.ends_with("Removing the primary key is not allowed"),
            "{line}"
        );
    }
    assert!(
        err.contains("Error removing key: 4/4 nodes reported failure"),
        "{err}"
    );
}

#[test]
fn rotation_started_from_serf_keys_and_a_restart_with_the_rewritten_keyring_file() {
    let mut c = cluster(90);
    // The serf CLI, through a serf agent and through a rumor agent.
    rotate(&c, false, 1);
    remove_primary_fails(&c, false, 0);
    c.assert_all_alive_now("after refused remove");
    c.assert_nobody_failed();
    // r1's keyring file now holds only K2, as Serf writes it (mode 0600).
    let file = c.keyring_file();
    eventually(
        "r1 rewrote its keyring file",
        Duration::from_secs(10),
        || std::fs::read_to_string(&file).ok().as_deref() == Some(&format!("[\n  \"{K2}\"\n]")),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // r1 leaves and stops; restarted with the file, it rejoins the K2-only cluster.
    let out = rumor_cli(&["leave", "--rpc-addr", &c.rpcs[0]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(c.procs[0].wait_exit(Duration::from_secs(20)).is_some());
    let p = c.start(0, Some(1));
    c.procs[0] = p;
    c.wait_all_alive(&[0, 1, 2, 3]);
    let l = listed(&keys(&c, true, 0, "--list", None));
    assert_eq!(l, BTreeMap::from([(K2.to_string(), "[4/4]".to_string())]));
}

#[test]
fn rotation_started_from_rumor_keys() {
    let c = cluster(91);
    // Both kinds report the encryption.
    let out = rumor_cli(&["info", "--format", "json", "--rpc-addr", &c.rpcs[0]]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serf"]["encrypted"], "true");
    let out = serf_cli(&["info", "-format=json", &format!("-rpc-addr={}", c.rpcs[1])]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serf"]["encrypted"], "true");
    // The rumor CLI, through a rumor agent.
    rotate(&c, true, 2);
    c.assert_nobody_failed();
    // And through a serf agent: the refused removal is counted the same way.
    remove_primary_fails(&c, true, 3);
    remove_primary_fails(&c, true, 0);
    c.assert_all_alive_now("after refused remove");
    c.assert_nobody_failed();
    // A bad key is refused by the agent before any query, with Serf's message.
    for (i, with_rumor) in [(0, true), (0, false), (1, true)] {
        let out = keys(&c, with_rumor, i, "--install", Some("abc"));
        assert_eq!(out.status.code(), Some(1));
        let err = said(&out);
        assert!(
            err.contains("Error installing key: illegal base64 data at input byte 0"),
            "{err}"
        );
        assert!(!err.contains("failed:"), "{err}");
    }
    // A wrong length: a rumor agent refuses it before sending; a serf agent sends it and
    // every member reports failure.
    let out = keys(&c, true, 0, "--install", Some("YWJj"));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: Error installing key: key size must be 16, 24 or 32 bytes, not 3"
    );
    let out = keys(&c, true, 1, "--install", Some("YWJj"));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("4/4 nodes reported failure"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("failed:")).count(),
        4,
        "{err}"
    );
    c.assert_all_alive_now("after bad keys");
}

#[test]
fn an_agent_with_the_wrong_key_stays_out() {
    let c = cluster(92);
    let dir = c.dir.path();
    let ip_r = "127.0.92.5";
    let ip_s = "127.0.92.6";
    let (pr, rr) = (free_port(ip_r), free_port(ip_r));
    let (ps, rs) = (free_port(ip_s), free_port(ip_s));
    let _rx = rumor_agent(dir, "rx", ip_r, pr, rr, &["--encrypt", K3]);
    let _sx = serf_agent(dir, "sx", ip_s, ps, rs, &[&format!("-encrypt={K3}")]);
    let rx_rpc = format!("{ip_r}:{rr}");
    let sx_rpc = format!("{ip_s}:{rs}");
    eventually("rx answers RPC", FORM, || rumor_members(&rx_rpc).is_some());
    eventually("sx answers RPC", FORM, || serf_members(&sx_rpc).is_some());
    for target in [0, 1] {
        let out = rumor_cli(&["join", "--rpc-addr", &rx_rpc, &c.addr(target)]);
        assert!(!out.status.success(), "rx joined {}", NAMES[target]);
        let out = serf_cli(&["join", &format!("-rpc-addr={sx_rpc}"), &c.addr(target)]);
        assert!(!out.status.success(), "sx joined {}", NAMES[target]);
    }
    // Give gossip time to spread anything that leaked, then check nobody lists them.
    std::thread::sleep(Duration::from_secs(5));
    c.assert_all_alive_now("after the wrong-key joins");
    assert_eq!(rumor_members(&rx_rpc).unwrap().len(), 1);
    assert_eq!(serf_members(&sx_rpc).unwrap().len(), 1);
    c.assert_nobody_failed();
}

#[test]
fn bad_encryption_options_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.93.1";
    let missing = dir.path().join("missing.json");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let m = missing.display().to_string();
    let e = empty.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--encrypt", "abc"],
            "error: --encrypt: illegal base64 data at input byte 0".into(),
        ),
        (
            vec!["--encrypt", "ab!d"],
            "error: --encrypt: illegal base64 data at input byte 2".into(),
        ),
        (
            vec!["--encrypt", "YWJj"],
            "error: --encrypt: key size must be 16, 24 or 32 bytes, not 3".into(),
        ),
        (
            vec!["--encrypt", K1, "--keyring-file", &e],
            "error: --encrypt cannot be used with --keyring-file: the keyring file holds the keys"
                .into(),
        ),
        (
            vec!["--keyring-file", &m],
            format!("error: --keyring-file: cannot read keyring file {m}: No such file or directory (os error 2)"),
        ),
        (
            vec!["--keyring-file", &e],
            format!("error: --keyring-file: keyring file {e} contains no keys"),
        ),
    ];
    for (extra, want) in cases {
        let port = free_port(ip);
        let rpc = free_port(ip);
        let mut cmd = std::process::Command::new(rumor_bin());
        cmd.args(["agent", "--node", "bad", "--bind", &format!("{ip}:{port}")])
            .args(["--rpc-addr", &format!("{ip}:{rpc}")])
            .args(&extra);
        let started = Instant::now();
        let out = run(cmd, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert_eq!(text(&out.stderr), format!("{want}\n"), "{extra:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // Nothing was bound: both ports are free again at once.
        assert!(std::net::TcpListener::bind((ip, rpc)).is_ok());
        assert!(std::net::UdpSocket::bind((ip, port)).is_ok());
    }
}

#[test]
fn keygen_prints_a_fresh_usable_key() {
    let a = rumor_cli(&["keygen"]);
    let b = rumor_cli(&["keygen"]);
    assert!(a.status.success() && b.status.success());
    let (a, b) = (text(&a.stdout), text(&b.stdout));
    assert_eq!(a.len(), 45, "{a:?}"); // 44 base64 characters and a newline
    assert!(a.ends_with("=\n"));
    assert_ne!(a, b);
    let raw = rumor::keyring::decode_base64(a.trim()).unwrap();
    assert_eq!(raw.len(), 32);
}
