//! The RPC commands, one file each (`handshake.rs`, `members.rs`, ...), in the style of
//! mini-redis: every file holds its command's request body, its reply body (if any) and its
//! handler, `apply`.
//!
//! This module holds [`Command`], parsed from the request header's command string, and
//! [`dispatch`], which checks the handshake and hands the request to the command's file.

mod auth;
mod dc_event;
mod dc_query;
mod dcs;
mod event;
mod force_leave;
mod get_coordinate;
mod handshake;
mod join;
mod keys;
mod leave;
mod members;
mod members_filtered;
mod monitor;
mod query;
mod respond;
mod stats;
mod stop;
mod stream;
mod tags;
mod wan_join;
mod wan_members;

pub use auth::AuthRequest;
pub use dc_event::DcEventRequest;
pub use dc_query::DcQueryRequest;
pub use dcs::{DcRecord, DcsResponse};
pub use event::EventRequest;
pub use force_leave::ForceLeaveRequest;
pub use get_coordinate::{CoordinateRequest, CoordinateResponse, RpcCoordinate};
pub use handshake::HandshakeRequest;
pub use join::{JoinRequest, JoinResponse};
pub use keys::{KeyRequest, KeysResponse};
pub use members::MembersResponse;
pub use members_filtered::MembersFilteredRequest;
pub use monitor::{LogRecord, MonitorRequest};
pub use query::{QueryRecord, QueryRequest, RECORD_ACK, RECORD_DONE, RECORD_RESPONSE};
pub(crate) use respond::SharedPending;
pub use respond::{PendingQuery, RespondRequest, NO_PENDING_QUERY};
pub use stats::Stats;
pub use stop::StopRequest;
pub use stream::{
    MemberEventRecord, QueryEventRecord, StreamRecord, StreamRequest, UserEventRecord,
};
pub use tags::TagsRequest;

use serde::de::DeserializeOwned;
use tokio::net::tcp::OwnedReadHalf;

use super::framing::ValueReader;
use super::proto::{self, RequestHeader};
use super::server::Connection;

/// The error Serf answers to a command before the handshake (then it closes).
const HANDSHAKE_REQUIRED: &str = "Handshake required";

/// One RPC command, as named by the request header's `Command` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `handshake`: agree on the protocol version; required first.
    Handshake,
    /// `auth`: present the RPC token (accepted without a check: no token is configured).
    Auth,
    /// `members`: every member.
    Members,
    /// `members-filtered`: members whose name, status and tags match patterns.
    MembersFiltered,
    /// `join`: join the cluster through given addresses.
    Join,
    /// `leave`: leave gracefully, then the agent stops.
    Leave,
    /// `force-leave`: force a failed member out.
    ForceLeave,
    /// `event`: gossip a user event.
    Event,
    /// `tags`: set and delete the agent's tags.
    Tags,
    /// `stats`: the agent's runtime information.
    Stats,
    /// `monitor`: follow the agent's log.
    Monitor,
    /// `stream`: follow member and user events.
    Stream,
    /// `stop`: end a `monitor` or `stream`.
    Stop,
    /// `query`: send a query and stream its acks and responses.
    Query,
    /// `respond`: answer a query delivered by `stream`.
    Respond,
    /// `get-coordinate`: a node's cached network coordinate.
    GetCoordinate,
    /// `install-key`, `use-key`, `remove-key`, `list-keys`: a key query across the cluster.
    Key(keys::KeyCommand),
    /// `dc-event` (rumor only): a user event in another datacenter.
    DcEvent,
    /// `dc-query` (rumor only): a query in another datacenter, streamed as `query`.
    DcQuery,
    /// `wan-join`: join the WAN pool (servers; rumor extension).
    WanJoin,
    /// `wan-members`: every WAN member (servers; rumor extension).
    WanMembers,
    /// `wan-members-filtered`: WAN members matching patterns (servers; rumor extension).
    WanMembersFiltered,
    /// `dcs`: the datacenters the WAN pool knows (servers; rumor extension).
    Dcs,
}

/// A command name this agent does not serve; its message is the error Serf replies with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unsupported command")]
pub(crate) struct UnsupportedCommand(
    /// The name as the header carried it.
    pub(crate) String,
);

impl Command {
    /// The command a request header names.
    pub(crate) fn parse(name: &str) -> Result<Command, UnsupportedCommand> {
        Ok(match name {
            "handshake" => Command::Handshake,
            "auth" => Command::Auth,
            "members" => Command::Members,
            "members-filtered" => Command::MembersFiltered,
            "join" => Command::Join,
            "leave" => Command::Leave,
            "force-leave" => Command::ForceLeave,
            "event" => Command::Event,
            "tags" => Command::Tags,
            "stats" => Command::Stats,
            "monitor" => Command::Monitor,
            "stream" => Command::Stream,
            "stop" => Command::Stop,
            "query" => Command::Query,
            "respond" => Command::Respond,
            "get-coordinate" => Command::GetCoordinate,
            "install-key" => Command::Key(keys::KeyCommand::Install),
            "use-key" => Command::Key(keys::KeyCommand::Use),
            "remove-key" => Command::Key(keys::KeyCommand::Remove),
            "list-keys" => Command::Key(keys::KeyCommand::List),
            "dc-event" => Command::DcEvent,
            "dc-query" => Command::DcQuery,
            "wan-join" => Command::WanJoin,
            "wan-members" => Command::WanMembers,
            "wan-members-filtered" => Command::WanMembersFiltered,
            "dcs" => Command::Dcs,
            other => return Err(UnsupportedCommand(other.to_string())),
        })
    }

    /// Run the command: each handler reads its own body (if it has one) and replies.
    async fn apply(self, conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
        match self {
            Command::Handshake => handshake::apply(conn, seq, body).await,
            Command::Auth => auth::apply(conn, seq, body).await,
            Command::Members => members::apply(conn, seq).await,
            Command::MembersFiltered => members_filtered::apply(conn, seq, body).await,
            Command::Join => join::apply(conn, seq, body).await,
            Command::Leave => leave::apply(conn, seq).await,
            Command::ForceLeave => force_leave::apply(conn, seq, body).await,
            Command::Event => event::apply(conn, seq, body).await,
            Command::Tags => tags::apply(conn, seq, body).await,
            Command::Stats => stats::apply(conn, seq).await,
            Command::Monitor => monitor::apply(conn, seq, body).await,
            Command::Stream => stream::apply(conn, seq, body).await,
            Command::Stop => stop::apply(conn, seq, body).await,
            Command::Query => query::apply(conn, seq, body).await,
            Command::Respond => respond::apply(conn, seq, body).await,
            Command::GetCoordinate => get_coordinate::apply(conn, seq, body).await,
            Command::Key(k) => keys::apply(conn, seq, body, k).await,
            Command::DcEvent => dc_event::apply(conn, seq, body).await,
            Command::DcQuery => dc_query::apply(conn, seq, body).await,
            Command::WanJoin => wan_join::apply(conn, seq, body).await,
            Command::WanMembers => wan_members::apply(conn, seq).await,
            Command::WanMembersFiltered => wan_members::apply_filtered(conn, seq, body).await,
            Command::Dcs => dcs::apply(conn, seq).await,
        }
    }
}

/// What the connection's reader does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Read the next request.
    Continue,
    /// Close the connection.
    Close,
}

/// The request body that may follow a header: read by the command that expects one.
pub(super) struct Body<'a> {
    reader: &'a mut ValueReader,
    rd: &'a mut OwnedReadHalf,
}

impl<'a> Body<'a> {
    /// The body source of a connection.
    pub(super) fn new(reader: &'a mut ValueReader, rd: &'a mut OwnedReadHalf) -> Self {
        Body { reader, rd }
    }

    /// Read and decode the body; `None` when the connection fails or the body does not
    /// decode (the command then closes the connection without a reply, as Serf does).
    pub(super) async fn read<T: DeserializeOwned>(self) -> Option<T> {
        let value = self.reader.next(self.rd).await.ok()?;
        proto::decode::<T>(&value).ok()
    }
}

/// Serve one request: the handshake comes first, unknown commands are refused (and the
/// connection closed), the rest go to their command's handler.
pub(super) async fn dispatch(conn: &mut Connection, header: RequestHeader, body: Body<'_>) -> Next {
    let seq = header.seq;
    let command = Command::parse(&header.command);
    if command != Ok(Command::Handshake) && !conn.handshake {
        conn.reply(seq, HANDSHAKE_REQUIRED).await;
        return Next::Close;
    }
    match command {
        Ok(c) => c.apply(conn, seq, body).await,
        Err(e) => {
            tracing::debug!(command = %e.0, "rpc: unsupported command");
            conn.reply(seq, &e.to_string()).await;
            Next::Close
        }
    }
}

/// Helpers for the command modules' byte-exact tests.
#[cfg(test)]
pub(crate) mod test_util {
    #![allow(clippy::unwrap_used)]

    /// Bytes from a hex string (captured RPC bodies).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// A body encoded as the RPC writes it.
    pub(crate) fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        crate::rpc::proto::encode(v, &mut out).unwrap();
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_command_name_parses_to_its_variant() {
        let names = [
            ("handshake", Command::Handshake),
            ("auth", Command::Auth),
            ("members", Command::Members),
            ("members-filtered", Command::MembersFiltered),
            ("join", Command::Join),
            ("leave", Command::Leave),
            ("force-leave", Command::ForceLeave),
            ("event", Command::Event),
            ("tags", Command::Tags),
            ("stats", Command::Stats),
            ("monitor", Command::Monitor),
            ("stream", Command::Stream),
            ("stop", Command::Stop),
            ("query", Command::Query),
            ("respond", Command::Respond),
            ("get-coordinate", Command::GetCoordinate),
            ("install-key", Command::Key(keys::KeyCommand::Install)),
            ("use-key", Command::Key(keys::KeyCommand::Use)),
            ("remove-key", Command::Key(keys::KeyCommand::Remove)),
            ("list-keys", Command::Key(keys::KeyCommand::List)),
            ("dc-event", Command::DcEvent),
            ("dc-query", Command::DcQuery),
            ("wan-join", Command::WanJoin),
            ("wan-members", Command::WanMembers),
            ("wan-members-filtered", Command::WanMembersFiltered),
            ("dcs", Command::Dcs),
        ];
        for (name, want) in names {
            assert_eq!(Command::parse(name), Ok(want), "{name}");
        }
    }

    #[test]
    fn unknown_commands_get_serfs_error() {
        for name in [
            "",
            "bogus",
            "Members",
            "members_filtered",
            "get_coordinate",
            "Query",
            "dc_event",
            "dc-Query",
        ] {
            let err = Command::parse(name).unwrap_err();
            assert_eq!(err.0, name);
            assert_eq!(err.to_string(), "Unsupported command");
        }
    }
}
