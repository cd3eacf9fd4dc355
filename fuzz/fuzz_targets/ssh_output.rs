//! The output of the SSH collection command, split into sections and decoded into metric families.
#![no_main]

use ispmonitor::fuzzing::ssh_output;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ssh_output(data);
});
