//! Helpers for tests that start real processes: rumor agents (this crate's binary) and real
//! `serf` agents. Every process is killed when its guard drops, even when a test fails, and
//! every wait is bounded.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

pub mod netns;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the `rumor` binary built for these tests.
pub fn rumor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rumor"))
}

/// The `serf` binary, or a failure that says how to get it.
pub fn serf_bin() -> PathBuf {
    for p in ["/usr/bin/serf", "/usr/local/bin/serf"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the serf binary is missing: scripts/test.sh installs it (apt-get install -y serf)");
}

/// A port on `ip` free for both TCP and UDP right now.
pub fn free_port(ip: &str) -> u16 {
    for _ in 0..100 {
        let t = TcpListener::bind((ip, 0)).unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    /// kill -9, and wait for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait up to `limit` for a clean exit; returns the exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Some(st);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "---- log of {} ----\n{}",
                self.name,
                tail(&self.log_text(), 60)
            );
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run a command to completion with a time limit.
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "command timed out: {cmd:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run the `rumor` CLI with `args` (30 s limit).
pub fn rumor_cli(args: &[&str]) -> Output {
    let mut cmd = Command::new(rumor_bin());
    cmd.args(args);
    run(cmd, Duration::from_secs(30))
}

/// Run the real `serf` CLI with `args` (30 s limit).
pub fn serf_cli(args: &[&str]) -> Output {
    let mut cmd = Command::new(serf_bin());
    cmd.args(args);
    run(cmd, Duration::from_secs(30))
}

/// Poll `f` every 200 ms until it returns true or `limit` passes.
pub fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}

/// A rumor agent process.
pub fn rumor_agent(dir: &Path, name: &str, ip: &str, port: u16, rpc: u16, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(rumor_bin());
    cmd.arg("agent")
        .args(["--node", name, "--dc", "dc1"])
        .args(["--bind", &format!("{ip}:{port}")])
        .args(["--rpc-addr", &format!("{ip}:{rpc}")])
        .args(["--log-level", "debug"])
        .args(extra);
    Proc::spawn(name, cmd, dir)
}

/// A real serf agent process.
pub fn serf_agent(dir: &Path, name: &str, ip: &str, port: u16, rpc: u16, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(serf_bin());
    cmd.arg("agent")
        .arg(format!("-node={name}"))
        .arg(format!("-bind={ip}:{port}"))
        .arg(format!("-rpc-addr={ip}:{rpc}"))
        .arg("-tag=dc=dc1")
        .arg("-log-level=debug")
        .args(extra);
    Proc::spawn(name, cmd, dir)
}

/// A member list: (name, status, tags).
pub type MemberList = Vec<(String, String, serde_json::Value)>;

/// Run a `members` command that prints `{"members": [{name, status, tags}, ...]}`.
pub fn members_json(cmd: Command, limit: Duration) -> Option<MemberList> {
    let out = run(cmd, limit);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let field = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or("").to_string();
    Some(
        v["members"]
            .as_array()?
            .iter()
            .map(|m| (field(m, "name"), field(m, "status"), m["tags"].clone()))
            .collect(),
    )
}

/// Members as `rumor members --format json` reports them (against any agent).
pub fn rumor_members(rpc: &str) -> Option<MemberList> {
    let mut cmd = Command::new(rumor_bin());
    cmd.args([
        "members",
        "--format",
        "json",
        "--rpc-addr",
        rpc,
        "--timeout",
        "3",
    ]);
    members_json(cmd, Duration::from_secs(10))
}

/// Members as the real `serf members -format=json` reports them (against any agent).
pub fn serf_members(rpc: &str) -> Option<MemberList> {
    let mut cmd = Command::new(serf_bin());
    cmd.args(["members", "-format=json", &format!("-rpc-addr={rpc}")]);
    members_json(cmd, Duration::from_secs(15))
}

/// Status of `name` in a member list.
pub fn status_of(
    list: &Option<Vec<(String, String, serde_json::Value)>>,
    name: &str,
) -> Option<String> {
    list.as_ref()?
        .iter()
        .find(|m| m.0 == name)
        .map(|m| m.1.clone())
}

/// A rumor agent process of datacenter `dc` (as [`rumor_agent`], which is always `dc1`).
pub fn rumor_agent_dc(
    dir: &Path,
    name: &str,
    dc: &str,
    ip: &str,
    port: u16,
    rpc: u16,
    extra: &[&str],
) -> Proc {
    let mut cmd = Command::new(rumor_bin());
    cmd.arg("agent")
        .args(["--node", name, "--dc", dc])
        .args(["--bind", &format!("{ip}:{port}")])
        .args(["--rpc-addr", &format!("{ip}:{rpc}")])
        .args(["--log-level", "debug"])
        .args(extra);
    Proc::spawn(name, cmd, dir)
}

/// Members of a server's WAN pool, as `rumor members --wan --format json` reports them.
pub fn rumor_wan_members(rpc: &str) -> Option<MemberList> {
    let mut cmd = Command::new(rumor_bin());
    cmd.args([
        "members",
        "--wan",
        "--format",
        "json",
        "--rpc-addr",
        rpc,
        "--timeout",
        "3",
    ]);
    members_json(cmd, Duration::from_secs(10))
}
