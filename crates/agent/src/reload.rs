//! SIGHUP: load the configuration again and apply the guard's settings to the running LAN
//! pool.
//!
//! The file given with `--config` is read again with the same command-line options (they
//! still win over the file, as at start) and checked whole; a bad file changes nothing. Of
//! what it says, `guard`, `allow_untagged` and `dc` take effect at once: the LAN pool gets
//! the new guard (`Serf::set_guard`), a new `dc` also becomes our `dc` tag (`set_tags`), and
//! every member the new guard refuses is removed (`Serf::purge_refused`), so the pool stops
//! gossiping about it. A server keeps its datacenter (its WAN name is `NODE.DC`): a changed
//! `dc` there is refused with a warning. Other changed settings are reported as needing a
//! restart.

use anyhow::{anyhow, Context, Result};

use crate::agent::Agent;
use crate::config::AgentConfig;
use crate::guard::{lan_guard, GuardSettings, DC_TAG};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadReport {
    /// The settings applied, one `"key: old -> new"` line each (empty: nothing changed).
    pub changes: Vec<String>,
    /// Members the new guard refused, removed from the LAN pool (name order).
    pub purged: Vec<String>,
    /// Settings that changed in the file but take effect only at a restart (or were refused,
    /// as a server's `dc`), one line each.
    pub not_applied: Vec<String>,
}

/// Does this agent run as a server (it runs the WAN pool)? A server's
/// datacenter is part of its WAN name, so it cannot change while it runs.
fn is_server(agent: &Agent) -> bool {
    agent.wan.is_some()
}

/// Settings that changed between `old` and `new` but that a reload does not apply.
fn restart_needed(old: &AgentConfig, new: &AgentConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: {a} -> {b} (takes effect at restart)"));
        }
    };
    differs("node", old.node.clone(), new.node.clone());
    differs("bind", old.bind.to_string(), new.bind.to_string());
    differs(
        "advertise",
        format!("{:?}", old.advertise),
        format!("{:?}", new.advertise),
    );
    differs(
        "rpc_addr",
        old.rpc_addr.to_string(),
        new.rpc_addr.to_string(),
    );
    differs(
        "profile",
        format!("{:?}", old.profile),
        format!("{:?}", new.profile),
    );
    differs("log_level", old.log_level.clone(), new.log_level.clone());
    let without_dc = |c: &AgentConfig| {
        let mut t = c.tags.clone();
        t.remove(DC_TAG);
        format!("{t:?}")
    };
    differs("tags", without_dc(old), without_dc(new));
    out
}

/// Load the configuration again and apply `guard`, `allow_untagged` and `dc` to the LAN pool.
/// An error (unreadable or invalid file, tags that cannot be set) changes nothing.
pub fn reload(agent: &Agent) -> Result<ReloadReport> {
    let new = AgentConfig::load(&agent.config.args)
        .context("reload: the configuration was not applied; keeping the current settings")?;
    let old = agent.guard_settings();
    let mut want = GuardSettings::of(&new);
    let mut report = ReloadReport {
        not_applied: restart_needed(&agent.config, &new),
        ..ReloadReport::default()
    };
    if want.dc != old.dc && is_server(agent) {
        report.not_applied.push(format!(
            "dc: {} -> {} refused: a server keeps its datacenter (its WAN name is NODE.DC); \
             restart it to change datacenter",
            old.dc, want.dc
        ));
        want.dc = old.dc.clone();
    }
    if want == old {
        return Ok(report);
    }
    let onoff = |b: bool| if b { "on" } else { "off" };
    if want.enabled != old.enabled {
        report.changes.push(format!(
            "guard: {} -> {}",
            onoff(old.enabled),
            onoff(want.enabled)
        ));
    }
    if want.allow_untagged != old.allow_untagged {
        report.changes.push(format!(
            "allow_untagged: {} -> {}",
            old.allow_untagged, want.allow_untagged
        ));
    }
    if want.dc != old.dc {
        report
            .changes
            .push(format!("dc: {} -> {}", old.dc, want.dc));
    }
    let purged = agent.lan.call(|serf, now| {
        if want.dc != old.dc {
            let mut tags = serf.local_member().tags;
            tags.insert(DC_TAG.to_string(), want.dc.clone());
            serf.set_tags(now, tags)
                .map_err(|e| anyhow!("reload: cannot set the tag {DC_TAG}={}: {e}", want.dc))?;
        }
        serf.set_guard(lan_guard(&want));
        Ok::<_, anyhow::Error>(serf.purge_refused(now))
    })?;
    agent.set_guard_settings(want);
    report.purged = purged;
    Ok(report)
}

/// The SIGHUP handler: [`reload`], with what it did (or why not) in the log.
pub fn on_sighup(agent: &Agent) {
    tracing::info!("SIGHUP: reloading the configuration");
    match reload(agent) {
        Ok(r) => {
            for line in &r.not_applied {
                tracing::warn!("reload: {line}");
            }
            if r.changes.is_empty() {
                tracing::info!("reload: the guard settings are unchanged");
            } else {
                tracing::info!(
                    changes = %r.changes.join(", "),
                    purged = r.purged.len(),
                    members = %r.purged.join(","),
                    "reload applied: {}; {} member(s) purged",
                    r.changes.join(", "),
                    r.purged.len()
                );
            }
            let s = agent.guard_settings();
            if !s.enabled {
                tracing::warn!("the datacenter guard is off: members of any datacenter are admitted to the LAN pool");
            }
        }
        Err(e) => tracing::error!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cli::AgentArgs;

    fn load(tags: &[&str], log_level: &str) -> AgentConfig {
        AgentConfig::load(&AgentArgs {
            node: Some("a".into()),
            bind: Some("127.0.0.1:7946".into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            log_level: Some(log_level.into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn settings_a_reload_does_not_apply_are_named() {
        let old = load(&["role=web"], "info");
        assert_eq!(restart_needed(&old, &old), Vec::<String>::new());
        let new = load(&["role=db"], "debug");
        assert_eq!(
            restart_needed(&old, &new),
            vec![
                "log_level: info -> debug (takes effect at restart)".to_string(),
                "tags: {\"role\": \"web\"} -> {\"role\": \"db\"} (takes effect at restart)"
                    .to_string(),
            ]
        );
        // The dc tag follows `dc`, which a reload applies: not reported here.
        let mut moved = old.clone();
        moved.dc = "dc2".into();
        moved.tags.insert("dc".into(), "dc2".into());
        assert_eq!(restart_needed(&old, &moved), Vec::<String>::new());
    }
}
