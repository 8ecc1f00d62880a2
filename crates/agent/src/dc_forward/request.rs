//! The bytes of a cross-datacenter request and of the chosen server's status answer.
//!
//! A request rides as the payload of a `_rumor_dc` query in the WAN pool; the status is the
//! one response the chosen server sends under its own WAN name. Both are msgpack maps with a
//! version key `V` (this is version 1), decoded with typed errors: they come from the network.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The version this agent writes and the only one it reads.
pub const VERSION: u8 = 1;

/// Longest datacenter, event or query name accepted (a query must fit 1024 bytes anyway).
pub const MAX_NAME: usize = 256;

/// What a request asks the chosen server to do in its LAN pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcAction {
    /// Gossip a user event.
    Event {
        /// Event name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// Handlers may coalesce it.
        coalesce: bool,
    },
    /// Run a query and forward its answers.
    Query {
        /// Query name.
        name: String,
        /// Payload (`None`: nil).
        payload: Option<Vec<u8>>,
        /// Only these LAN members answer (empty: all).
        filter_nodes: Vec<String>,
        /// Only members whose tag KEY matches the regular expression VALUE, in this order.
        filter_tags: Vec<(String, String)>,
        /// Ask the LAN members to ack.
        request_ack: bool,
        /// Relay factor of the LAN query.
        relay_factor: u8,
        /// The LAN query's timeout.
        timeout: Duration,
    },
}

/// A request for datacenter `dc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcRequest {
    /// The datacenter it is for (the chosen server refuses others).
    pub dc: String,
    /// What to do there.
    pub action: DcAction,
}

/// Why bytes are not a request or status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not the msgpack map expected.
    #[error("malformed datacenter request: {0}")]
    Malformed(String),
    /// A version this agent does not speak.
    #[error("unsupported datacenter request version {got} (this agent speaks {VERSION})")]
    Version {
        /// The version found.
        got: u8,
    },
    /// `Kind` is neither `event` nor `query`.
    #[error("unknown datacenter request kind '{0}'")]
    Kind(String),
    /// A required name is empty or too long.
    #[error("bad {field} in datacenter request: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why a request could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the datacenter request: {0}")]
pub struct EncodeError(#[from] rmp_serde::encode::Error);

const KIND_EVENT: &str = "event";
const KIND_QUERY: &str = "query";

/// The wire form: one flat map, every field optional on read.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Wire {
    v: u8,
    kind: String,
    dc: String,
    name: String,
    #[serde(with = "serde_bytes")]
    payload: Option<Vec<u8>>,
    coalesce: bool,
    filter_nodes: Vec<String>,
    filter_tags: Vec<(String, String)>,
    ack: bool,
    relay_factor: u8,
    /// Nanoseconds.
    timeout: u64,
}

fn encode_map<T: Serialize>(v: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
    v.serialize(&mut ser)?;
    Ok(out)
}

fn check_name(field: &'static str, s: &str) -> Result<(), DecodeError> {
    if s.is_empty() {
        return Err(DecodeError::Field {
            field,
            reason: "empty",
        });
    }
    if s.len() > MAX_NAME {
        return Err(DecodeError::Field {
            field,
            reason: "too long",
        });
    }
    Ok(())
}

impl DcRequest {
    /// The request's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Wire {
            v: VERSION,
            dc: self.dc.clone(),
            ..Wire::default()
        };
        match &self.action {
            DcAction::Event {
                name,
                payload,
                coalesce,
            } => {
                w.kind = KIND_EVENT.into();
                w.name = name.clone();
                w.payload = Some(payload.clone());
                w.coalesce = *coalesce;
            }
            DcAction::Query {
                name,
                payload,
                filter_nodes,
                filter_tags,
                request_ack,
                relay_factor,
                timeout,
            } => {
                w.kind = KIND_QUERY.into();
                w.name = name.clone();
                w.payload = payload.clone();
                w.filter_nodes = filter_nodes.clone();
                w.filter_tags = filter_tags.clone();
                w.ack = *request_ack;
                w.relay_factor = *relay_factor;
                w.timeout = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            }
        }
        encode_map(&w)
    }

    /// A request from bytes (a `_rumor_dc` query's payload).
    pub fn decode(buf: &[u8]) -> Result<DcRequest, DecodeError> {
        let w: Wire =
            rmp_serde::from_slice(buf).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if w.v != VERSION {
            return Err(DecodeError::Version { got: w.v });
        }
        check_name("datacenter", &w.dc)?;
        check_name("name", &w.name)?;
        let action = match w.kind.as_str() {
            KIND_EVENT => DcAction::Event {
                name: w.name,
                payload: w.payload.unwrap_or_default(),
                coalesce: w.coalesce,
            },
            KIND_QUERY => DcAction::Query {
                name: w.name,
                payload: w.payload,
                filter_nodes: w.filter_nodes,
                filter_tags: w.filter_tags,
                request_ack: w.ack,
                relay_factor: w.relay_factor,
                timeout: Duration::from_nanos(w.timeout),
            },
            _ => return Err(DecodeError::Kind(w.kind)),
        };
        Ok(DcRequest { dc: w.dc, action })
    }
}

/// The chosen server's answer to a request: accepted, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcStatus {
    /// The event was gossiped, or the query started (its answers follow).
    Ok,
    /// It was refused; the message says why.
    Error(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StatusWire {
    v: u8,
    error: String,
}

impl DcStatus {
    /// The status's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let error = match self {
            DcStatus::Ok => String::new(),
            DcStatus::Error(e) => e.clone(),
        };
        encode_map(&StatusWire { v: VERSION, error })
    }

    /// A status from bytes (the chosen server's response).
    pub fn decode(buf: &[u8]) -> Result<DcStatus, DecodeError> {
        let w: StatusWire =
            rmp_serde::from_slice(buf).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if w.v != VERSION {
            return Err(DecodeError::Version { got: w.v });
        }
        Ok(if w.error.is_empty() {
            DcStatus::Ok
        } else {
            DcStatus::Error(w.error)
        })
    }
}

/// Tag filters from the RPC form (a map) in the order the LAN query applies them.
pub fn tag_filters(map: BTreeMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn event() -> DcRequest {
        DcRequest {
            dc: "dc2".into(),
            action: DcAction::Event {
                name: "deploy".into(),
                payload: b"v1".to_vec(),
                coalesce: true,
            },
        }
    }

    #[test]
    fn an_event_has_a_fixed_layout() {
        let bytes = event().encode().unwrap();
        // A map of the 11 fields, version first.
        assert_eq!(bytes[0], 0x8b);
        assert_eq!(&bytes[1..4], b"\xa1V\x01");
        assert_eq!(DcRequest::decode(&bytes).unwrap(), event());
    }

    #[test]
    fn bad_requests_get_typed_errors() {
        let mut w = Wire {
            v: 2,
            kind: "event".into(),
            dc: "dc2".into(),
            name: "x".into(),
            ..Wire::default()
        };
        let enc = |w: &Wire| encode_map(w).unwrap();
        assert_eq!(
            DcRequest::decode(&enc(&w)),
            Err(DecodeError::Version { got: 2 })
        );
        w.v = VERSION;
        w.kind = "reboot".into();
        assert_eq!(
            DcRequest::decode(&enc(&w)),
            Err(DecodeError::Kind("reboot".into()))
        );
        w.kind = "query".into();
        w.name.clear();
        assert_eq!(
            DcRequest::decode(&enc(&w)),
            Err(DecodeError::Field {
                field: "name",
                reason: "empty"
            })
        );
        w.name = "x".repeat(MAX_NAME + 1);
        assert!(matches!(
            DcRequest::decode(&enc(&w)),
            Err(DecodeError::Field {
                field: "name",
                reason: "too long"
            })
        ));
        w.name = "x".into();
        w.dc.clear();
        assert!(matches!(
            DcRequest::decode(&enc(&w)),
            Err(DecodeError::Field {
                field: "datacenter",
                ..
            })
        ));
        for junk in [
            &b""[..],
            b"\xc1",
            b"\x93\x01\x02\x03",
            b"\xa3abc",
            b"\x81\xa1V\xa1x",
        ] {
            assert!(
                matches!(DcRequest::decode(junk), Err(DecodeError::Malformed(_))),
                "{junk:?}"
            );
            assert!(matches!(
                DcStatus::decode(junk),
                Err(DecodeError::Malformed(_))
            ));
        }
        // An empty map is version 0.
        assert_eq!(
            DcRequest::decode(b"\x80"),
            Err(DecodeError::Version { got: 0 })
        );
    }

    #[test]
    fn statuses_round_trip_and_check_the_version() {
        let ok = DcStatus::Ok.encode().unwrap();
        assert_eq!(ok, b"\x82\xa1V\x01\xa5Error\xa0");
        assert_eq!(DcStatus::decode(&ok), Ok(DcStatus::Ok));
        let err = DcStatus::Error("no".into());
        assert_eq!(DcStatus::decode(&err.encode().unwrap()), Ok(err));
        assert_eq!(
            DcStatus::decode(b"\x81\xa1V\x07"),
            Err(DecodeError::Version { got: 7 })
        );
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9._-]{1,40}"
    }

    fn action() -> impl Strategy<Value = DcAction> {
        prop_oneof![
            (
                name(),
                prop::collection::vec(any::<u8>(), 0..64),
                any::<bool>()
            )
                .prop_map(|(name, payload, coalesce)| DcAction::Event {
                    name,
                    payload,
                    coalesce
                }),
            (
                name(),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
                prop::collection::vec(name(), 0..4),
                prop::collection::vec((name(), ".{0,8}"), 0..4),
                any::<bool>(),
                any::<u8>(),
                any::<u64>(),
            )
                .prop_map(
                    |(name, payload, filter_nodes, filter_tags, request_ack, relay_factor, ns)| {
                        DcAction::Query {
                            name,
                            payload,
                            filter_nodes,
                            filter_tags,
                            request_ack,
                            relay_factor,
                            timeout: Duration::from_nanos(ns),
                        }
                    }
                ),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(dc in name(), action in action()) {
            let req = DcRequest { dc, action };
            let bytes = req.encode().unwrap();
            prop_assert_eq!(DcRequest::decode(&bytes).unwrap(), req);
        }

        #[test]
        fn statuses_round_trip(msg in ".{0,64}") {
            let st = if msg.is_empty() { DcStatus::Ok } else { DcStatus::Error(msg) };
            prop_assert_eq!(DcStatus::decode(&st.encode().unwrap()).unwrap(), st);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(req) = DcRequest::decode(&bytes) {
                // What decodes encodes to bytes that decode to the same request.
                let again = DcRequest::decode(&req.encode().unwrap()).unwrap();
                prop_assert_eq!(again, req);
            }
            let _ = DcStatus::decode(&bytes);
        }
    }
}
