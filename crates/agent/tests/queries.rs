//! Queries, reachability, coordinates and stats across a mixed cluster: two rumor agents and
//! two real Serf 0.9.4 agents on loopback (127.0.80.x–127.0.84.x), driven by both CLIs.
//!
//! Serf agents and r2 answer queries with an event handler (`-event-handler query=SCRIPT`,
//! `--event-handler query=SCRIPT`); r1 answers through an RPC `stream` + `respond` client run
//! by the test (which exercises those two commands). Processes are killed when a test ends,
//! pass or fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumor::rpc::client::{Client, ClientError};
use rumor::rpc::proto::{QueryEventRecord, RespondRequest, StreamRequest};
use support::*;

const FORM: Duration = Duration::from_secs(45);
const NAMES: [&str; 4] = ["r1", "s1", "r2", "s2"];

/// What a rumor agent's responder saw: the connection IDs of the query records, and the
/// errors of the extra `respond` calls it made to check them.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u64>,
    second_respond: Vec<String>,
    unknown_id: Vec<String>,
}

/// Answers every query reaching a rumor agent with `reply-from-NAME\n`, over RPC.
struct Responder {
    rt: Option<tokio::runtime::Runtime>,
    seen: Arc<Mutex<Seen>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn responder(rpc: &str, name: &str) -> Responder {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (rpc, name, seen2) = (rpc.to_string(), name.to_string(), seen.clone());
    // Started before returning, so no query is sent before the stream is up.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let mut c = Client::connect(&rpc, Duration::from_secs(5)).await.unwrap();
        let seq = c
            .start_stream(
                "stream",
                &StreamRequest {
                    kind: "query".into(),
                },
            )
            .await
            .unwrap();
        ready_tx.send(()).unwrap();
        loop {
            let Ok(q) = c.next_record::<QueryEventRecord>(seq).await else {
                return;
            };
            assert_eq!(q.event, "query");
            let reply = RespondRequest {
                id: q.id,
                payload: format!("reply-from-{name}\n").into_bytes(),
            };
            c.call_no_reply("respond", Some(&reply)).await.unwrap();
            // Answering twice is the library's error, passed through; an unknown ID is the
            // agent's.
            let again = c.call_no_reply("respond", Some(&reply)).await;
            let unknown = c
                .call_no_reply(
                    "respond",
                    Some(&RespondRequest {
                        id: 9999,
                        payload: Vec::new(),
                    }),
                )
                .await;
            let err = |r: Result<(), ClientError>| match r {
                Err(ClientError::Remote(e)) => e,
                other => format!("unexpected: {other:?}"),
            };
            let mut s = seen2.lock().unwrap();
            s.ids.push(q.id);
            s.second_respond.push(err(again));
            s.unknown_id.push(err(unknown));
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Responder { rt: Some(rt), seen }
}

// Fields drop in order: the agents (whose logs are printed on a panic) before their directory.
struct Cluster {
    procs: Vec<Proc>,
    responders: Vec<Responder>,
    rpcs: [String; 4],
    dir: tempfile::TempDir,
}

fn handler_script(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("answer.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\ncat >/dev/null\necho \"reply-from-$SERF_SELF_NAME\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// r1 alone; s1 joins r1; r2 joins s1; s2 joins r2. Rumor agents tagged kind=rumor, serf
/// agents kind=serf (and dc=dc1).
fn cluster(net: u8) -> Cluster {
    assert!((80..=84).contains(&net));
    let dir = tempfile::tempdir().unwrap();
    let script = handler_script(dir.path());
    let ips: [String; 4] = std::array::from_fn(|i| format!("127.0.{net}.{}", i + 1));
    let ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpc_ports: [u16; 4] = std::array::from_fn(|i| free_port(&ips[i]));
    let rpcs: [String; 4] = std::array::from_fn(|i| format!("{}:{}", ips[i], rpc_ports[i]));
    let addr = |i: usize| format!("{}:{}", ips[i], ports[i]);
    let handler = format!("-event-handler=query={script}");
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
        &["-tag=kind=serf", &handler, &format!("-join={}", addr(0))],
    ));
    let rumor_handler = format!("query={script}");
    procs.push(rumor_agent(
        dir.path(),
        "r2",
        &ips[2],
        ports[2],
        rpc_ports[2],
        &[
            "--tag",
            "kind=rumor",
            "--event-handler",
            &rumor_handler,
            "--join",
            &addr(1),
        ],
    ));
    // A serf agent whose -join finds nobody listening yet exits: start s2 once r2 is up.
    eventually("r2 answers RPC", FORM, || rumor_members(&rpcs[2]).is_some());
    procs.push(serf_agent(
        dir.path(),
        "s2",
        &ips[3],
        ports[3],
        rpc_ports[3],
        &["-tag=kind=serf", &handler, &format!("-join={}", addr(2))],
    ));
    let c = Cluster {
        dir,
        rpcs,
        procs,
        responders: Vec::new(),
    };
    for (i, name) in NAMES.iter().enumerate() {
        eventually(&format!("{name} sees everyone alive"), FORM, || {
            let m = if i % 2 == 0 {
                rumor_members(&c.rpcs[i])
            } else {
                serf_members(&c.rpcs[i])
            };
            NAMES
                .iter()
                .all(|n| status_of(&m, n).as_deref() == Some("alive"))
        });
    }
    c
}

impl Cluster {
    /// r1 answers through RPC (r2 through its handler).
    fn answer_on_r1(&mut self) {
        self.responders.push(responder(&self.rpcs[0], NAMES[0]));
    }
}

/// Acks and responses of a `-format=json` / `--format json` query.
fn parse_json(out: &std::process::Output) -> (BTreeSet<String>, BTreeMap<String, String>) {
    assert!(
        out.status.success(),
        "query failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let acks: Vec<String> = serde_json::from_value(v["Acks"].clone()).unwrap_or_default();
    let n = acks.len();
    let acks: BTreeSet<String> = acks.into_iter().collect();
    assert_eq!(acks.len(), n, "an ack twice: {v}");
    let responses: BTreeMap<String, String> =
        serde_json::from_value(v["Responses"].clone()).unwrap();
    (acks, responses)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn replies(list: &[&str]) -> BTreeMap<String, String> {
    list.iter()
        .map(|n| (n.to_string(), format!("reply-from-{n}\n")))
        .collect()
}

fn serf_query(rpc: &str, args: &[&str]) -> std::process::Output {
    let addr = format!("-rpc-addr={rpc}");
    let mut all = vec!["query", addr.as_str(), "-format=json", "-timeout=2s"];
    all.extend_from_slice(args);
    serf_cli(&all)
}

fn rumor_query(rpc: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "query",
        "--rpc-addr",
        rpc,
        "--format",
        "json",
        "--timeout",
        "2s",
    ];
    all.extend_from_slice(args);
    rumor_cli(&all)
}

/// Retry a query a few times until `want` answers arrive (a member may have just joined);
/// every attempt's answers must be a subset of `want`, never someone else.
fn query_until(
    what: &str,
    mut run: impl FnMut() -> std::process::Output,
    want_acks: &BTreeSet<String>,
    want: &BTreeMap<String, String>,
) {
    let mut last = None;
    for _ in 0..5 {
        let (acks, responses) = parse_json(&run());
        assert!(acks.is_subset(want_acks), "{what}: acks {acks:?}");
        for (k, v) in &responses {
            assert_eq!(want.get(k), Some(v), "{what}: responses {responses:?}");
        }
        if &acks == want_acks && &responses == want {
            return;
        }
        last = Some((acks, responses));
    }
    panic!("{what}: last answers {last:?}, want {want_acks:?} / {want:?}");
}

#[test]
fn queries_are_answered_across_kinds_with_filters() {
    let mut c = cluster(80);
    c.answer_on_r1();
    let all = names(&NAMES);
    // serf query through a serf agent: rumor agents ack and respond; and through a rumor
    // agent: serf agents' handlers respond.
    query_until(
        "serf query via s1",
        || serf_query(&c.rpcs[1], &["uptime"]),
        &all,
        &replies(&NAMES),
    );
    query_until(
        "serf query via r2",
        || serf_query(&c.rpcs[2], &["uptime", "payload-x"]),
        &all,
        &replies(&NAMES),
    );
    // rumor query through a rumor agent and through a serf agent.
    query_until(
        "rumor query via r1",
        || rumor_query(&c.rpcs[0], &["uptime"]),
        &all,
        &replies(&NAMES),
    );
    query_until(
        "rumor query via s2",
        || rumor_query(&c.rpcs[3], &["uptime"]),
        &all,
        &replies(&NAMES),
    );
    // Node filters: exactly the named nodes ack and answer.
    let pair = ["r2", "s2"];
    query_until(
        "serf query -node",
        || serf_query(&c.rpcs[1], &["-node=r2", "-node=s2", "who"]),
        &names(&pair),
        &replies(&pair),
    );
    query_until(
        "rumor query --node",
        || rumor_query(&c.rpcs[0], &["--node", "r2", "--node", "s2", "who"]),
        &names(&pair),
        &replies(&pair),
    );
    // Tag filters (Go regexp search, unanchored).
    let serfs = ["s1", "s2"];
    let rumors = ["r1", "r2"];
    query_until(
        "rumor query --tag kind=serf",
        || rumor_query(&c.rpcs[2], &["--tag", "kind=serf", "who"]),
        &names(&serfs),
        &replies(&serfs),
    );
    query_until(
        "serf query -tag kind=rum",
        || serf_query(&c.rpcs[3], &["-tag", "kind=rum", "who"]),
        &names(&rumors),
        &replies(&rumors),
    );
    query_until(
        "rumor query --tag kind=^s.rf$ --node s1",
        || rumor_query(&c.rpcs[0], &["--tag", "kind=^s.rf$", "--node", "s1", "who"]),
        &names(&["s1"]),
        &replies(&["s1"]),
    );
    // Without acks: responses only.
    query_until(
        "rumor query --no-ack",
        || rumor_query(&c.rpcs[0], &["--no-ack", "uptime"]),
        &BTreeSet::new(),
        &replies(&NAMES),
    );
    // Text output, streamed, ending at the deadline: between the timeout and a few seconds
    // more.
    let start = Instant::now();
    let out = rumor_cli(&[
        "query",
        "--rpc-addr",
        &c.rpcs[0],
        "--timeout",
        "2s",
        "--node",
        "s1",
        "uptime",
    ]);
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(
        text,
        "Query 'uptime' dispatched\nAck from 's1'\nResponse from 's1': reply-from-s1\n\
         Total Acks: 1\nTotal Responses: 1\n"
    );
    // The responders got connection IDs counting from 1, and the respond errors.
    for r in &c.responders {
        let s = r.seen.lock().unwrap();
        assert!(!s.ids.is_empty());
        let want: Vec<u64> = (1..=s.ids.len() as u64).collect();
        assert_eq!(s.ids, want);
        assert!(s
            .unknown_id
            .iter()
            .all(|e| e == "No pending queries matching ID"));
        assert!(
            s.second_respond.iter().all(|e| !e.is_empty()
                && !e.starts_with("unexpected")
                && e != "No pending queries matching ID"),
            "{:?}",
            s.second_respond
        );
    }
    // Internal names are refused by both kinds of agent, with the same words.
    for (i, rpc) in c.rpcs.iter().enumerate().take(2) {
        let out = rumor_cli(&["query", "--rpc-addr", rpc, "_serf_conflict", "x"]);
        assert!(!out.status.success(), "agent {i}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Queries cannot contain the '_serf_' prefix"),
            "agent {i}: {err}"
        );
    }
    let _ = &c.dir;
}

fn reachability_ok(out: &std::process::Output, verbose: bool) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("Total members: 4, live members: 4\nStarting reachability test...\n"),
        "{text}"
    );
    assert!(
        text.contains("Successfully contacted all live nodes"),
        "{text}"
    );
    if verbose {
        for n in NAMES {
            assert!(text.contains(&format!("\tAck from '{n}'")), "{text}");
        }
        assert!(text.contains("Query time: "), "{text}");
    }
}

#[test]
fn reachability_rtt_and_info_across_kinds() {
    let mut c = cluster(81);
    // Reachability, both CLIs against both kinds.
    for rpc in [&c.rpcs[0], &c.rpcs[1]] {
        let out = serf_cli(&["reachability", "-verbose", &format!("-rpc-addr={rpc}")]);
        reachability_ok(&out, true);
        let out = rumor_cli(&["reachability", "--verbose", "--rpc-addr", rpc]);
        reachability_ok(&out, true);
    }
    let out = rumor_cli(&["reachability", "--rpc-addr", &c.rpcs[2]]);
    reachability_ok(&out, false);

    // rtt between a rumor node and a serf node, once coordinates exist (bounded wait).
    let parse = |out: &std::process::Output, a: &str, b: &str| -> Option<f64> {
        let text = String::from_utf8_lossy(&out.stdout);
        let rest = text
            .trim_end()
            .strip_prefix(&format!("Estimated {a} <-> {b} rtt: "))?;
        rest.strip_suffix(" ms")?.parse().ok()
    };
    let mut estimates = Vec::new();
    eventually("serf rtt r1 s2 via s1", FORM, || {
        let out = serf_cli(&["rtt", &format!("-rpc-addr={}", c.rpcs[1]), "r1", "s2"]);
        parse(&out, "r1", "s2").map(|x| estimates.push(x)).is_some()
    });
    eventually("serf rtt s1 (against r2, one arg)", FORM, || {
        let out = serf_cli(&["rtt", &format!("-rpc-addr={}", c.rpcs[2]), "s1"]);
        parse(&out, "s1", "r2").map(|x| estimates.push(x)).is_some()
    });
    eventually("rumor rtt r2 s1 via r1", FORM, || {
        let out = rumor_cli(&["rtt", "--rpc-addr", &c.rpcs[0], "r2", "s1"]);
        parse(&out, "r2", "s1").map(|x| estimates.push(x)).is_some()
    });
    eventually("rumor rtt r1 (against s2, one arg)", FORM, || {
        let out = rumor_cli(&["rtt", "--rpc-addr", &c.rpcs[3], "r1"]);
        parse(&out, "r1", "s2").map(|x| estimates.push(x)).is_some()
    });
    for x in &estimates {
        // Loopback: finite, positive, well under a second.
        assert!(x.is_finite() && *x > 0.0 && *x < 1000.0, "{estimates:?}");
    }
    // Unknown nodes: serf's message, exit 1, from both CLIs and both agents.
    for rpc in [&c.rpcs[0], &c.rpcs[1]] {
        let out = rumor_cli(&["rtt", "--rpc-addr", rpc, "nosuch", "r1"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("Could not find a coordinate for node \"nosuch\""));
        let out = serf_cli(&["rtt", &format!("-rpc-addr={rpc}"), "r1", "nosuch"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            err.contains("Could not find a coordinate for node \"nosuch\""),
            "{err}"
        );
    }

    // info / stats: serf's sections and keys, through both CLIs.
    let out = serf_cli(&["info", "-format=json", &format!("-rpc-addr={}", c.rpcs[0])]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "members",
        "failed",
        "left",
        "health_score",
        "member_time",
        "event_time",
        "query_time",
        "intent_queue",
        "event_queue",
        "query_queue",
        "encrypted",
        "coordinate_resets",
    ] {
        assert!(v["serf"][key].is_string(), "serf.{key} missing: {v}");
    }
    assert_eq!(v["serf"]["members"], "4");
    assert_eq!(v["serf"]["encrypted"], "false");
    assert_eq!(v["agent"]["name"], "r1");
    assert_eq!(v["tags"]["kind"], "rumor");
    for key in [
        "os",
        "arch",
        "version",
        "cpu_count",
        "max_procs",
        "goroutines",
    ] {
        assert!(v["runtime"][key].is_string(), "runtime.{key} missing: {v}");
    }
    assert_eq!(v["event_handlers"], serde_json::json!({}), "{v}");
    // r2's handler shows as serf shows its handlers.
    let out = rumor_cli(&["info", "--format", "json", "--rpc-addr", &c.rpcs[2]]);
    let v2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let script = c.dir.path().join("answer.sh").display().to_string();
    assert_eq!(
        v2["event_handlers"],
        serde_json::json!({ "query:": script }),
        "{v2}"
    );
    // The reachability pings above went through r1's query clock.
    let qt: u64 = v["serf"]["query_time"].as_str().unwrap().parse().unwrap();
    assert!(qt >= 3, "query_time {qt}");
    let out = rumor_cli(&["info", "--rpc-addr", &c.rpcs[1]]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("agent:\n\tname = s1\n"), "{text}");
    assert!(text.contains("\tcoordinate_resets = 0\n"), "{text}");

    // A member killed a moment ago is still alive in the lists but cannot ack: both CLIs
    // report it missing and exit non-zero (run side by side, before anyone declares it
    // failed).
    c.procs[3].kill9();
    let (ours, theirs) = std::thread::scope(|s| {
        let ours = s.spawn(|| rumor_cli(&["reachability", "--rpc-addr", &c.rpcs[0]]));
        let theirs = s.spawn(|| serf_cli(&["reachability", &format!("-rpc-addr={}", c.rpcs[1])]));
        (ours.join().unwrap(), theirs.join().unwrap())
    });
    for out in [ours, theirs] {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("Total members: 4, live members: 4\n"),
            "{text}"
        );
        assert!(
            text.contains("Received less acks than live nodes! Missing acks from:\n\ts2\n"),
            "{text}"
        );
    }
}
