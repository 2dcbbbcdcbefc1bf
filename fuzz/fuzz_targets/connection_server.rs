//! A server-role `Connection` fed arbitrary peer bytes in arbitrary chunks (RFC 6455 §5-§8).
//! Input: flags byte, three chunk-size bytes, then the bytes; see `rfc6455_fuzz::fuzz_connection`
//! for the invariants (the events equal the reference model's, output is well-formed frames that
//! end with the right Close, the read buffer stays within max_frame_size + 14 + chunk).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rfc6455_fuzz::fuzz_connection(rfc6455::Role::Server, data));
