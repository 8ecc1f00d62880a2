//! The agent's cross-datacenter request and status (`rumor::dc_forward::request`, the payload
//! of `_rumor_dc` WAN queries and the chosen server's answer): any bytes decode or give a
//! typed error without panicking, and what decodes re-encodes to bytes that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor::dc_forward::{DcRequest, DcStatus};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = DcRequest::decode(data) {
        let bytes = req.encode().expect("a decoded request encodes");
        assert_eq!(DcRequest::decode(&bytes).expect("re-decode"), req);
    }
    if let Ok(st) = DcStatus::decode(data) {
        let bytes = st.encode().expect("a decoded status encodes");
        assert_eq!(DcStatus::decode(&bytes).expect("re-decode"), st);
    }
});
