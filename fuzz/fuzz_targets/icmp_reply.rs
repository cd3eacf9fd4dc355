//! A datagram read from an ICMP socket, parsed and classified against an echo request.
#![no_main]

use ispmonitor::fuzzing::icmp_datagram;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = icmp_datagram(data);
});
