//! Events and queries sent to another datacenter (`rumor event --dc`, `rumor query --dc`):
//! two datacenters on loopback (127.0.120.x–127.0.129.x), each a rumor server and a rumor
//! client, dc2 also a real Serf 0.9.4 agent (`-tag dc=dc2`); the two servers federated over
//! the WAN pool. Every agent runs a `user:dc-ping` handler that appends a line to one file,
//! and a `query:dc-hello` handler that answers with its name; dc1's server also runs a silent
//! catch-all `query` handler that logs every query it sees (rumor's own `_rumor_` queries must
//! not be among them). Processes are killed when the test ends, pass or fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;

const FORM: Duration = Duration::from_secs(45);

/// The dc2 agents: the server, the rumor client, the serf agent.
const DC2: [&str; 3] = ["srv2", "cli2", "serf2"];

// Fields drop in order: the agents (whose logs are printed on a panic) before their directory.
struct Fed {
    procs: Vec<Proc>,
    /// RPC addresses: srv1, cli1, srv2, cli2, serf2.
    rpc: Vec<String>,
    events: PathBuf,
    /// The log of srv1's catch-all query handler: `AGENT QUERY` lines.
    queries: PathBuf,
    _dir: tempfile::TempDir,
}

/// A silent handler for every query, appending `AGENT QUERY` to `queries.log`.
fn catch_all(dir: &Path) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("queries.log");
    let script = dir.join("on-any-query.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >/dev/null\necho \"$SERF_SELF_NAME $SERF_QUERY_NAME\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.display().to_string(), log)
}

fn scripts(dir: &Path) -> (String, String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let events = dir.join("events.log");
    let on_event = dir.join("on-event.sh");
    std::fs::write(
        &on_event,
        format!(
            "#!/bin/sh\ncat >/dev/null\necho \"$SERF_SELF_NAME $SERF_USER_EVENT\" >> {}\n",
            events.display()
        ),
    )
    .unwrap();
    let on_query = dir.join("on-query.sh");
    std::fs::write(
        &on_query,
        "#!/bin/sh\ncat >/dev/null\necho \"hello-from-$SERF_SELF_NAME\"\n",
    )
    .unwrap();
    for p in [&on_event, &on_query] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (
        on_event.display().to_string(),
        on_query.display().to_string(),
        events,
    )
}

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

fn alive_servers(rpc: &str, dc: &str) -> u64 {
    let Some(v) = dcs_json(rpc) else { return 0 };
    v["datacenters"]
        .as_array()
        .and_then(|l| l.iter().find(|d| d["name"] == dc))
        .and_then(|d| d["alive"].as_u64())
        .unwrap_or(0)
}

fn alive_names(rpc: &str) -> BTreeSet<String> {
    rumor_members(rpc)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.1 == "alive")
        .map(|m| m.0)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Start both datacenters and wait until the WAN pool and both LAN pools converged.
fn federation() -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let (on_event, on_query, events) = scripts(dir.path());
    let (on_any_query, queries) = catch_all(dir.path());
    let handlers = [
        "--event-handler".to_string(),
        format!("user:dc-ping={on_event}"),
        "--event-handler".to_string(),
        format!("query:dc-hello={on_query}"),
    ];
    let ip = |dc: u8, host: u8| format!("127.0.{}.{host}", 119 + dc);
    let wan_ip = |dc: u8| format!("127.0.{}.1", 124 + dc);
    let mut procs = Vec::new();
    let mut rpc = Vec::new();
    let mut wan1 = String::new();
    for dc in [1u8, 2] {
        let dcname = format!("dc{dc}");
        let (sip, cip) = (ip(dc, 1), ip(dc, 2));
        let (sport, srpc, cport, crpc) = (
            free_port(&sip),
            free_port(&sip),
            free_port(&cip),
            free_port(&cip),
        );
        let wan = format!("{}:{}", wan_ip(dc), free_port(&wan_ip(dc)));
        let mut extra: Vec<String> = vec![
            "--profile".into(),
            "local".into(),
            "--server".into(),
            "--wan-bind".into(),
            wan.clone(),
        ];
        if dc == 1 {
            wan1 = wan.clone();
            extra.extend([
                "--event-handler".to_string(),
                format!("query={on_any_query}"),
            ]);
        } else {
            extra.extend(["--wan-join".to_string(), wan1.clone()]);
        }
        extra.extend(handlers.iter().cloned());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let srv = format!("srv{dc}");
        procs.push(rumor_agent_dc(
            dir.path(),
            &srv,
            &dcname,
            &sip,
            sport,
            srpc,
            &extra,
        ));
        rpc.push(format!("{sip}:{srpc}"));
        let join = format!("{sip}:{sport}");
        let mut cextra = vec!["--profile", "local", "--join", &join];
        cextra.extend(handlers.iter().map(String::as_str));
        let cli = format!("cli{dc}");
        procs.push(rumor_agent_dc(
            dir.path(),
            &cli,
            &dcname,
            &cip,
            cport,
            crpc,
            &cextra,
        ));
        rpc.push(format!("{cip}:{crpc}"));
        if dc == 2 {
            let sgip = ip(2, 3);
            let (sgport, sgrpc) = (free_port(&sgip), free_port(&sgip));
            // A serf agent exits if its start join fails: start it once srv2 is up.
            let r = rpc[2].clone();
            eventually("srv2 up", FORM, || rumor_members(&r).is_some());
            let mut cmd = std::process::Command::new(serf_bin());
            cmd.arg("agent")
                .arg("-node=serf2")
                .arg(format!("-bind={sgip}:{sgport}"))
                .arg(format!("-rpc-addr={sgip}:{sgrpc}"))
                .arg("-tag=dc=dc2")
                .arg(format!("-join={join}"))
                .arg(format!("-event-handler=user:dc-ping={on_event}"))
                .arg(format!("-event-handler=query:dc-hello={on_query}"))
                .arg("-log-level=debug");
            procs.push(Proc::spawn("serf2", cmd, dir.path()));
            rpc.push(format!("{sgip}:{sgrpc}"));
        }
    }
    let fed = Fed {
        procs,
        rpc,
        events,
        queries,
        _dir: dir,
    };
    let dc1 = set(&["srv1", "cli1"]);
    let dc2 = set(&DC2);
    eventually("both LAN pools converge", FORM, || {
        fed.rpc[..2].iter().all(|r| alive_names(r) == dc1)
            && fed.rpc[2..4].iter().all(|r| alive_names(r) == dc2)
    });
    eventually("the WAN pool federates dc1 and dc2", FORM, || {
        alive_servers(&fed.rpc[0], "dc2") == 1 && alive_servers(&fed.rpc[2], "dc1") == 1
    });
    fed
}

/// The lines of the event file: (agent, event).
fn event_lines(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.to_string(), b.to_string()))
        })
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn query_json(rpc: &str, dc: &str) -> serde_json::Value {
    let out = rumor_cli(&[
        "query",
        "--rpc-addr",
        rpc,
        "--dc",
        dc,
        "--format",
        "json",
        "--timeout",
        "3s",
        "dc-hello",
    ]);
    assert!(
        out.status.success(),
        "query --dc {dc} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names_of(v: &serde_json::Value) -> BTreeSet<String> {
    match v {
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn events_and_queries_reach_exactly_the_other_datacenter() {
    let fed = federation();
    let srv1 = fed.rpc[0].clone();

    // An event for dc2, sent through dc1's server: every dc2 agent's handler once, no dc1 one.
    let sent = Instant::now();
    // No coalescing: a handler coalescing duplicates would hide a second delivery.
    let out = rumor_cli(&[
        "event",
        "--rpc-addr",
        &srv1,
        "--dc",
        "dc2",
        "--no-coalesce",
        "dc-ping",
        "p1",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "Event 'dc-ping' dispatched to datacenter dc2! Coalescing enabled: false\n"
    );
    let want: BTreeSet<(String, String)> = DC2
        .iter()
        .map(|n| (n.to_string(), "dc-ping".to_string()))
        .collect();
    eventually("every dc2 handler ran", Duration::from_secs(20), || {
        event_lines(&fed.events).len() >= DC2.len()
    });
    let first = sent.elapsed();
    assert!(first < Duration::from_secs(20), "{first:?}");
    // A 5 s watch: no second run anywhere, nothing in dc1.
    std::thread::sleep(Duration::from_secs(5));
    let lines = event_lines(&fed.events);
    assert_eq!(lines.len(), DC2.len(), "{lines:?}");
    assert_eq!(lines.into_iter().collect::<BTreeSet<_>>(), want);

    // A query for dc2: an ack and an answer from every dc2 agent, none from dc1, and none
    // from the server's WAN name (the control answers stay inside).
    let started = Instant::now();
    let v = query_json(&srv1, "dc2");
    let took = started.elapsed();
    assert_eq!(names_of(&v["Acks"]), set(&DC2), "{v}");
    assert_eq!(names_of(&v["Responses"]), set(&DC2), "{v}");
    for n in DC2 {
        assert_eq!(v["Responses"][n], format!("hello-from-{n}\n"), "{v}");
    }
    // It ends at its 3 s deadline (the CLI's own start-up on top).
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // --dc naming our own datacenter is the plain command.
    let v = query_json(&srv1, "dc1");
    assert_eq!(names_of(&v["Responses"]), set(&["srv1", "cli1"]), "{v}");
    // And the other way round, from dc2's server.
    let v = query_json(&fed.rpc[2], "dc1");
    assert_eq!(names_of(&v["Responses"]), set(&["srv1", "cli1"]), "{v}");

    // An unknown datacenter: the error lists the known ones, and the CLI exits non-zero.
    let out = rumor_cli(&["event", "--rpc-addr", &srv1, "--dc", "dc9", "dc-ping"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown datacenter 'dc9' (known datacenters: dc1, dc2)"),
        "{}",
        text(&out.stderr)
    );
    let out = rumor_cli(&["query", "--rpc-addr", &srv1, "--dc", "dc9", "dc-hello"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown datacenter 'dc9' (known datacenters: dc1, dc2)"),
        "{}",
        text(&out.stderr)
    );

    // From dc1's client, relayed by srv1: again every dc2 handler once, no dc1 one.
    let cli1 = fed.rpc[1].clone();
    let out = rumor_cli(&[
        "event",
        "--rpc-addr",
        &cli1,
        "--dc",
        "dc2",
        "--no-coalesce",
        "dc-ping",
        "p2",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        "Event 'dc-ping' dispatched to datacenter dc2! Coalescing enabled: false\n"
    );
    eventually(
        "every dc2 handler ran again",
        Duration::from_secs(20),
        || event_lines(&fed.events).len() >= 2 * DC2.len(),
    );
    std::thread::sleep(Duration::from_secs(5));
    let lines = event_lines(&fed.events);
    assert_eq!(lines.len(), 2 * DC2.len(), "{lines:?}");
    assert_eq!(
        lines[DC2.len()..].iter().cloned().collect::<BTreeSet<_>>(),
        want
    );

    // A query from dc1's client: answers from exactly the dc2 agents (not srv1, which relays,
    // nor srv2's WAN name), ending at the client's 3 s deadline.
    let started = Instant::now();
    let v = query_json(&cli1, "dc2");
    let took = started.elapsed();
    assert_eq!(names_of(&v["Acks"]), set(&DC2), "{v}");
    assert_eq!(names_of(&v["Responses"]), set(&DC2), "{v}");
    for n in DC2 {
        assert_eq!(v["Responses"][n], format!("hello-from-{n}\n"), "{v}");
    }
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The relaying server's refusal reaches the client.
    let out = rumor_cli(&["event", "--rpc-addr", &cli1, "--dc", "dc9", "dc-ping"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "srv1 refused the request: unknown datacenter 'dc9' (known datacenters: dc1, dc2)"
        ),
        "{err}"
    );

    // srv1's catch-all query handler saw the plain dc1 queries, never rumor's own.
    let seen = std::fs::read_to_string(&fed.queries).unwrap_or_default();
    assert!(seen.lines().any(|l| l == "srv1 dc-hello"), "{seen}");
    assert!(!seen.contains("_rumor_"), "{seen}");

    // A serf agent does not know the command.
    let out = rumor_cli(&["event", "--rpc-addr", &fed.rpc[4], "--dc", "dc1", "dc-ping"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Unsupported command"),
        "{}",
        text(&out.stderr)
    );

    // None of that fired a handler.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(event_lines(&fed.events).len(), 2 * DC2.len());
    drop(fed.procs);
}
