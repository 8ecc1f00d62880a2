//! The datacenter guard: the policy that keeps two datacenters' LAN pools apart.
//!
//! The core calls it on every path by which a member can enter a table (join, every
//! push-pull entry, every alive message, direct or gossiped), so no member of a foreign
//! datacenter enters a LAN member list, even through a third node that has no guard. The LAN
//! guard refuses members of another datacenter, members of the WAN pool (tag `pool=wan`),
//! and, unless `allow_untagged`, members without a `dc` tag (as Consul does). Its settings
//! ([`GuardSettings`]) are the agent's `guard`, `allow_untagged` and `dc`; SIGHUP
//! (`crate::reload`) swaps them on a running pool.

use std::collections::BTreeMap;

use rumor_serf::MemberGuard;

use crate::config::AgentConfig;

/// The tag that names a member's datacenter.
pub const DC_TAG: &str = "dc";

/// The tag that names the pool a member belongs to; the WAN pool's members carry `pool=wan`.
pub const POOL_TAG: &str = "pool";

/// The value of [`POOL_TAG`] on members of the WAN pool.
pub const WAN_POOL: &str = "wan";

/// Why the datacenter guard refused a member. Each message is one line: it names the node,
/// says why, and says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcRefusal {
    /// The member is of another datacenter.
    #[error(
        "node '{node}' is in datacenter '{theirs}', but the LAN pool it would join is datacenter '{ours}': \
         LAN pools of two datacenters never merge; federate them through the WAN pool of their \
         servers instead (start servers with rumor agent --server --wan-bind IP:PORT \
         --wan-join ADDR, or join a running server with rumor join --wan ADDR)"
    )]
    Foreign {
        /// The member.
        node: String,
        /// Its datacenter.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// The member carries no `dc` tag (and untagged members are not allowed).
    #[error(
        "node '{node}' carries no '{DC_TAG}' tag, so it cannot be placed in datacenter '{ours}': \
         tag it without a restart (a running Serf agent: serf tags -set {DC_TAG}={ours} \
         -rpc-addr=ITS_RPC_ADDR), or start it with -tag {DC_TAG}={ours} (rumor: --dc {ours}), or \
         admit untagged members with rumor agent --allow-untagged"
    )]
    Untagged {
        /// The member.
        node: String,
        /// Our datacenter.
        ours: String,
    },
    /// The member belongs to the WAN pool (tag `pool=wan`), not to a LAN pool.
    #[error(
        "node '{node}' is a member of the WAN pool; join it with rumor join --wan \
         (this is the LAN pool of datacenter '{ours}')"
    )]
    WanMember {
        /// The member.
        node: String,
        /// Our datacenter.
        ours: String,
    },
}

/// The guard's settings, as configured (`guard`, `allow_untagged`, `dc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// The guard is on (`--guard on`, the default). Off: the LAN pool admits everyone.
    pub enabled: bool,
    /// Members without a `dc` tag are admitted (`--allow-untagged`).
    pub allow_untagged: bool,
    /// Our datacenter.
    pub dc: String,
}

impl GuardSettings {
    /// The settings of a configuration.
    pub fn of(config: &AgentConfig) -> Self {
        GuardSettings {
            enabled: config.guard,
            allow_untagged: config.allow_untagged,
            dc: config.dc.clone(),
        }
    }
}

/// The LAN pool's guard for `settings`: `None` when the guard is off (everyone admitted).
pub fn lan_guard(settings: &GuardSettings) -> Option<Box<dyn MemberGuard + Send>> {
    if !settings.enabled {
        return None;
    }
    Some(Box::new(
        LanGuard::new(settings.dc.clone()).allow_untagged(settings.allow_untagged),
    ))
}

/// The guard of a LAN pool: every member must carry our datacenter in its `dc` tag (or no
/// `dc` tag at all when untagged members are allowed), and none may be of the WAN pool.
#[derive(Debug, Clone)]
pub struct LanGuard {
    dc: String,
    allow_untagged: bool,
}

impl LanGuard {
    /// The guard for datacenter `dc` (untagged members refused).
    pub fn new(dc: impl Into<String>) -> Self {
        LanGuard {
            dc: dc.into(),
            allow_untagged: false,
        }
    }

    /// Admit (`true`) or refuse members without a `dc` tag.
    pub fn allow_untagged(mut self, allow: bool) -> Self {
        self.allow_untagged = allow;
        self
    }

    /// Accept or refuse a member; the refusal names the node, says why and what to do.
    pub fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), DcRefusal> {
        if tags.get(POOL_TAG).is_some_and(|p| p == WAN_POOL) {
            return Err(DcRefusal::WanMember {
                node: name.to_string(),
                ours: self.dc.clone(),
            });
        }
        match tags.get(DC_TAG) {
            Some(dc) if *dc == self.dc => Ok(()),
            Some(dc) => Err(DcRefusal::Foreign {
                node: name.to_string(),
                theirs: dc.clone(),
                ours: self.dc.clone(),
            }),
            None if self.allow_untagged => Ok(()),
            None => Err(DcRefusal::Untagged {
                node: name.to_string(),
                ours: self.dc.clone(),
            }),
        }
    }
}

impl MemberGuard for LanGuard {
    fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> rumor_serf::Verdict {
        LanGuard::check(self, name, tags).map_err(|e| rumor_serf::Refusal::new(name.into(), e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn same_dc_passes_other_dc_and_no_dc_are_refused_with_reasons() {
        let g = LanGuard::new("east");
        assert!(g.check("a", &tags(&[("dc", "east")])).is_ok());
        let e = g.check("b", &tags(&[("dc", "west")])).unwrap_err();
        assert_eq!(
            e,
            DcRefusal::Foreign {
                node: "b".into(),
                theirs: "west".into(),
                ours: "east".into()
            }
        );
        let m = e.to_string();
        assert!(!m.contains('\n'), "one line: {m}");
        for part in [
            "'b'",
            "'west'",
            "'east'",
            "WAN pool",
            "rumor agent --server --wan-bind",
            "--wan-join",
            "rumor join --wan",
        ] {
            assert!(m.contains(part), "{part} missing from: {m}");
        }
        let e = g.check("c", &tags(&[("role", "web")])).unwrap_err();
        assert_eq!(
            e,
            DcRefusal::Untagged {
                node: "c".into(),
                ours: "east".into()
            }
        );
        let m = e.to_string();
        assert!(!m.contains('\n'), "one line: {m}");
        for part in [
            "'c'",
            "no 'dc' tag",
            "serf tags -set dc=east -rpc-addr=ITS_RPC_ADDR",
            "-tag dc=east",
            "--allow-untagged",
        ] {
            assert!(m.contains(part), "{part} missing from: {m}");
        }
    }

    #[test]
    fn untagged_members_pass_only_when_allowed() {
        let g = LanGuard::new("east").allow_untagged(true);
        assert!(g.check("c", &tags(&[])).is_ok());
        // Allowing the untagged does not admit another datacenter.
        assert!(matches!(
            g.check("b", &tags(&[("dc", "west")])),
            Err(DcRefusal::Foreign { .. })
        ));
    }

    #[test]
    fn wan_pool_members_are_refused_even_of_our_dc() {
        for g in [
            LanGuard::new("dc1"),
            LanGuard::new("dc1").allow_untagged(true),
        ] {
            let e = g
                .check(
                    "x.dc1",
                    &tags(&[("dc", "dc1"), ("pool", "wan"), ("role", "server")]),
                )
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "node 'x.dc1' is a member of the WAN pool; join it with rumor join --wan \
                 (this is the LAN pool of datacenter 'dc1')"
            );
            // Another `pool` value is not the WAN pool.
            assert!(g
                .check("y", &tags(&[("dc", "dc1"), ("pool", "lan")]))
                .is_ok());
        }
    }

    #[test]
    fn lan_guard_follows_the_settings() {
        let s = |enabled, allow_untagged| GuardSettings {
            enabled,
            allow_untagged,
            dc: "dc1".into(),
        };
        assert!(lan_guard(&s(false, false)).is_none());
        let g = lan_guard(&s(true, false)).unwrap();
        assert!(g.check("a", &tags(&[("dc", "dc1")])).is_ok());
        assert!(g.check("u", &tags(&[])).is_err());
        let refusal = g.check("b", &tags(&[("dc", "dc2")])).unwrap_err();
        assert_eq!(&*refusal.node, "b");
        assert!(refusal.to_string().contains("datacenter 'dc2'"));
        let g = lan_guard(&s(true, true)).unwrap();
        assert!(g.check("u", &tags(&[])).is_ok());
        assert!(g.check("b", &tags(&[("dc", "dc2")])).is_err());
    }
}
