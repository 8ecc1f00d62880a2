//! A key query answer (the `[8]` + nodeKeyResponse payload a member sends back): decoding
//! never panics, and the tally counts every answer once, as an error exactly when it does not
//! decode or reports failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_serf::{KeyResponse, KeyTally};

fuzz_target!(|data: &[u8]| {
    let decoded = KeyResponse::decode(data);
    let mut tally = KeyTally::new(2);
    tally.add("a", data);
    let r = tally.report();
    assert_eq!(r.num_resp, 1);
    let failed = !decoded.as_ref().is_ok_and(|k| k.result);
    assert_eq!(r.num_err, usize::from(failed));
    if let Ok(k) = decoded {
        let listed: usize = r.keys.values().sum();
        assert!(listed <= k.keys.len());
    }
});
