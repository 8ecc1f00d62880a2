//! One Serf message (memberlist user-message payload, push-pull user state, query payload):
//! never panics, and whatever decodes re-encodes to bytes that decode to the same message.
//! The filters of a decoded query and the inner message of a relay are decoded too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::serf::{Filter, SerfMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SerfMessage::decode(data) {
        let again = SerfMessage::decode(&m.to_bytes());
        assert_eq!(again.as_ref(), Ok(&m), "re-encoding changed the message");
        match &m {
            SerfMessage::Query(q) => {
                for f in &q.filters {
                    if let Ok(filter) = Filter::decode(f) {
                        assert_eq!(Filter::decode(&filter.encode()), Ok(filter));
                    }
                }
            }
            SerfMessage::Relay(r) => {
                let _ = SerfMessage::decode(&r.message);
            }
            _ => {}
        }
    }
});
