//! Bytes from a hostile MikroTik router, framed into sentences and decoded into API replies.
#![no_main]

use ispmonitor::fuzzing::routeros_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = routeros_stream(data);
});
