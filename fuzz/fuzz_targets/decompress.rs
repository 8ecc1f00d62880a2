//! The compress wrapper and raw LZW: bounded output, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::compress::{decompress, lzw_compress, lzw_decompress};

fuzz_target!(|data: &[u8]| {
    let _ = decompress(data);
    if let Ok(out) = lzw_decompress(data, 1 << 20) {
        assert!(out.len() <= 1 << 20);
        // and our own compressor round-trips whatever came out
        assert_eq!(lzw_decompress(&lzw_compress(&out), 1 << 20).ok(), Some(out));
    }
});
