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
