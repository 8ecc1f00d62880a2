//! A testbed of real hosts: one network namespace per host, each joined by a veth pair to a
//! bridge that lives in a namespace of its own, one agent per host. Faults are made the way
//! they happen on real networks: `nft` drops packets (a share of them with `numgen random`,
//! one way only, or between two sets of addresses), and agents are paused (SIGSTOP /
//! SIGCONT), killed with -9 and started again.
//!
//! Every namespace is named `rumor-<pid>-<n>-...`, so two runs (or two tests of one run)
//! never collide, and everything is torn down when the [`Testbed`] drops, on success and on
//! panic. Namespaces left behind by a run that was killed (its pid is gone) are removed by
//! the next one. Addresses are `10.<net>.0.<i+1>/24` inside the testbed's own namespaces:
//! nothing touches the machine's own network.
//!
//! Needs root, `ip` and `nft`: [`Testbed::new`] says why it cannot run otherwise, and the
//! tests print that and pass without running.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{run, MemberList, Proc};

/// The gossip port every agent binds on its own host.
pub const GOSSIP_PORT: u16 = 7946;
/// The RPC port every agent binds on its own host.
pub const RPC_PORT: u16 = 7373;
/// The WAN pool port of servers.
pub const WAN_PORT: u16 = 7302;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One host: a namespace and its address.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    /// The host's address on the bridge.
    pub ip: String,
}

impl Host {
    /// `ip:7946`.
    pub fn gossip(&self) -> String {
        format!("{}:{GOSSIP_PORT}", self.ip)
    }
    /// `ip:7373`.
    pub fn rpc(&self) -> String {
        format!("{}:{RPC_PORT}", self.ip)
    }
    /// `ip:7302`.
    pub fn wan(&self) -> String {
        format!("{}:{WAN_PORT}", self.ip)
    }
}

/// What runs on a host, so it can be restarted the same way.
#[derive(Clone)]
struct Launch {
    kind: Kind,
    name: String,
    args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rumor,
    Serf,
}

/// The hosts, the bridge and the agents on them; torn down on drop.
pub struct Testbed {
    /// Prefix of every namespace of this testbed.
    pub prefix: String,
    bridge: String,
    /// The hosts, in order.
    pub hosts: Vec<Host>,
    procs: Vec<Option<Proc>>,
    launches: Vec<Option<Launch>>,
    /// Where logs and snapshots go.
    pub dir: tempfile::TempDir,
    /// Set by [`Testbed::pause`], cleared by [`Testbed::resume`].
    paused: Vec<bool>,
    restarts: Vec<u32>,
    made_bridge: bool,
}

fn cmd_ok(mut cmd: Command) -> Result<Output, String> {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().map_err(|e| format!("{desc}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{desc} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<Output, String> {
    let mut c = Command::new("ip");
    c.args(args);
    cmd_ok(c)
}

/// Why this machine cannot run the testbed, if it cannot.
pub fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (network namespaces need root)".into());
    }
    for tool in ["ip", "nft"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(format!(
                "`{tool}` is missing (scripts/test.sh installs iproute2 and nftables)"
            ));
        }
    }
    None
}

/// Removes namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(out) = ip(&["netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("rumor-") else {
            continue;
        };
        let pid: u32 = rest
            .split('-')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if pid != 0 && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Testbed {
    /// Makes `n` hosts on one bridge, `label` naming them (a few letters). `Err` says why the
    /// testbed cannot be made here (then the test should skip).
    pub fn new(label: &str, n: usize) -> Result<Testbed, String> {
        if let Some(why) = cannot_run() {
            return Err(why);
        }
        assert!(n < 250, "at most 249 hosts");
        remove_stale();
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("rumor-{}-{seq}-{label}", std::process::id());
        let bridge = format!("{prefix}-br");
        let mut tb = Testbed {
            prefix: prefix.clone(),
            bridge: bridge.clone(),
            hosts: Vec::new(),
            procs: Vec::new(),
            launches: Vec::new(),
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            paused: Vec::new(),
            restarts: Vec::new(),
            made_bridge: false,
        };
        // A machine that cannot make namespaces at all (a container without the right) is a
        // reason to skip; any later failure is a failure. From here on, Drop cleans up.
        ip(&["netns", "add", &bridge])?;
        tb.made_bridge = true;
        if let Err(e) = tb.build(n) {
            panic!("could not build the testbed {prefix}: {e}");
        }
        Ok(tb)
    }

    fn build(&mut self, n: usize) -> Result<(), String> {
        let (prefix, bridge) = (self.prefix.clone(), self.bridge.clone());
        let tb = self;
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        for i in 0..n {
            let ns = format!("{prefix}-h{i}");
            let addr = format!("10.77.0.{}", i + 1);
            ip(&["netns", "add", &ns])?;
            tb.hosts.push(Host {
                ns: ns.clone(),
                ip: addr.clone(),
            });
            tb.procs.push(None);
            tb.launches.push(None);
            tb.paused.push(false);
            tb.restarts.push(0);
            let port = format!("h{i}");
            ip(&[
                "-n", &bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &bridge, "link", "set", &port, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        // The bridge forwards at once (no learning delay, no STP).
        let _ = ip(&[
            "-n",
            &bridge,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
        ]);
        Ok(())
    }

    /// A command that runs `prog` inside host `i`'s namespace.
    pub fn exec(&self, i: usize, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i].ns]).arg(prog);
        c
    }

    /// Starts a rumor agent on host `i` (gossip on `ip:7946`, RPC on `ip:7373`, dc1, profile
    /// lan unless `extra` says otherwise), named `name`.
    pub fn start_rumor(&mut self, i: usize, name: &str, extra: &[&str]) {
        let args = extra.iter().map(|s| s.to_string()).collect();
        self.launches[i] = Some(Launch {
            kind: Kind::Rumor,
            name: name.to_string(),
            args,
        });
        self.launch(i);
    }

    /// Starts a real serf agent on host `i` (tag dc=dc1, LAN defaults).
    pub fn start_serf(&mut self, i: usize, name: &str, extra: &[&str]) {
        let args = extra.iter().map(|s| s.to_string()).collect();
        self.launches[i] = Some(Launch {
            kind: Kind::Serf,
            name: name.to_string(),
            args,
        });
        self.launch(i);
    }

    fn launch(&mut self, i: usize) {
        let l = self.launches[i].clone().expect("nothing to launch");
        let h = self.hosts[i].clone();
        let logname = if self.restarts[i] == 0 {
            l.name.clone()
        } else {
            format!("{}.{}", l.name, self.restarts[i])
        };
        let cmd = match l.kind {
            Kind::Rumor => {
                let mut c = self.exec(i, super::rumor_bin());
                let has_dc = l.args.iter().any(|a| a == "--dc");
                c.arg("agent")
                    .args(["--node", &l.name])
                    .args(["--bind", &h.gossip()])
                    .args(["--rpc-addr", &h.rpc()])
                    .args(["--log-level", "debug"]);
                if !has_dc {
                    c.args(["--dc", "dc1"]);
                }
                c.args(&l.args);
                c
            }
            Kind::Serf => {
                let mut c = self.exec(i, super::serf_bin());
                c.arg("agent")
                    .arg(format!("-node={}", l.name))
                    .arg(format!("-bind={}", h.gossip()))
                    .arg(format!("-rpc-addr={}", h.rpc()))
                    .arg("-log-level=debug");
                if !l.args.iter().any(|a| a.starts_with("-tag=dc=")) {
                    c.arg("-tag=dc=dc1");
                }
                c.args(&l.args);
                c
            }
        };
        self.procs[i] = Some(Proc::spawn(&logname, cmd, self.dir.path()));
        self.paused[i] = false;
    }

    /// Waits until host `i`'s agent answers RPC (20 s at most).
    pub fn wait_rpc(&self, i: usize) {
        super::eventually(
            &format!("{} answers RPC", self.hosts[i].ns),
            Duration::from_secs(20),
            || self.members(i).is_some(),
        );
    }

    /// Host `i`'s view of the members (through `rumor members`, run in its namespace), or
    /// `None` when its agent does not answer (paused, killed, not yet listening).
    pub fn members(&self, i: usize) -> Option<MemberList> {
        let mut c = self.exec(i, super::rumor_bin());
        c.args(["members", "--format", "json", "--timeout", "2"])
            .args(["--rpc-addr", &self.hosts[i].rpc()]);
        super::members_json(c, Duration::from_secs(10))
    }

    /// Status of member `name` as host `i` sees it.
    pub fn status(&self, i: usize, name: &str) -> Option<String> {
        super::status_of(&self.members(i), name)
    }

    /// Runs the rumor CLI in host `i`'s namespace against its own agent
    /// (`--rpc-addr` is added).
    pub fn cli(&self, i: usize, args: &[&str]) -> Output {
        let mut c = self.exec(i, super::rumor_bin());
        c.args(args).args(["--rpc-addr", &self.hosts[i].rpc()]);
        run(c, Duration::from_secs(30))
    }

    /// `rumor info` of host `i`'s agent, as (key, value) lines of its text output.
    pub fn info(&self, i: usize) -> String {
        let out = self.cli(i, &["info"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The process of host `i`.
    pub fn proc(&self, i: usize) -> &Proc {
        self.procs[i].as_ref().expect("no process on that host")
    }

    /// Every log line of host `i`'s agent (all its runs), joined.
    pub fn log(&self, i: usize) -> String {
        let Some(l) = &self.launches[i] else {
            return String::new();
        };
        let mut text = String::new();
        for r in 0..=self.restarts[i] {
            let name = if r == 0 {
                l.name.clone()
            } else {
                format!("{}.{r}", l.name)
            };
            text.push_str(
                &std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                    .unwrap_or_default(),
            );
        }
        text
    }

    fn pid(&self, i: usize) -> u32 {
        self.proc(i)
            .child
            .as_ref()
            .expect("the process has exited")
            .id()
    }

    fn signal(&self, i: usize, sig: &str) {
        let mut c = Command::new("kill");
        c.args([sig, &self.pid(i).to_string()]);
        cmd_ok(c).unwrap();
    }

    /// SIGSTOP host `i`'s agent (its socket keeps receiving into its buffer).
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
        self.paused[i] = true;
    }

    /// SIGCONT host `i`'s agent.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
        self.paused[i] = false;
    }

    /// kill -9 host `i`'s agent.
    pub fn kill9(&mut self, i: usize) {
        if let Some(p) = self.procs[i].as_mut() {
            p.kill9();
        }
    }

    /// Starts host `i`'s agent again exactly as it was started first (same name, same
    /// arguments: a snapshot file given there is read back).
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.restarts[i] += 1;
        self.launch(i);
    }

    /// Starts host `i`'s agent again with the same name but these arguments instead (for
    /// instance the same snapshot file without `--join`).
    pub fn restart_with(&mut self, i: usize, extra: &[&str]) {
        self.kill9(i);
        self.restarts[i] += 1;
        if let Some(l) = self.launches[i].as_mut() {
            l.args = extra.iter().map(|s| s.to_string()).collect();
        }
        self.launch(i);
    }

    /// The number of lines of host `i`'s logs (all runs) that contain `what`.
    pub fn log_count(&self, i: usize, what: &str) -> usize {
        self.log(i).lines().filter(|l| l.contains(what)).count()
    }

    /// Whether host `i`'s agent is paused now.
    pub fn is_paused(&self, i: usize) -> bool {
        self.paused[i]
    }

    /// Loads an nft ruleset into host `i`'s namespace (a table `inet rumor_fault` replaced
    /// whole each time). `input` and `output` are rule lines for the two chains.
    pub fn nft(&self, i: usize, input: &[String], output: &[String]) {
        let ns = &self.hosts[i].ns;
        // Delete then add, in one transaction: the first load has nothing to delete.
        let mut script = String::from("table inet rumor_fault {}\ndelete table inet rumor_fault\n");
        script.push_str("table inet rumor_fault {\n");
        script
            .push_str("  chain input {\n    type filter hook input priority -10; policy accept;\n");
        for r in input {
            script.push_str(&format!("    {r}\n"));
        }
        script.push_str(
            "  }\n  chain output {\n    type filter hook output priority -10; policy accept;\n",
        );
        for r in output {
            script.push_str(&format!("    {r}\n"));
        }
        script.push_str("  }\n}\n");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft in {ns} failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Removes every fault rule of host `i`.
    pub fn clear(&self, i: usize) {
        self.nft(i, &[], &[]);
    }

    /// Removes every fault rule on every host.
    pub fn heal(&self) {
        for i in 0..self.hosts.len() {
            self.clear(i);
        }
    }

    /// Host `i` drops `percent`% of the packets it receives from the other hosts (UDP and TCP
    /// alike, chosen independently with `numgen random`). Only what arrives on `eth0` is
    /// dropped: the host's own traffic (the CLI talking to its agent over `lo`) passes.
    pub fn loss_in(&self, i: usize, percent: u32) {
        assert!(percent <= 100);
        self.nft(
            i,
            &[format!(
                "iifname \"eth0\" ip saddr 10.77.0.0/24 numgen random mod 100 < {percent} counter drop"
            )],
            &[],
        );
    }

    /// Packets between the hosts of `a` and the hosts of `b` are dropped both ways (each host
    /// drops what comes from the other side; its own side's traffic passes).
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        let set = |s: &[usize]| {
            s.iter()
                .map(|&k| self.hosts[k].ip.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (mine, other) in [(a, b), (b, a)] {
            let rule = format!("ip saddr {{ {} }} counter drop", set(other));
            for &k in mine {
                self.nft(k, std::slice::from_ref(&rule), &[]);
            }
        }
    }

    /// Packets that host `i`'s input chain dropped so far (the sum of its `counter`s).
    pub fn dropped(&self, i: usize) -> u64 {
        let mut c = self.exec(i, "nft");
        c.args(["list", "table", "inet", "rumor_fault"]);
        let Ok(out) = cmd_ok(c) else {
            return 0;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut total = 0;
        let words: Vec<&str> = text.split_whitespace().collect();
        for w in words.windows(2) {
            if w[0] == "packets" {
                total += w[1].parse::<u64>().unwrap_or(0);
            }
        }
        total
    }

    /// The directory for host `i`'s files (snapshots).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Agents first (a stopped process dies of SIGKILL too), then the namespaces: deleting a
        // host's namespace deletes its veth, and with it the bridge's port.
        for p in self.procs.iter_mut().flatten() {
            p.kill9();
        }
        self.procs.clear();
        for h in &self.hosts {
            if let Err(e) = ip(&["netns", "del", &h.ns]) {
                eprintln!("testbed cleanup: {e}");
            }
        }
        if self.made_bridge {
            if let Err(e) = ip(&["netns", "del", &self.bridge]) {
                eprintln!("testbed cleanup: {e}");
            }
        }
    }
}
