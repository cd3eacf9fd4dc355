//! An SNMP response datagram as the poller receives it: the first byte picks v1/v2c or one of the v3 security states.
#![no_main]

use ispmonitor::fuzzing::{snmp_community_response, snmp_v3_response, V3Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    if selector & 0x80 == 0 {
        let _ = snmp_community_response(datagram);
    } else {
        let _ = snmp_v3_response(datagram, V3Case::from_selector(selector));
    }
});
