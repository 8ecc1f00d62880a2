//! Running one handler script for one event, as Serf's `invokeEventScript` does: the
//! environment, stdin, the shared 8 KiB output ring, the slow warning. Added here: a bound on
//! the run time ([`SCRIPT_TIMEOUT`]) after which the script's whole process group is killed.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rumor_serf::Member;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::HandlerEvent;

/// How much output (stdout and stderr together) is kept: the last 8 KiB.
pub const OUTPUT_LIMIT: usize = 8 * 1024;
/// A script running longer than this gets a warning (it keeps running).
pub const SLOW_WARNING: Duration = Duration::from_secs(1);
/// A script still running after this is killed with its process group. Serf has no bound;
/// ours is long enough for deploy-style scripts and keeps a hung one from stalling every
/// later event forever.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Time limits for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// When to warn that the script is slow.
    pub slow: Duration,
    /// When to kill it.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            slow: SLOW_WARNING,
            timeout: SCRIPT_TIMEOUT,
        }
    }
}

/// Why a script could not be run (its own failure is an [`Outcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The output pipe could not be made.
    #[error("cannot create the output pipe: {0}")]
    Pipe(#[source] std::io::Error),
    /// `/bin/sh` could not be started.
    #[error("cannot start /bin/sh: {0}")]
    Spawn(#[source] std::io::Error),
    /// Waiting for the script failed.
    #[error("cannot wait for the script: {0}")]
    Wait(#[source] std::io::Error),
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the shell exited (after a kill: the kill).
    pub status: ExitStatus,
    /// The last [`OUTPUT_LIMIT`] bytes of stdout and stderr, interleaved as written.
    pub output: Vec<u8>,
    /// Every byte the script wrote, kept or not.
    pub total_output: u64,
    /// It ran past [`Limits::timeout`] and was killed.
    pub timed_out: bool,
    /// From start to exit.
    pub elapsed: Duration,
}

/// A byte ring that keeps the last `cap` bytes written (Serf's `circbuf`).
#[derive(Debug, Clone)]
pub struct Ring {
    cap: usize,
    buf: VecDeque<u8>,
    total: u64,
}

impl Ring {
    /// An empty ring keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Ring {
        Ring {
            cap,
            buf: VecDeque::with_capacity(cap.min(OUTPUT_LIMIT)),
            total: 0,
        }
    }

    /// Append, dropping the oldest bytes beyond the capacity.
    pub fn write(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let data = &data[data.len().saturating_sub(self.cap)..];
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(data);
    }

    /// Bytes written in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bytes kept, oldest first.
    pub fn bytes(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }
}

/// The environment variable Serf sets for local tag `key`: `SERF_TAG_` and the key upper
/// cased, with every character outside `[A-Z0-9_]` replaced by `_` (one per character).
pub fn tag_env_name(key: &str) -> String {
    let mut out = String::from("SERF_TAG_");
    for c in key.chars() {
        // Go upper-cases rune by rune (simple case mapping): a character whose upper case is
        // several characters (ß) stays itself and so becomes `_`.
        let mut up = c.to_uppercase();
        let u = match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        };
        out.push(
            if u.is_ascii_uppercase() || u.is_ascii_digit() || u == '_' {
                u
            } else {
                '_'
            },
        );
    }
    out
}

/// The variables added to the agent's own environment for `event` (serf.md §7.2), in the
/// order Serf adds them; a later duplicate name wins.
pub fn env_vars(local: &Member, event: &HandlerEvent) -> Vec<(String, String)> {
    let mut env = vec![
        ("SERF_EVENT".to_string(), event.kind().as_str().to_string()),
        ("SERF_SELF_NAME".to_string(), local.name.to_string()),
        (
            "SERF_SELF_ROLE".to_string(),
            local.tags.get("role").cloned().unwrap_or_default(),
        ),
    ];
    for (k, v) in &local.tags {
        env.push((tag_env_name(k), v.clone()));
    }
    match event {
        HandlerEvent::Member { .. } => {}
        HandlerEvent::User(u) => {
            env.push(("SERF_USER_EVENT".into(), u.name.clone()));
            env.push(("SERF_USER_LTIME".into(), u.ltime.to_string()));
        }
        HandlerEvent::Query(q) => {
            env.push(("SERF_QUERY_NAME".into(), q.name.clone()));
            env.push(("SERF_QUERY_LTIME".into(), q.ltime.to_string()));
        }
    }
    env
}

/// Escapes tabs and newlines as `\t` and `\n` (Serf's `eventClean`).
pub fn event_clean(v: &str) -> String {
    v.replace('\t', "\\t").replace('\n', "\\n")
}

/// What the script reads on stdin: for member events one line per member,
/// `name\taddr\trole\tk=v,k=v\n` (name, role and the tag list escaped, addr the bare IP);
/// for user events and queries the payload, with `\n` added if it does not end in one.
pub fn stdin_bytes(event: &HandlerEvent) -> Vec<u8> {
    match event {
        HandlerEvent::Member { members, .. } => {
            let mut out = String::new();
            for m in members {
                let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let ip = match m.addr.ip() {
                    std::net::IpAddr::V6(v6) => v6
                        .to_ipv4_mapped()
                        .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
                    ip => ip,
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    event_clean(&m.name),
                    ip,
                    event_clean(m.tags.get("role").map_or("", String::as_str)),
                    event_clean(&tags.join(","))
                ));
            }
            out.into_bytes()
        }
        HandlerEvent::User(u) => payload_line(&u.payload),
        HandlerEvent::Query(q) => payload_line(&q.payload),
    }
}

fn payload_line(payload: &[u8]) -> Vec<u8> {
    let mut out = payload.to_vec();
    if out.last().is_some_and(|b| *b != b'\n') {
        out.push(b'\n');
    }
    out
}

/// Runs `/bin/sh -c script` with `env` added to our environment and `stdin` on its stdin,
/// in its own process group; collects output until the shell exits and the output pipe
/// closes. Past `limits.timeout` a running script's group is killed; a script that exited
/// but left children holding its output open is not waited for beyond it.
pub async fn invoke(
    script: &str,
    env: &[(String, String)],
    stdin: Vec<u8>,
    limits: Limits,
) -> Result<Outcome, RunError> {
    let (reader, writer) = std::io::pipe().map_err(RunError::Pipe)?;
    let writer2 = writer.try_clone().map_err(RunError::Pipe)?;
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        if k.contains(['\0', '=']) || v.contains('\0') {
            tracing::warn!(variable = %k, "not setting an environment variable with a NUL byte or a bad name");
            continue;
        }
        cmd.env(k, v);
    }
    let start = Instant::now();
    let spawned = cmd.spawn();
    // The command holds our copies of the pipe's write end: drop them, or EOF never comes.
    drop(cmd);
    let mut child = spawned.map_err(RunError::Spawn)?;
    let pid = child.id();
    let mut out = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(RunError::Pipe)?;
    if let Some(mut pipe) = child.stdin.take() {
        tokio::spawn(async move {
            // A script that does not read its stdin closes the pipe: not an error.
            if let Err(e) = pipe.write_all(&stdin).await {
                tracing::debug!(error = %e, "handler script did not take its stdin");
            }
        });
    }
    let mut ring = Ring::new(OUTPUT_LIMIT);
    let mut buf = vec![0u8; 4096];
    let mut status: Option<ExitStatus> = None;
    let mut eof = false;
    let mut warned = false;
    let mut timed_out = false;
    let slow = tokio::time::sleep(limits.slow);
    let limit = tokio::time::sleep(limits.timeout);
    tokio::pin!(slow, limit);
    while status.is_none() || !eof {
        tokio::select! {
            r = out.read(&mut buf), if !eof => match r {
                Ok(0) => eof = true,
                Ok(n) => ring.write(&buf[..n]),
                Err(e) => {
                    tracing::warn!(script, error = %e, "cannot read the script's output");
                    eof = true;
                }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s.map_err(RunError::Wait)?);
            }
            _ = &mut slow, if !warned => {
                warned = true;
                tracing::warn!(script, "Script '{script}' slow, execution exceeding {:?}", limits.slow);
            }
            _ = &mut limit => {
                if status.is_none() {
                    tracing::error!(script, "Script '{script}' still running after {:?}: killing its process group", limits.timeout);
                    kill_group(pid);
                    let _ = child.start_kill();
                    status = Some(child.wait().await.map_err(RunError::Wait)?);
                    timed_out = true;
                } else {
                    tracing::warn!(script, "Script '{script}' exited but its children still hold its output open after {:?}: not waiting for them", limits.timeout);
                }
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    let status = match status {
        Some(s) => s,
        None => child.wait().await.map_err(RunError::Wait)?,
    };
    if ring.total() > OUTPUT_LIMIT as u64 {
        tracing::warn!(
            script,
            "Script '{script}' generated {} bytes of output, truncated to {OUTPUT_LIMIT}",
            ring.total()
        );
    }
    Ok(Outcome {
        status,
        output: ring.bytes(),
        total_output: ring.total(),
        timed_out,
        elapsed,
    })
}

/// SIGKILL to the script's process group (the shell and everything it started).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        tracing::warn!(error = %e, "cannot kill the script's process group");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::handler::{MemberKind, QueryEvent, UserEvent};
    use bytes::Bytes;
    use rumor_serf::MemberStatus;
    use std::collections::BTreeMap;

    fn member(name: &str, addr: &str, tags: &[(&str, &str)]) -> Member {
        Member {
            name: name.into(),
            addr: addr.parse().unwrap(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            status: MemberStatus::Alive,
            protocol: [1, 5, 2],
            delegate: [2, 5, 4],
        }
    }

    #[test]
    fn ring_keeps_the_last_bytes() {
        let mut r = Ring::new(4);
        r.write(b"ab");
        assert_eq!(r.bytes(), b"ab");
        r.write(b"cde");
        assert_eq!(r.bytes(), b"bcde");
        r.write(b"0123456789");
        assert_eq!(r.bytes(), b"6789");
        assert_eq!(r.total(), 15);
        r.write(b"");
        assert_eq!(r.bytes(), b"6789");
    }

    #[test]
    fn tag_names_are_sanitized_like_serf() {
        assert_eq!(tag_env_name("role"), "SERF_TAG_ROLE");
        assert_eq!(tag_env_name("idx"), "SERF_TAG_IDX");
        assert_eq!(tag_env_name("my-tag.v2"), "SERF_TAG_MY_TAG_V2");
        assert_eq!(tag_env_name("a_B9"), "SERF_TAG_A_B9");
        assert_eq!(tag_env_name("é x"), "SERF_TAG___X");
        // Simple (one-rune) case mapping, as Go's strings.ToUpper per rune.
        assert_eq!(tag_env_name("ı"), "SERF_TAG_I");
        assert_eq!(tag_env_name("ß"), "SERF_TAG__");
        assert_eq!(tag_env_name(""), "SERF_TAG_");
    }

    #[test]
    fn env_for_each_kind() {
        let me = member("n2", "127.0.1.2:7946", &[("role", "web"), ("idx", "2")]);
        let join = HandlerEvent::Member {
            kind: MemberKind::Join,
            members: vec![me.clone()],
        };
        let kv = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            env_vars(&me, &join),
            kv(&[
                ("SERF_EVENT", "member-join"),
                ("SERF_SELF_NAME", "n2"),
                ("SERF_SELF_ROLE", "web"),
                ("SERF_TAG_IDX", "2"),
                ("SERF_TAG_ROLE", "web"),
            ])
        );
        let user = HandlerEvent::User(UserEvent {
            name: "deploy".into(),
            payload: Bytes::from_static(b"v1"),
            ltime: 42,
            coalesce: true,
        });
        let env = env_vars(&member("x", "127.0.0.1:1", &[]), &user);
        assert_eq!(
            env,
            kv(&[
                ("SERF_EVENT", "user"),
                ("SERF_SELF_NAME", "x"),
                ("SERF_SELF_ROLE", ""),
                ("SERF_USER_EVENT", "deploy"),
                ("SERF_USER_LTIME", "42"),
            ])
        );
        let q = HandlerEvent::Query(QueryEvent {
            name: "uptime".into(),
            payload: Bytes::new(),
            ltime: 3,
            id: 99,
        });
        let env = env_vars(&member("x", "127.0.0.1:1", &[]), &q);
        assert_eq!(env[0], ("SERF_EVENT".into(), "query".into()));
        assert_eq!(
            &env[3..],
            &kv(&[("SERF_QUERY_NAME", "uptime"), ("SERF_QUERY_LTIME", "3")])[..]
        );
    }

    #[test]
    fn member_lines_are_escaped() {
        let e = HandlerEvent::Member {
            kind: MemberKind::Failed,
            members: vec![
                member("n1", "127.0.1.1:7946", &[("role", "web"), ("idx", "1")]),
                member(
                    "we\tird\nname",
                    "[::ffff:10.0.0.1]:7946",
                    &[("role", "a\tb"), ("k", "x\ny")],
                ),
                member("v6", "[fe80::1]:7946", &[]),
            ],
        };
        assert_eq!(
            String::from_utf8(stdin_bytes(&e)).unwrap(),
            "n1\t127.0.1.1\tweb\tidx=1,role=web\n\
             we\\tird\\nname\t10.0.0.1\ta\\tb\tk=x\\ny,role=a\\tb\n\
             v6\tfe80::1\t\t\n"
        );
    }

    #[test]
    fn payload_gets_one_newline() {
        let u = |p: &'static [u8]| {
            HandlerEvent::User(UserEvent {
                name: "e".into(),
                payload: Bytes::from_static(p),
                ltime: 1,
                coalesce: false,
            })
        };
        assert_eq!(stdin_bytes(&u(b"v1.2.3")), b"v1.2.3\n");
        assert_eq!(stdin_bytes(&u(b"done\n")), b"done\n");
        assert_eq!(stdin_bytes(&u(b"")), b"");
        assert_eq!(stdin_bytes(&u(b"a\n\nb")), b"a\n\nb\n");
    }

    #[tokio::test]
    async fn runs_with_env_stdin_and_shared_output() {
        let env = vec![("SERF_EVENT".to_string(), "user".to_string())];
        let o = invoke(
            "read line; echo \"$SERF_EVENT:$line\"; echo err >&2; exit 3",
            &env,
            b"hello\n".to_vec(),
            Limits::default(),
        )
        .await
        .unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(o.output, b"user:hello\nerr\n");
        assert!(!o.timed_out);
    }

    #[tokio::test]
    async fn output_is_capped_at_8k_and_unread_stdin_is_fine() {
        let o = invoke(
            "head -c 20000 /dev/zero | tr '\\0' a; printf END",
            &[],
            vec![b'x'; 200_000],
            Limits::default(),
        )
        .await
        .unwrap();
        assert!(o.status.success());
        assert_eq!(o.total_output, 20_003);
        assert_eq!(o.output.len(), OUTPUT_LIMIT);
        assert!(o.output.ends_with(b"aaEND"));
    }

    #[tokio::test]
    async fn a_hung_script_and_its_children_are_killed_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        // The child outlives nothing: if the group kill missed it, it would touch the marker.
        let script = format!(
            "echo started; (sleep 3; touch {}) & sleep 30",
            marker.display()
        );
        let limits = Limits {
            slow: Duration::from_millis(200),
            timeout: Duration::from_millis(800),
        };
        let o = invoke(&script, &[], Vec::new(), limits).await.unwrap();
        assert!(o.timed_out);
        assert!(!o.status.success());
        assert!(o.elapsed >= Duration::from_millis(800), "{:?}", o.elapsed);
        assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
        assert_eq!(o.output, b"started\n");
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(!marker.exists(), "the script's child survived the kill");
    }

    #[tokio::test]
    async fn a_daemon_holding_the_output_is_not_waited_for_past_the_limit() {
        let limits = Limits {
            slow: Duration::from_secs(5),
            timeout: Duration::from_millis(600),
        };
        let o = invoke("sleep 5 & echo bg", &[], Vec::new(), limits)
            .await
            .unwrap();
        assert!(o.status.success());
        assert!(!o.timed_out);
        assert_eq!(o.output, b"bg\n");
        assert!(o.elapsed >= Duration::from_millis(600), "{:?}", o.elapsed);
        assert!(o.elapsed < Duration::from_secs(4), "{:?}", o.elapsed);
    }
}
