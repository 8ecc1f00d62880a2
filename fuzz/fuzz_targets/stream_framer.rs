//! The incremental stream framer: never panics; gives the same answer whether the bytes come
//! at once or in pieces; and where it says a message ends, the decoder never asks for more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::{decode_stream, StreamFramer, StreamOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let whole = StreamFramer::new(1 << 20).advance(data);
    let mut f = StreamFramer::new(1 << 20);
    let mut end = 0;
    let mut pieces = Ok(None);
    while end < data.len() {
        end = (end + chunk).min(data.len());
        pieces = f.advance(&data[..end]);
        if !matches!(pieces, Ok(None)) {
            break;
        }
    }
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changed the answer"),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the answer: {whole:?} vs {pieces:?}"),
    }
    if let Ok(Some(n)) = whole {
        let got = decode_stream(&data[..n], &StreamOptions::default(), false);
        assert!(!matches!(got, Ok(None)), "framed at {n} but the decoder wants more");
    }
});
