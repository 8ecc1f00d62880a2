//! Event handler scripts (`--event-handler`) in mixed clusters of rumor and real Serf 0.9.4
//! agents on loopback (127.0.70.x–127.0.74.x), and our environment / stdin format against
//! what a real Serf handler saw (`testdata/serf-0.9.4/handler-env-sample.log`).
//!
//! Every agent runs the same dump script, the one the sample was recorded with: a record per
//! run with the sorted `SERF_*` environment and the stdin.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumor::handler::run::{env_vars, stdin_bytes};
use rumor::handler::{HandlerEvent, MemberKind, QueryEvent, UserEvent};
use rumor_serf::{Member, MemberStatus};
use support::*;

const FORM: Duration = Duration::from_secs(45);
/// Long enough for any coalesced batch (3 s) to have gone out.
const NO_REPEAT: Duration = Duration::from_secs(5);

/// One handler run as the dump script records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    env: BTreeMap<String, String>,
    stdin: Vec<String>,
}

impl Record {
    fn event(&self) -> &str {
        self.env.get("SERF_EVENT").map_or("", String::as_str)
    }
}

/// Parses `=== ...` / env lines / `--- stdin:` / lines / `--- end` records.
fn parse_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    let mut in_stdin = false;
    for line in text.lines() {
        if line.starts_with("=== ") {
            cur = Some(Record {
                env: BTreeMap::new(),
                stdin: Vec::new(),
            });
            in_stdin = false;
        } else if line == "--- stdin:" {
            in_stdin = true;
        } else if line == "--- end" {
            if let Some(r) = cur.take() {
                out.push(r);
            }
        } else if let Some(r) = cur.as_mut() {
            if in_stdin {
                r.stdin.push(line.to_string());
            } else if let Some((k, v)) = line.split_once('=') {
                r.env.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// A member line with its tag list in sorted order (Serf's order is random).
fn normalize_member_line(line: &str) -> String {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f.len(), 4, "not a member line: {line:?}");
    let mut tags: Vec<&str> = f[3].split(',').filter(|t| !t.is_empty()).collect();
    tags.sort_unstable();
    format!("{}\t{}\t{}\t{}", f[0], f[1], f[2], tags.join(","))
}

/// Writes the dump script (appending records to `log`) into `dir`; returns its path.
fn dump_script(dir: &Path, name: &str, log: &Path) -> PathBuf {
    let p = dir.join(format!("{name}.sh"));
    let body = format!(
        "#!/bin/sh\n{{\necho \"=== $(date +%s.%N) pid=$$\"\nenv | grep '^SERF_' | LC_ALL=C sort\n\
         echo '--- stdin:'\ncat\necho '--- end'\n}} >> '{}'\n",
        log.display()
    );
    std::fs::write(&p, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn records(log: &Path) -> Vec<Record> {
    parse_records(&std::fs::read_to_string(log).unwrap_or_default())
}

/// Waits (bounded) for the first record matching `pred`, then waits `NO_REPEAT` more and
/// checks that it stayed the only one.
fn exactly_one(log: &Path, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
    let started = Instant::now();
    eventually(what, Duration::from_secs(30), || {
        records(log).iter().any(&pred)
    });
    let first_seen = started.elapsed();
    std::thread::sleep(NO_REPEAT);
    let matching: Vec<Record> = records(log).into_iter().filter(|r| pred(r)).collect();
    assert_eq!(
        matching.len(),
        1,
        "{what}: ran {} times (first after {first_seen:?}): {matching:#?}",
        matching.len()
    );
    matching.into_iter().next().unwrap()
}

fn sample_records() -> Vec<Record> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/serf-0.9.4/handler-env-sample.log");
    parse_records(&std::fs::read_to_string(p).unwrap())
}

fn tags_of(pairs: &str) -> BTreeMap<String, String> {
    pairs
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (k, v) = t.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn member(name: &str, ip: &str, tags: BTreeMap<String, String>) -> Member {
    Member {
        name: name.into(),
        addr: format!("{ip}:7946").parse().unwrap(),
        tags,
        status: MemberStatus::Alive,
        protocol: [1, 5, 2],
        delegate: [2, 5, 4],
    }
}

/// Rebuilds each event of the sample from what the record shows, renders it with our code,
/// and checks we produce the same environment and stdin as Serf did.
#[test]
fn our_environment_and_stdin_match_the_serf_sample() {
    let sample = sample_records();
    assert_eq!(sample.len(), 12, "the sample has 12 records");
    let mut kinds = BTreeSet::new();
    for rec in &sample {
        // The local member: name and tags from the environment (tag keys are lower case in
        // the sample: idx, role, dc).
        let local_tags: BTreeMap<String, String> = rec
            .env
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("SERF_TAG_")
                    .map(|t| (t.to_ascii_lowercase(), v.clone()))
            })
            .collect();
        let local = member(&rec.env["SERF_SELF_NAME"], "127.0.1.2", local_tags);
        let stdin_text = |lines: &[String]| -> Vec<u8> {
            let mut s = lines.join("\n");
            if !s.is_empty() {
                s.push('\n');
            }
            s.into_bytes()
        };
        let event = match rec.event() {
            "user" => HandlerEvent::User(UserEvent {
                name: rec.env["SERF_USER_EVENT"].clone(),
                // The payload as sent (without the newline the agent adds).
                payload: Bytes::from(rec.stdin.join("\n")),
                ltime: rec.env["SERF_USER_LTIME"].parse().unwrap(),
                coalesce: true,
            }),
            "query" => HandlerEvent::Query(QueryEvent {
                name: rec.env["SERF_QUERY_NAME"].clone(),
                payload: Bytes::from(rec.stdin.join("\n")),
                ltime: rec.env["SERF_QUERY_LTIME"].parse().unwrap(),
                id: 1,
            }),
            kind => {
                let kind = match kind {
                    "member-join" => MemberKind::Join,
                    "member-leave" => MemberKind::Leave,
                    "member-failed" => MemberKind::Failed,
                    "member-update" => MemberKind::Update,
                    "member-reap" => MemberKind::Reap,
                    other => panic!("unknown event {other}"),
                };
                let members = rec
                    .stdin
                    .iter()
                    .map(|l| {
                        let f: Vec<&str> = l.split('\t').collect();
                        member(f[0], f[1], tags_of(f[3]))
                    })
                    .collect();
                HandlerEvent::Member { kind, members }
            }
        };
        kinds.insert(rec.event().to_string());
        let ours: BTreeMap<String, String> = env_vars(&local, &event).into_iter().collect();
        assert_eq!(ours, rec.env, "environment for {rec:?}");
        let ours_stdin = String::from_utf8(stdin_bytes(&event)).unwrap();
        let expected = String::from_utf8(stdin_text(&rec.stdin)).unwrap();
        if matches!(event, HandlerEvent::Member { .. }) {
            let norm = |s: &str| -> Vec<String> { s.lines().map(normalize_member_line).collect() };
            assert_eq!(norm(&ours_stdin), norm(&expected), "stdin for {rec:?}");
            assert!(ours_stdin.ends_with('\n'));
        } else {
            assert_eq!(ours_stdin, expected, "stdin for {rec:?}");
        }
    }
    assert_eq!(
        kinds,
        [
            "member-join",
            "member-leave",
            "member-update",
            "query",
            "user"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
}

/// One rumor agent and one serf agent, joined, each with the dump script for every event.
// Fields drop in order: the agents (whose logs are printed on a panic) before their directory.
struct Pair {
    _procs: Vec<Proc>,
    rumor_rpc: String,
    serf_rpc: String,
    rumor_log: PathBuf,
    serf_log: PathBuf,
    dir: tempfile::TempDir,
}

/// `extra_rumor` are more options for the rumor agent (more `--event-handler`s).
fn pair(
    dir: tempfile::TempDir,
    net: u8,
    rumor_handler_filter: &str,
    extra_rumor: &[String],
) -> Pair {
    let rip = format!("127.0.{net}.1");
    let sip = format!("127.0.{net}.2");
    let (rport, rrpc) = (free_port(&rip), free_port(&rip));
    let (sport, srpc) = (free_port(&sip), free_port(&sip));
    let rumor_log = dir.path().join("r1.records");
    let serf_log = dir.path().join("s1.records");
    let rscript = dump_script(dir.path(), "r1-handler", &rumor_log);
    let sscript = dump_script(dir.path(), "s1-handler", &serf_log);
    let rspec = format!("{rumor_handler_filter}{}", rscript.display());
    let mut rargs = vec!["--tag", "role=web", "--event-handler", &rspec];
    rargs.extend(extra_rumor.iter().map(String::as_str));
    let mut procs = vec![rumor_agent(dir.path(), "r1", &rip, rport, rrpc, &rargs)];
    let rumor_rpc = format!("{rip}:{rrpc}");
    eventually("r1 answers RPC", FORM, || {
        rumor_members(&rumor_rpc).is_some()
    });
    procs.push(serf_agent(
        dir.path(),
        "s1",
        &sip,
        sport,
        srpc,
        &[
            "-tag=role=web",
            &format!("-event-handler={}", sscript.display()),
            &format!("-join={rip}:{rport}"),
        ],
    ));
    let serf_rpc = format!("{sip}:{srpc}");
    for rpc in [&rumor_rpc, &serf_rpc] {
        eventually("both see both alive", FORM, || {
            let m = rumor_members(rpc);
            status_of(&m, "r1").as_deref() == Some("alive")
                && status_of(&m, "s1").as_deref() == Some("alive")
        });
    }
    Pair {
        dir,
        rumor_rpc,
        serf_rpc,
        rumor_log,
        serf_log,
        _procs: procs,
    }
}

/// The record of a user event as the other agent's (renamed) record should look.
fn without_self(r: &Record) -> Record {
    let mut r = r.clone();
    r.env.remove("SERF_SELF_NAME");
    r
}

#[test]
fn user_events_fire_handlers_on_both_kinds_exactly_once() {
    let p = pair(tempfile::tempdir().unwrap(), 70, "", &[]);
    let is_user = |name: &'static str| {
        move |r: &Record| {
            r.event() == "user" && r.env.get("SERF_USER_EVENT").map(String::as_str) == Some(name)
        }
    };

    // serf event -> the rumor agent's handler (and serf's own, for comparison).
    let out = serf_cli(&["event", &format!("-rpc-addr={}", p.serf_rpc), "deploy", "x"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = exactly_one(
        &p.rumor_log,
        "r1 runs its handler for deploy",
        is_user("deploy"),
    );
    let theirs = exactly_one(
        &p.serf_log,
        "s1 runs its handler for deploy",
        is_user("deploy"),
    );
    assert_eq!(ours.stdin, vec!["x".to_string()]);
    assert_eq!(ours.env["SERF_SELF_NAME"], "r1");
    assert_eq!(ours.env["SERF_SELF_ROLE"], "web");
    assert_eq!(ours.env["SERF_TAG_ROLE"], "web");
    assert_eq!(ours.env["SERF_TAG_DC"], "dc1");
    let ltime: u64 = ours.env["SERF_USER_LTIME"].parse().unwrap();
    assert!(ltime >= 1, "{ours:?}");
    // Everything but our own name is what Serf's handler saw.
    assert_eq!(without_self(&ours), without_self(&theirs));

    // rumor event -> the serf agent's handler, no coalescing.
    let out = rumor_cli(&[
        "event",
        "--rpc-addr",
        &p.rumor_rpc,
        "--no-coalesce",
        "ping-evt",
        "two words",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = exactly_one(
        &p.serf_log,
        "s1 runs its handler for ping-evt",
        is_user("ping-evt"),
    );
    let ours = exactly_one(
        &p.rumor_log,
        "r1 runs its handler for ping-evt",
        is_user("ping-evt"),
    );
    assert_eq!(theirs.stdin, vec!["two words".to_string()]);
    assert_eq!(theirs.env["SERF_SELF_NAME"], "s1");
    let ltime2: u64 = theirs.env["SERF_USER_LTIME"].parse().unwrap();
    assert!(ltime2 > ltime, "{ltime2} after {ltime}");
    assert_eq!(without_self(&ours), without_self(&theirs));
}

#[test]
fn member_join_handlers_see_member_lines() {
    let p = pair(
        tempfile::tempdir().unwrap(),
        71,
        "member-join,member-leave,member-failed=",
        &[],
    );
    let line = |name: &str, ip: &str| format!("{name}\t{ip}\tweb\tdc=dc1,role=web");
    let want: BTreeSet<String> = [line("r1", "127.0.71.1"), line("s1", "127.0.71.2")].into();
    for (who, log) in [("r1", &p.rumor_log), ("s1", &p.serf_log)] {
        eventually(
            &format!("{who}'s handler sees both joins"),
            Duration::from_secs(20),
            || {
                let seen: BTreeSet<String> = records(log)
                    .iter()
                    .filter(|r| r.event() == "member-join")
                    .flat_map(|r| r.stdin.iter().map(|l| normalize_member_line(l)))
                    .collect();
                seen == want
            },
        );
    }
    std::thread::sleep(NO_REPEAT);
    // Each member's join was delivered once (coalescing may batch them or not).
    for log in [&p.rumor_log, &p.serf_log] {
        let lines: Vec<String> = records(log)
            .iter()
            .filter(|r| r.event() == "member-join")
            .flat_map(|r| r.stdin.clone())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
    }
    // Only member-join matched the filter so far on the rumor side.
    assert!(records(&p.rumor_log)
        .iter()
        .all(|r| r.event() == "member-join"));
    // s1 killed with -9: r1's handler sees one member-failed with s1's line, not before
    // SWIM could have suspected and declared it (probe, suspicion, then the 1 s quiescence).
    let mut p = p;
    let killed = Instant::now();
    p._procs[1].kill9();
    let failed = exactly_one(&p.rumor_log, "member-failed of s1", |r| {
        r.event() == "member-failed"
    });
    let took = killed.elapsed();
    assert!(
        took > Duration::from_secs(2),
        "member-failed after {took:?}"
    );
    let lines: Vec<String> = failed
        .stdin
        .iter()
        .map(|l| normalize_member_line(l))
        .collect();
    assert_eq!(lines, vec![line("s1", "127.0.71.2")]);
    assert_eq!(
        failed.env.get("SERF_SELF_NAME").map(String::as_str),
        Some("r1")
    );
    let _ = &p.dir;
}

#[test]
fn an_invalid_handler_spec_stops_the_agent_at_start() {
    let out = rumor_cli(&[
        "agent",
        "--node",
        "bad",
        "--bind",
        "127.0.72.1:0",
        "--rpc-addr",
        "127.0.72.1:0",
        "--event-handler",
        "member-joined=/bin/true",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Invalid event script: Event 'member-joined' invoking '/bin/true'"),
        "{err}"
    );
}

/// Runs `serf query -format=json` and returns (acks, responses).
fn serf_query(
    rpc: &str,
    name: &str,
    payload: &str,
) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let out = serf_cli(&[
        "query",
        &format!("-rpc-addr={rpc}"),
        "-format=json",
        "-timeout=4s",
        name,
        payload,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acks = v["Acks"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let responses = v["Responses"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_string()))
        .collect();
    (acks, responses)
}

#[test]
fn a_query_handlers_output_is_the_response_serf_query_sees() {
    let dir = tempfile::tempdir().unwrap();
    let answer = dir.path().join("answer.sh");
    std::fs::write(
        &answer,
        "#!/bin/sh\nread p\nprintf 'up:%s:%s:%s' \"$SERF_SELF_NAME\" \"$SERF_QUERY_NAME\" \"$p\"\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.sh");
    std::fs::write(&broken, "#!/bin/sh\necho 'not an answer'\nexit 1\n").unwrap();
    let silent = dir.path().join("silent.sh");
    std::fs::write(&silent, "#!/bin/sh\ncat > /dev/null\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in [&answer, &broken, &silent] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let extra = vec![
        "--event-handler".to_string(),
        format!("query:uptime={}", answer.display()),
        "--event-handler".to_string(),
        format!("query:broken={}", broken.display()),
        "--event-handler".to_string(),
        format!("query:silent={}", silent.display()),
    ];
    let p = pair(dir, 73, "query=", &extra);
    let both: BTreeSet<String> = ["r1".to_string(), "s1".to_string()].into();

    let (acks, responses) = serf_query(&p.serf_rpc, "uptime", "payload-x");
    assert_eq!(acks, both);
    assert_eq!(
        responses,
        BTreeMap::from([("r1".to_string(), "up:r1:uptime:payload-x".to_string())])
    );
    // The dump handler saw the query once, with Serf's environment and the payload.
    let rec = exactly_one(&p.rumor_log, "r1's dump handler sees the query", |r| {
        r.event() == "query" && r.env.get("SERF_QUERY_NAME").map(String::as_str) == Some("uptime")
    });
    assert_eq!(rec.stdin, vec!["payload-x".to_string()]);
    assert!(rec.env["SERF_QUERY_LTIME"].parse::<u64>().unwrap() >= 1);
    // Serf's own dump handler saw the same query the same way (it answered nothing: its
    // dump script writes no output).
    let theirs = exactly_one(&p.serf_log, "s1's dump handler sees the query", |r| {
        r.event() == "query" && r.env.get("SERF_QUERY_NAME").map(String::as_str) == Some("uptime")
    });
    assert_eq!(without_self(&rec), without_self(&theirs));

    // A script that fails, or writes nothing, sends no response (the ack still comes).
    for name in ["broken", "silent"] {
        let (acks, responses) = serf_query(&p.serf_rpc, name, "x");
        assert_eq!(acks, both, "{name}");
        assert!(responses.is_empty(), "{name}: {responses:?}");
    }
}
