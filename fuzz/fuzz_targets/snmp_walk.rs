//! A walk against a scripted hostile agent: duplicate, out-of-order, non-increasing and endless OIDs, wrong types, errors.
#![no_main]

use ispmonitor::fuzzing::walk_script;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = walk_script(data);
});
