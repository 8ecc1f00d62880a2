//! `members-filtered`: the members whose name, status and tags match regular expressions,
//! each anchored at both ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::members::MembersResponse;
use super::{Body, Next};
use crate::rpc::convert::rpc_member;
use crate::rpc::proto::{nil_default, Member};
use crate::rpc::server::Connection;

/// `members-filtered` body: each value is a regular expression anchored at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MembersFilteredRequest {
    /// Name pattern ("" = any).
    pub name: String,
    /// Status pattern ("" = any).
    pub status: String,
    /// Tag patterns.
    #[serde(deserialize_with = "nil_default")]
    pub tags: BTreeMap<String, String>,
}

/// Reply with the matching members; a pattern that does not compile closes the connection,
/// as Serf does.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<MembersFilteredRequest>().await else {
        return Next::Close;
    };
    let Some(filter) = MemberFilter::new(&req) else {
        return Next::Close;
    };
    let members = conn
        .agent
        .members()
        .iter()
        .map(rpc_member)
        .filter(|m| filter.matches(m))
        .collect();
    conn.reply_body(seq, "", &MembersResponse { members }).await;
    Next::Continue
}

/// The compiled patterns: each anchored at both ends, an empty name or status not applied.
pub(super) struct MemberFilter {
    name: Option<regex::Regex>,
    status: Option<regex::Regex>,
    tags: Vec<(String, regex::Regex)>,
}

impl MemberFilter {
    fn anchored(p: &str) -> Option<regex::Regex> {
        regex::Regex::new(&format!("^(?:{p})$")).ok()
    }

    pub(super) fn new(req: &MembersFilteredRequest) -> Option<MemberFilter> {
        let opt = |p: &str| {
            if p.is_empty() {
                Some(None)
            } else {
                Self::anchored(p).map(Some)
            }
        };
        let mut tags = Vec::new();
        for (k, v) in &req.tags {
            tags.push((k.clone(), Self::anchored(v)?));
        }
        Some(MemberFilter {
            name: opt(&req.name)?,
            status: opt(&req.status)?,
            tags,
        })
    }

    pub(super) fn matches(&self, m: &Member) -> bool {
        self.name.as_ref().is_none_or(|r| r.is_match(&m.name))
            && self.status.as_ref().is_none_or(|r| r.is_match(&m.status))
            && self
                .tags
                .iter()
                .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn member(name: &str, status: &str, role: &str) -> Member {
        Member {
            name: name.into(),
            status: status.into(),
            tags: BTreeMap::from([("role".to_string(), role.to_string())]),
            ..Default::default()
        }
    }

    #[test]
    fn filters_are_anchored() {
        let req = MembersFilteredRequest {
            name: "n.".into(),
            status: "alive".into(),
            tags: BTreeMap::from([("role".to_string(), "web".to_string())]),
        };
        let f = MemberFilter::new(&req).expect("valid");
        assert!(f.matches(&member("n1", "alive", "web")));
        assert!(
            !f.matches(&member("n12", "alive", "web")),
            "name is anchored"
        );
        assert!(!f.matches(&member("n1", "failed", "web")));
        assert!(!f.matches(&member("n1", "alive", "webby")));
        let bad = MembersFilteredRequest {
            name: "(".into(),
            ..Default::default()
        };
        assert!(MemberFilter::new(&bad).is_none());
    }
}
