//! A request datagram as the simulator's agent receives it (v1/v2c and v3), answered from a simulated router.
#![no_main]

use ispmonitor::fuzzing::agent_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = agent_request(data);
});
