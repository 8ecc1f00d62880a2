//! Event handler specs: `[FILTER=]COMMAND`, as Serf's `-event-handler` takes them.
//!
//! FILTER is a comma list of `member-join`, `member-leave`, `member-failed`,
//! `member-update`, `member-reap`, `user`, `query`, `*`, `user:NAME` and `query:NAME`; an
//! empty or missing filter means `*`. The spec is split at its first `=`, so a command that
//! itself contains `=` needs a filter in front (`*=FOO=bar ./x.sh`), as in Serf. One spec with
//! a list of N filters becomes N [`EventScript`]s, and a script runs once for each of its
//! entries that matches an event (Serf does the same).

use std::fmt;

use super::HandlerEvent;

/// The event kinds a filter names (`*` is [`EventKind::Any`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// `*`: every event.
    Any,
    /// `member-join`.
    MemberJoin,
    /// `member-leave`.
    MemberLeave,
    /// `member-failed`.
    MemberFailed,
    /// `member-update`.
    MemberUpdate,
    /// `member-reap`.
    MemberReap,
    /// `user`.
    User,
    /// `query`.
    Query,
}

impl EventKind {
    /// The name Serf uses (`SERF_EVENT`, filters, the stats key).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Any => "*",
            EventKind::MemberJoin => "member-join",
            EventKind::MemberLeave => "member-leave",
            EventKind::MemberFailed => "member-failed",
            EventKind::MemberUpdate => "member-update",
            EventKind::MemberReap => "member-reap",
            EventKind::User => "user",
            EventKind::Query => "query",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "*" => EventKind::Any,
            "member-join" => EventKind::MemberJoin,
            "member-leave" => EventKind::MemberLeave,
            "member-failed" => EventKind::MemberFailed,
            "member-update" => EventKind::MemberUpdate,
            "member-reap" => EventKind::MemberReap,
            "user" => EventKind::User,
            "query" => EventKind::Query,
            _ => return None,
        })
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events one script entry wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// The event kind.
    pub kind: EventKind,
    /// For `user:NAME` / `query:NAME`: only that name (empty: any name).
    pub name: String,
}

impl EventFilter {
    /// Whether an event of this kind (and name, for user events and queries) passes.
    pub fn matches(&self, event: &HandlerEvent) -> bool {
        if self.kind == EventKind::Any {
            return true;
        }
        if event.kind() != self.kind {
            return false;
        }
        if self.name.is_empty() {
            return true;
        }
        match event {
            HandlerEvent::User(u) => u.name == self.name,
            HandlerEvent::Query(q) => q.name == self.name,
            HandlerEvent::Member { .. } => true,
        }
    }
}

/// One configured script with one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventScript {
    /// Which events it runs for.
    pub filter: EventFilter,
    /// The command, run as `/bin/sh -c COMMAND`.
    pub script: String,
}

impl EventScript {
    /// The key Serf's `stats` uses for this entry: `"<event>:<name>"`.
    pub fn stats_key(&self) -> String {
        format!("{}:{}", self.filter.kind, self.filter.name)
    }
}

/// A spec that names an event kind we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid event script: Event '{filter}' invoking '{script}' (the filter must be a comma list of \
     member-join, member-leave, member-failed, member-update, member-reap, user, user:NAME, \
     query, query:NAME or *)"
)]
pub struct SpecError {
    /// The offending filter entry.
    pub filter: String,
    /// The script it was for.
    pub script: String,
}

/// Parses one `[FILTER=]COMMAND` spec into its entries (one per filter in the list).
pub fn parse_event_script(spec: &str) -> Result<Vec<EventScript>, SpecError> {
    let (filter, script) = match spec.split_once('=') {
        Some((f, s)) => (f, s),
        None => ("", spec),
    };
    let filter = if filter.is_empty() { "*" } else { filter };
    filter
        .split(',')
        .map(|entry| {
            let (kind, name) = if let Some(name) = entry.strip_prefix("user:") {
                (Some(EventKind::User), name)
            } else if let Some(name) = entry.strip_prefix("query:") {
                (Some(EventKind::Query), name)
            } else {
                (EventKind::parse(entry), "")
            };
            match kind {
                Some(kind) => Ok(EventScript {
                    filter: EventFilter {
                        kind,
                        name: name.to_string(),
                    },
                    script: script.to_string(),
                }),
                None => Err(SpecError {
                    filter: entry.to_string(),
                    script: script.to_string(),
                }),
            }
        })
        .collect()
}

/// Parses every spec, in order.
pub fn parse_event_scripts<S: AsRef<str>>(specs: &[S]) -> Result<Vec<EventScript>, SpecError> {
    let mut out = Vec::new();
    for s in specs {
        out.extend(parse_event_script(s.as_ref())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::handler::{MemberKind, QueryEvent, UserEvent};
    use bytes::Bytes;

    fn entry(kind: EventKind, name: &str, script: &str) -> EventScript {
        EventScript {
            filter: EventFilter {
                kind,
                name: name.into(),
            },
            script: script.into(),
        }
    }

    #[test]
    fn bare_script_means_every_event() {
        assert_eq!(
            parse_event_script("/bin/handler.sh").unwrap(),
            vec![entry(EventKind::Any, "", "/bin/handler.sh")]
        );
        assert_eq!(
            parse_event_script("=x.sh").unwrap(),
            vec![entry(EventKind::Any, "", "x.sh")]
        );
    }

    #[test]
    fn lists_and_names() {
        assert_eq!(
            parse_event_script("member-join,member-leave,user:deploy,query:uptime,query=h a=b")
                .unwrap(),
            vec![
                entry(EventKind::MemberJoin, "", "h a=b"),
                entry(EventKind::MemberLeave, "", "h a=b"),
                entry(EventKind::User, "deploy", "h a=b"),
                entry(EventKind::Query, "uptime", "h a=b"),
                entry(EventKind::Query, "", "h a=b"),
            ]
        );
        for k in [
            "member-join",
            "member-leave",
            "member-failed",
            "member-update",
            "member-reap",
            "user",
            "query",
            "*",
        ] {
            let e = parse_event_script(&format!("{k}=s")).unwrap();
            assert_eq!(e[0].filter.kind.as_str(), k);
        }
        assert_eq!(
            parse_event_script("user:=s").unwrap(),
            vec![entry(EventKind::User, "", "s")]
        );
    }

    #[test]
    fn invalid_filters_are_refused_clearly() {
        let e = parse_event_script("member-joined=x.sh").unwrap_err();
        assert_eq!(e.filter, "member-joined");
        assert!(e
            .to_string()
            .starts_with("Invalid event script: Event 'member-joined' invoking 'x.sh'"));
        // A command with `=` and no filter: the part before `=` is taken as the filter, as
        // Serf does.
        assert_eq!(
            parse_event_script("FOO=bar ./x.sh").unwrap_err().filter,
            "FOO"
        );
        assert_eq!(parse_event_script("user,,query=s").unwrap_err().filter, "");
        assert_eq!(parse_event_script("USER=s").unwrap_err().filter, "USER");
        assert!(parse_event_scripts(&["a.sh", "bad=b.sh"]).is_err());
        assert_eq!(
            parse_event_scripts(&["a.sh", "user=b.sh"]).unwrap().len(),
            2
        );
    }

    #[test]
    fn matching() {
        let user = |name: &str| {
            HandlerEvent::User(UserEvent {
                name: name.into(),
                payload: Bytes::new(),
                ltime: 1,
                coalesce: true,
            })
        };
        let query = |name: &str| {
            HandlerEvent::Query(QueryEvent {
                name: name.into(),
                payload: Bytes::new(),
                ltime: 1,
                id: 7,
            })
        };
        let join = HandlerEvent::Member {
            kind: MemberKind::Join,
            members: vec![],
        };
        let f = |s: &str| parse_event_script(s).unwrap().remove(0).filter;
        assert!(f("s").matches(&join));
        assert!(f("s").matches(&user("a")));
        assert!(f("s").matches(&query("a")));
        assert!(f("member-join=s").matches(&join));
        assert!(!f("member-leave=s").matches(&join));
        assert!(!f("member-join=s").matches(&user("a")));
        assert!(f("user=s").matches(&user("a")));
        assert!(f("user:a=s").matches(&user("a")));
        assert!(!f("user:a=s").matches(&user("b")));
        assert!(!f("user:a=s").matches(&query("a")));
        assert!(f("query:a=s").matches(&query("a")));
        assert!(!f("query:a=s").matches(&query("ab")));
        assert!(!f("query=s").matches(&user("a")));
        assert_eq!(
            parse_event_script("user:a=s").unwrap()[0].stats_key(),
            "user:a"
        );
        assert_eq!(parse_event_script("s").unwrap()[0].stats_key(), "*:");
    }
}
