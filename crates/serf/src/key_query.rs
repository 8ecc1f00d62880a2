//! Key queries (serf.md §8.4, §8.5): `_serf_install-key`, `_serf_use-key`,
//! `_serf_remove-key` and `_serf_list-keys`. Each member applies the operation to its own
//! keyring (the node's: a change takes effect for the very next packet) and answers
//! `[8]` + nodeKeyResponse with Serf's messages; the sender counts the answers with
//! [`KeyTally`] as Serf's `KeyManager` does.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::{
    KeyRequest, QueryResponse, SerfDecodeError, SerfMessage, SerfMessageType,
    QUERY_RESPONSE_SIZE_LIMIT,
};
use rumor_wire::{Key, Keyring};

use crate::error::SerfError;
use crate::event::Event;
use crate::query::{QueryHandle, QueryParams, ReplyTo, INTERNAL_QUERY_PREFIX};
use crate::serf::Serf;

/// Serf's `minEncodedKeyLength`: a list-keys answer starts trimming at 1024 / 25 = 40 keys.
pub(crate) const MIN_ENCODED_KEY_LENGTH: usize = 25;

/// Serf's messages, word for word.
pub(crate) const NO_KEYRING: &str = "No keyring to modify (encryption not enabled)";
pub(crate) const EMPTY_KEYRING: &str = "Keyring is empty (encryption not enabled)";
pub(crate) const BAD_KEY_SIZE: &str = "key size must be 16, 24 or 32 bytes";
pub(crate) const KEY_NOT_FOUND: &str = "Requested key is not in the keyring";
pub(crate) const REMOVE_PRIMARY: &str = "Removing the primary key is not allowed";

/// A keyring operation run on every member by a key query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyOp {
    /// Add a key (it does not become primary).
    Install,
    /// Make an installed key primary.
    Use,
    /// Remove a key that is not primary.
    Remove,
    /// List the installed keys.
    List,
}

impl KeyOp {
    /// The internal query's name without the `_serf_` prefix.
    pub fn short_name(self) -> &'static str {
        match self {
            KeyOp::Install => "install-key",
            KeyOp::Use => "use-key",
            KeyOp::Remove => "remove-key",
            KeyOp::List => "list-keys",
        }
    }

    /// The internal query's full name, e.g. `_serf_install-key`.
    pub fn query_name(self) -> String {
        format!("{INTERNAL_QUERY_PREFIX}{}", self.short_name())
    }

    /// The operation of an internal query name without the prefix.
    pub(crate) fn from_query_name(name: &str) -> Option<KeyOp> {
        [KeyOp::Install, KeyOp::Use, KeyOp::Remove, KeyOp::List]
            .into_iter()
            .find(|op| op.short_name() == name)
    }
}

/// One node's answer to a key query, decoded (`[8]` + nodeKeyResponse).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyResponse {
    /// Whether the operation succeeded on that node.
    pub result: bool,
    /// Error or warning text ("" when none).
    pub message: String,
    /// Installed keys, base64, primary first (list-keys only).
    pub keys: Vec<String>,
    /// The primary key, base64 (list-keys only, else "").
    pub primary_key: String,
}

/// Why a key query answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyResponseError {
    /// The payload does not start with the key response type byte (8).
    #[error("Invalid key query response type")]
    WrongType,
    /// The body does not decode.
    #[error("Failed to decode key query response: {0}")]
    Decode(#[from] SerfDecodeError),
}

impl KeyResponse {
    /// Decodes a key query answer (the [`Event::QueryResponse`] payload).
    pub fn decode(payload: &[u8]) -> Result<KeyResponse, KeyResponseError> {
        if payload.first() != Some(&(SerfMessageType::KeyResponse as u8)) {
            return Err(KeyResponseError::WrongType);
        }
        match SerfMessage::decode(payload)? {
            SerfMessage::KeyResponse(r) => Ok(KeyResponse {
                result: r.result,
                message: r.message,
                keys: r.keys.unwrap_or_default(),
                primary_key: r.primary_key,
            }),
            _ => Err(KeyResponseError::WrongType),
        }
    }
}

/// Go's `%v` of a byte slice: `[1 2 3]`.
fn go_bytes(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(u8::to_string).collect();
    format!("[{}]", parts.join(" "))
}

/// Tally of a key query's answers, as Serf's `KeyManager` counts them (serf.md §8.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTally {
    report: KeyReport,
}

/// The result of a key query: counts, messages and keys by node count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Members expected to answer ([`Serf::num_members`] when the query was sent).
    pub num_nodes: usize,
    /// Answers counted.
    pub num_resp: usize,
    /// Answers that reported failure or did not decode.
    pub num_err: usize,
    /// Node -> its error or warning message.
    pub messages: BTreeMap<String, String>,
    /// Base64 key -> number of nodes that have it (list-keys).
    pub keys: BTreeMap<String, usize>,
    /// Base64 primary key -> number of nodes using it ("" counts the answers without one).
    pub primary_keys: BTreeMap<String, usize>,
}

impl KeyReport {
    /// Serf's error for this outcome: `"N/M nodes reported failure"` when any failed, else
    /// `"N/M nodes reported success"` when answers are missing, else none.
    pub fn error(&self) -> Option<String> {
        if self.num_err != 0 {
            Some(format!(
                "{}/{} nodes reported failure",
                self.num_err, self.num_nodes
            ))
        } else if self.num_resp != self.num_nodes {
            Some(format!(
                "{}/{} nodes reported success",
                self.num_resp, self.num_nodes
            ))
        } else {
            None
        }
    }
}

impl KeyTally {
    /// A tally expecting `num_nodes` answers.
    pub fn new(num_nodes: usize) -> Self {
        KeyTally {
            report: KeyReport {
                num_nodes,
                ..KeyReport::default()
            },
        }
    }

    /// Counts one answer (the [`Event::QueryResponse`] payload from `from`). Once all
    /// expected answers are in, later ones are ignored (Serf stops reading).
    pub fn add(&mut self, from: &str, payload: &[u8]) {
        if self.complete() {
            return;
        }
        let r = &mut self.report;
        r.num_resp += 1;
        let resp = match KeyResponse::decode(payload) {
            Ok(resp) => resp,
            Err(e) => {
                let what = match e {
                    KeyResponseError::WrongType => "Invalid key query response type",
                    KeyResponseError::Decode(_) => "Failed to decode key query response",
                };
                r.messages
                    .insert(from.to_owned(), format!("{what}: {}", go_bytes(payload)));
                r.num_err += 1;
                return;
            }
        };
        if !resp.result {
            r.messages.insert(from.to_owned(), resp.message.clone());
            r.num_err += 1;
        } else if !resp.message.is_empty() {
            tracing::warn!(from, message = %resp.message, "key query answer");
            r.messages.insert(from.to_owned(), resp.message.clone());
        }
        for k in resp.keys {
            *r.keys.entry(k).or_default() += 1;
        }
        *r.primary_keys.entry(resp.primary_key).or_default() += 1;
    }

    /// All expected answers are in (`num_resp == num_nodes`).
    pub fn complete(&self) -> bool {
        self.report.num_resp == self.report.num_nodes
    }

    /// The tally so far.
    pub fn report(&self) -> KeyReport {
        self.report.clone()
    }
}

fn b64(key: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Applies a key operation to a keyring as a Serf member does. Returns the answer, and the
/// new keyring if the operation changed it. `payload` is the query's (`[7]` + keyRequest;
/// the type byte is skipped unread, as Serf does).
pub(crate) fn apply_key_op(
    keyring: Option<&Keyring>,
    op: KeyOp,
    payload: &[u8],
) -> (rumor_wire::serf::KeyResponse, Option<Keyring>) {
    let mut resp = rumor_wire::serf::KeyResponse::default();
    let ring = keyring.filter(|k| !k.is_empty());
    if op == KeyOp::List {
        match ring {
            None => resp.message = EMPTY_KEYRING.to_owned(),
            Some(ring) => {
                resp.keys = Some(ring.keys().iter().map(|k| b64(k.as_bytes())).collect());
                resp.primary_key = ring
                    .primary()
                    .map(|k| b64(k.as_bytes()))
                    .unwrap_or_default();
                resp.result = true;
            }
        }
        return (resp, None);
    }
    let req = match payload.get(1..).map(decode_key_request) {
        Some(Ok(req)) => req,
        _ => {
            tracing::error!(op = op.short_name(), "failed to decode a key request");
            return (resp, None);
        }
    };
    let Some(ring) = ring else {
        tracing::error!(op = op.short_name(), "{NO_KEYRING}");
        resp.message = NO_KEYRING.to_owned();
        return (resp, None);
    };
    let raw = &req.key[..];
    let position = ring.keys().iter().position(|k| k.as_bytes() == raw);
    let mut next = ring.clone();
    let changed = match op {
        KeyOp::Install => match Key::new(raw) {
            Err(_) => {
                resp.message = BAD_KEY_SIZE.to_owned();
                return (resp, None);
            }
            Ok(key) => {
                next.install(key);
                position.is_none()
            }
        },
        KeyOp::Use => match position {
            None => {
                resp.message = KEY_NOT_FOUND.to_owned();
                return (resp, None);
            }
            Some(i) => {
                let key = ring.keys()[i].clone();
                if next.use_key(&key).is_err() {
                    resp.message = KEY_NOT_FOUND.to_owned();
                    return (resp, None);
                }
                i != 0
            }
        },
        KeyOp::Remove => match position {
            Some(0) => {
                resp.message = REMOVE_PRIMARY.to_owned();
                return (resp, None);
            }
            // Not installed: nothing to do, and no error (memberlist's RemoveKey).
            None => false,
            Some(i) => {
                let key = ring.keys()[i].clone();
                next.remove(&key).is_ok()
            }
        },
        KeyOp::List => false,
    };
    resp.result = true;
    (resp, changed.then_some(next))
}

fn decode_key_request(body: &[u8]) -> Result<KeyRequest, SerfDecodeError> {
    // The body is decoded as a key request whatever the type byte said.
    let mut buf = Vec::with_capacity(body.len() + 1);
    buf.push(SerfMessageType::KeyRequest as u8);
    buf.extend_from_slice(body);
    match SerfMessage::decode(&buf)? {
        SerfMessage::KeyRequest(r) => Ok(r),
        _ => Err(SerfDecodeError::BadField { field: "Key" }),
    }
}

/// Serf's `keyListResponseWithCorrectSize`: the `[8]` payload of a list-keys answer, with the
/// key list cut (and a message saying so) until the whole query response fits 1024 bytes.
/// `None` if even an empty list does not fit.
pub(crate) fn fit_key_list(
    mut resp: rumor_wire::serf::KeyResponse,
    make: impl Fn(Bytes) -> QueryResponse,
) -> Option<Bytes> {
    let max = QUERY_RESPONSE_SIZE_LIMIT / MIN_ENCODED_KEY_LENGTH;
    let actual = resp.keys.as_ref().map_or(0, Vec::len);
    for i in (0..=max).rev() {
        let buf = SerfMessage::KeyResponse(resp.clone()).to_shared();
        let len = SerfMessage::QueryResponse(make(buf.clone()))
            .to_bytes()
            .len();
        if len > QUERY_RESPONSE_SIZE_LIMIT {
            if let Some(keys) = &mut resp.keys {
                keys.truncate(i);
            }
            resp.message =
                format!("truncated key list response, showing first {i} of {actual} keys");
            continue;
        }
        if actual > i {
            tracing::warn!(message = %resp.message, "list-keys answer trimmed");
        }
        return Some(buf);
    }
    None
}

impl Serf {
    /// The current keyring (None without encryption).
    pub fn keyring(&self) -> Option<&Keyring> {
        self.node.keyring().filter(|k| !k.is_empty())
    }

    /// Sends a key query (internal `_serf_install-key` etc.) with default parameters; every
    /// member, ourselves included, applies it and answers (count the answers with
    /// [`KeyTally`], expecting [`Serf::num_members`]). `key` is ignored for [`KeyOp::List`];
    /// the others need one ([`SerfError::MissingKey`]). Other errors as [`Serf::query`].
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<Key>,
    ) -> Result<QueryHandle, SerfError> {
        let raw = match (op, key) {
            (KeyOp::List, _) => Bytes::new(),
            (_, Some(k)) => Bytes::copy_from_slice(k.as_bytes()),
            (_, None) => return Err(SerfError::MissingKey(op.short_name())),
        };
        let payload = SerfMessage::KeyRequest(KeyRequest { key: raw }).to_shared();
        self.query(now, &op.query_name(), payload, QueryParams::default())
    }

    /// Answers a key query: applies it to our keyring, then responds.
    pub(crate) fn answer_key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        payload: &[u8],
        reply: &ReplyTo,
        deadline: Instant,
    ) {
        tracing::info!(op = op.short_name(), "key query");
        let (resp, changed) = apply_key_op(self.node.keyring(), op, payload);
        if let Some(ring) = changed {
            let keys = ring.keys().to_vec();
            self.node.set_keyring(Some(ring));
            tracing::info!(op = op.short_name(), keys = keys.len(), "keyring changed");
            self.st.emit(Event::KeyringChanged { keys });
        } else if !resp.result {
            tracing::error!(op = op.short_name(), message = %resp.message, "key query failed");
        }
        let buf = if op == KeyOp::List {
            match fit_key_list(resp, |b| self.response(reply, b)) {
                Some(b) => b,
                None => {
                    tracing::error!("failed to truncate the key list so that it fits");
                    return;
                }
            }
        } else {
            SerfMessage::KeyResponse(resp).to_shared()
        };
        self.answer_internal(now, reply, deadline, buf);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn key(b: u8) -> Key {
        Key::new(&[b; 32]).unwrap()
    }

    fn request(raw: &[u8]) -> Vec<u8> {
        SerfMessage::KeyRequest(KeyRequest {
            key: Bytes::copy_from_slice(raw),
        })
        .to_bytes()
    }

    fn ring(keys: &[u8]) -> Keyring {
        Keyring::from_keys(keys.iter().map(|b| key(*b)).collect())
    }

    /// (result, message, new keys if changed)
    fn run(ring: Option<&Keyring>, op: KeyOp, payload: &[u8]) -> (bool, String, Option<Vec<Key>>) {
        let (r, changed) = apply_key_op(ring, op, payload);
        assert!(r.keys.is_none() || op == KeyOp::List);
        (r.result, r.message, changed.map(|k| k.keys().to_vec()))
    }

    #[test]
    fn install_use_remove_with_serfs_messages() {
        let r = ring(&[1, 2]);
        let ok = |keys: Option<Vec<Key>>| (true, String::new(), keys);
        let fail = |m: &str| (false, m.to_owned(), None);
        assert_eq!(
            run(Some(&r), KeyOp::Install, &request(&[3; 32])),
            ok(Some(vec![key(1), key(2), key(3)]))
        );
        assert_eq!(
            run(Some(&r), KeyOp::Install, &request(&[2; 32])),
            ok(None),
            "already there: no-op"
        );
        assert!(run(Some(&r), KeyOp::Install, &request(&[3; 16])).0);
        assert!(run(Some(&r), KeyOp::Install, &request(&[3; 24])).0);
        assert_eq!(
            run(Some(&r), KeyOp::Install, &request(&[3; 15])),
            fail(BAD_KEY_SIZE)
        );
        assert_eq!(
            run(Some(&r), KeyOp::Install, &request(&[])),
            fail(BAD_KEY_SIZE)
        );
        assert_eq!(
            run(Some(&r), KeyOp::Use, &request(&[2; 32])),
            ok(Some(vec![key(2), key(1)]))
        );
        assert_eq!(
            run(Some(&r), KeyOp::Use, &request(&[1; 32])),
            ok(None),
            "already primary"
        );
        assert_eq!(
            run(Some(&r), KeyOp::Use, &request(&[3; 32])),
            fail(KEY_NOT_FOUND)
        );
        assert_eq!(
            run(Some(&r), KeyOp::Use, &request(&[3; 7])),
            fail(KEY_NOT_FOUND)
        );
        assert_eq!(
            run(Some(&r), KeyOp::Remove, &request(&[1; 32])),
            fail(REMOVE_PRIMARY)
        );
        assert_eq!(
            run(Some(&r), KeyOp::Remove, &request(&[2; 32])),
            ok(Some(vec![key(1)]))
        );
        assert_eq!(
            run(Some(&r), KeyOp::Remove, &request(&[3; 32])),
            ok(None),
            "absent: no error"
        );
        for op in [KeyOp::Install, KeyOp::Use, KeyOp::Remove] {
            assert_eq!(
                run(None, op, &request(&[1; 32])),
                fail(NO_KEYRING),
                "{op:?}"
            );
            let empty = Keyring::default();
            assert_eq!(
                run(Some(&empty), op, &request(&[1; 32])),
                fail(NO_KEYRING),
                "{op:?}"
            );
            // A request that does not decode: failure without a message (Serf only logs).
            assert_eq!(run(Some(&r), op, &[7, 0xc1]), fail(""), "{op:?}");
            assert_eq!(run(Some(&r), op, &[]), fail(""), "{op:?}");
        }
        // The type byte is skipped unread, as Serf does.
        let mut other = request(&[3; 32]);
        other[0] = 0;
        assert!(run(Some(&r), KeyOp::Install, &other).0);
    }

    #[test]
    fn list_keys_answers_primary_first_in_base64() {
        let r = ring(&[1, 2]);
        let (resp, changed) = apply_key_op(Some(&r), KeyOp::List, &[]);
        assert!(changed.is_none());
        let b1 = b64(&[1; 32]);
        let b2 = b64(&[2; 32]);
        assert_eq!(resp.keys, Some(vec![b1.clone(), b2]));
        assert_eq!(resp.primary_key, b1);
        assert!(resp.result);
        let (resp, _) = apply_key_op(None, KeyOp::List, &request(&[]));
        assert_eq!(
            (resp.result, resp.message.as_str(), resp.keys),
            (false, EMPTY_KEYRING, None)
        );
    }

    fn answer(payload: Bytes) -> QueryResponse {
        QueryResponse {
            ltime: 7,
            id: 0x5a03_99f3,
            from: "node-1".into(),
            flags: 0,
            payload: Some(payload),
        }
    }

    #[test]
    fn a_long_key_list_is_trimmed_to_fit_1024_bytes() {
        let keys: Vec<String> = (0..60u8).map(|i| b64(&[i; 32])).collect();
        let resp = rumor_wire::serf::KeyResponse {
            result: true,
            message: String::new(),
            keys: Some(keys.clone()),
            primary_key: keys[0].clone(),
        };
        let buf = fit_key_list(resp.clone(), answer).unwrap();
        let size = |b: &Bytes| {
            SerfMessage::QueryResponse(answer(b.clone()))
                .to_bytes()
                .len()
        };
        assert!(size(&buf) <= 1024);
        let SerfMessage::KeyResponse(got) = SerfMessage::decode(&buf).unwrap() else {
            panic!()
        };
        let n = got.keys.as_ref().unwrap().len();
        assert_eq!(got.keys.as_deref(), Some(&keys[..n]), "the first n keys");
        assert_eq!(
            got.message,
            format!("truncated key list response, showing first {n} of 60 keys")
        );
        // The largest that fits: one key more (with its message) would not.
        let one_more = rumor_wire::serf::KeyResponse {
            keys: Some(keys[..n + 1].to_vec()),
            message: format!(
                "truncated key list response, showing first {} of 60 keys",
                n + 1
            ),
            ..resp.clone()
        };
        assert!(size(&SerfMessage::KeyResponse(one_more).to_shared()) > 1024);
        assert_eq!(
            n, 17,
            "17 AES-256 keys of 44 base64 characters fit an answer from node-1"
        );
        // A short list is sent as it is.
        let short = rumor_wire::serf::KeyResponse {
            keys: Some(keys[..3].to_vec()),
            ..resp
        };
        let buf = fit_key_list(short.clone(), answer).unwrap();
        assert_eq!(buf, SerfMessage::KeyResponse(short).to_shared());
    }

    fn response(result: bool, message: &str, keys: &[&str], primary: &str) -> Vec<u8> {
        SerfMessage::KeyResponse(rumor_wire::serf::KeyResponse {
            result,
            message: message.into(),
            keys: (!keys.is_empty()).then(|| keys.iter().map(|k| k.to_string()).collect()),
            primary_key: primary.into(),
        })
        .to_bytes()
    }

    #[test]
    fn the_tally_counts_as_serfs_key_manager() {
        let mut t = KeyTally::new(6);
        t.add("a", &response(true, "", &["K1", "K2"], "K1"));
        t.add("b", &response(true, "truncated", &["K1"], "K1"));
        t.add(
            "c",
            &response(false, "Removing the primary key is not allowed", &[], ""),
        );
        t.add("d", &[5, 0x80]);
        t.add("e", &[8, 0xc1]);
        assert!(!t.complete());
        assert_eq!(
            t.report().error().as_deref(),
            Some("3/6 nodes reported failure")
        );
        t.add("f", &response(true, "", &["K2"], "K2"));
        assert!(t.complete());
        t.add("g", &response(false, "late", &[], ""));
        let r = t.report();
        assert_eq!(
            (r.num_nodes, r.num_resp, r.num_err),
            (6, 6, 3),
            "g came after all were in"
        );
        assert_eq!(
            r.messages,
            BTreeMap::from([
                ("b".into(), "truncated".into()),
                ("c".into(), "Removing the primary key is not allowed".into()),
                (
                    "d".into(),
                    "Invalid key query response type: [5 128]".into()
                ),
                (
                    "e".into(),
                    "Failed to decode key query response: [8 193]".into()
                ),
            ])
        );
        assert_eq!(r.keys, BTreeMap::from([("K1".into(), 2), ("K2".into(), 2)]));
        assert_eq!(
            r.primary_keys,
            BTreeMap::from([("K1".into(), 2), ("K2".into(), 1), (String::new(), 1)]),
            "a failed answer's empty primary key counts too, as in Serf"
        );
        let mut t = KeyTally::new(2);
        t.add("a", &response(true, "", &[], ""));
        assert_eq!(
            t.report().error().as_deref(),
            Some("1/2 nodes reported success")
        );
        t.add("b", &response(true, "", &[], ""));
        assert_eq!(t.report().error(), None);
    }

    #[test]
    fn key_op_names() {
        for (op, name) in [
            (KeyOp::Install, "_serf_install-key"),
            (KeyOp::Use, "_serf_use-key"),
            (KeyOp::Remove, "_serf_remove-key"),
            (KeyOp::List, "_serf_list-keys"),
        ] {
            assert_eq!(op.query_name(), name);
            assert_eq!(KeyOp::from_query_name(&name[6..]), Some(op));
        }
        assert_eq!(KeyOp::from_query_name("ping"), None);
    }

    #[test]
    fn decodes_serfs_captured_answer() {
        // n1's list-keys answer in the encrypted capture (payload of a query response).
        let hex = concat!(
            "0884a44b65797391da002c375a417049654c74672f55694651306a354d4e394b",
            "4f5330536b48776856377546453632655642356366773da74d657373616765a0",
            "aa5072696d6172794b6579da002c375a417049654c74672f55694651306a354d",
            "4e394b4f5330536b48776856377546453632655642356366773da6526573756c",
            "74c3",
        );
        let bytes = hex::decode(hex).unwrap();
        let k = "7ZApIeLtg/UiFQ0j5MN9KOS0SkHwhV7uFE62eVB5cfw=".to_string();
        assert_eq!(
            KeyResponse::decode(&bytes),
            Ok(KeyResponse {
                result: true,
                message: String::new(),
                keys: vec![k.clone()],
                primary_key: k
            })
        );
        assert_eq!(KeyResponse::decode(&[]), Err(KeyResponseError::WrongType));
        assert_eq!(
            KeyResponse::decode(&[6, 0xc0]),
            Err(KeyResponseError::WrongType)
        );
        assert!(matches!(
            KeyResponse::decode(&[8]),
            Err(KeyResponseError::Decode(_))
        ));
    }

    fn wire_response() -> impl Strategy<Value = rumor_wire::serf::KeyResponse> {
        (
            any::<bool>(),
            ".{0,20}",
            proptest::option::of(proptest::collection::vec("[A-Za-z0-9+/=]{0,44}", 0..5)),
            "[A-Za-z0-9+/=]{0,44}",
        )
            .prop_map(|(result, message, keys, primary_key)| {
                rumor_wire::serf::KeyResponse {
                    result,
                    message,
                    keys,
                    primary_key,
                }
            })
    }

    proptest! {
        #[test]
        fn decode_gives_back_what_was_encoded(w in wire_response()) {
            let bytes = SerfMessage::KeyResponse(w.clone()).to_bytes();
            let got = KeyResponse::decode(&bytes).unwrap();
            prop_assert_eq!(got.result, w.result);
            prop_assert_eq!(got.message, w.message);
            prop_assert_eq!(got.keys, w.keys.unwrap_or_default());
            prop_assert_eq!(got.primary_key, w.primary_key);
        }

        #[test]
        fn any_bytes_are_counted_once_and_never_panic(
            answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let mut t = KeyTally::new(answers.len());
            for (i, a) in answers.iter().enumerate() {
                t.add(&format!("n{i}"), a);
            }
            let r = t.report();
            prop_assert!(t.complete());
            prop_assert_eq!(r.num_resp, answers.len());
            prop_assert!(r.num_err <= r.num_resp);
            let failed = answers.iter().filter(|a| !KeyResponse::decode(a).is_ok_and(|k| k.result)).count();
            prop_assert_eq!(r.num_err, failed);
        }
    }
}
