//! Conversion from rumor-serf's types ([`rumor_serf::Member`], [`MemberStatus`],
//! [`rumor_serf::Event`]) to the RPC wire types of [`proto`]. The agent speaks rumor-serf's
//! types; only the RPC layer knows the wire forms.

use std::net::IpAddr;

use rumor_serf::{Event, MemberStatus};

use super::proto::{
    self, MemberEventRecord, PendingQuery, QueryEventRecord, StreamRecord, UserEventRecord,
};

/// A member as the RPC protocol shows it.
pub fn rpc_member(m: &rumor_serf::Member) -> proto::Member {
    let addr = match m.addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    proto::Member {
        addr,
        delegate_cur: m.delegate[2],
        delegate_max: m.delegate[1],
        delegate_min: m.delegate[0],
        name: m.name.to_string(),
        port: m.addr.port(),
        protocol_cur: m.protocol[2],
        protocol_max: m.protocol[1],
        protocol_min: m.protocol[0],
        status: status_str(m.status).to_string(),
        tags: m.tags.clone(),
    }
}

/// Serf's status names.
pub fn status_str(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Alive => "alive",
        MemberStatus::Leaving => "leaving",
        MemberStatus::Left => "left",
        MemberStatus::Failed => "failed",
        #[allow(unreachable_patterns)]
        _ => "none",
    }
}

/// The `stream` record for a member, user or query event (a query's `ID` is 0 until the
/// stream registers it); `None` for the other events (join and leave completions, answers to
/// our own queries), which are not streamed.
pub fn stream_record(ev: &Event) -> Option<StreamRecord> {
    let (kind, m) = match ev {
        Event::MemberJoin(m) => ("member-join", m),
        Event::MemberLeave(m) => ("member-leave", m),
        Event::MemberFailed(m) => ("member-failed", m),
        Event::MemberUpdate(m) => ("member-update", m),
        Event::MemberReap(m) => ("member-reap", m),
        Event::User {
            name,
            payload,
            ltime,
            coalesce,
        } => {
            return Some(StreamRecord::User(UserEventRecord {
                coalesce: *coalesce,
                event: "user".into(),
                ltime: *ltime,
                name: name.clone(),
                payload: payload.to_vec(),
            }))
        }
        Event::Query {
            ltime,
            id,
            name,
            payload,
            deadline,
            ..
        } => {
            return Some(StreamRecord::Query(
                QueryEventRecord {
                    event: "query".into(),
                    id: 0,
                    ltime: *ltime,
                    name: name.clone(),
                    payload: payload.to_vec(),
                },
                PendingQuery {
                    ltime: *ltime,
                    id: *id,
                    deadline: *deadline,
                },
            ))
        }
        _ => return None,
    };
    Some(StreamRecord::Member(MemberEventRecord {
        event: kind.to_string(),
        members: vec![rpc_member(m)],
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn member(addr: &str, status: MemberStatus) -> rumor_serf::Member {
        rumor_serf::Member {
            name: "n1".into(),
            addr: addr.parse().expect("address"),
            tags: BTreeMap::from([("role".to_string(), "web".to_string())]),
            status,
            protocol: [1, 5, 2],
            delegate: [2, 5, 4],
        }
    }

    #[test]
    fn members_convert_field_for_field() {
        let m = rpc_member(&member("10.0.0.1:7946", MemberStatus::Failed));
        assert_eq!(m.addr, vec![10, 0, 0, 1]);
        assert_eq!(m.port, 7946);
        assert_eq!((m.name.as_str(), m.status.as_str()), ("n1", "failed"));
        assert_eq!((m.protocol_min, m.protocol_max, m.protocol_cur), (1, 5, 2));
        assert_eq!((m.delegate_min, m.delegate_max, m.delegate_cur), (2, 5, 4));
        assert_eq!(m.tags.get("role").map(String::as_str), Some("web"));
        let v6 = rpc_member(&member("[::1]:1", MemberStatus::Alive));
        assert_eq!(v6.addr.len(), 16);
    }

    #[test]
    fn status_names_are_serfs() {
        let names: Vec<_> = [
            MemberStatus::None,
            MemberStatus::Alive,
            MemberStatus::Leaving,
            MemberStatus::Left,
            MemberStatus::Failed,
        ]
        .into_iter()
        .map(status_str)
        .collect();
        assert_eq!(names, ["none", "alive", "leaving", "left", "failed"]);
    }

    #[test]
    fn only_member_and_user_events_are_streamed() {
        let join = stream_record(&Event::MemberJoin(member(
            "127.0.0.1:1",
            MemberStatus::Alive,
        )));
        assert!(
            matches!(&join, Some(StreamRecord::Member(r)) if r.event == "member-join" && r.members.len() == 1)
        );
        let user = stream_record(&Event::User {
            name: "deploy".into(),
            payload: bytes::Bytes::from_static(b"v2"),
            ltime: 7,
            coalesce: true,
        });
        assert!(matches!(&user, Some(StreamRecord::User(u))
            if u.name == "deploy" && u.payload == b"v2" && u.ltime == 7 && u.coalesce && u.event == "user"));
        assert_eq!(stream_record(&Event::LeaveFinished { error: None }), None);
    }
}
