//! The examples a user copies, run as they are: the sans-IO driver loop of
//! `examples/sans_io.rs` echoes three messages and closes cleanly.

#[allow(dead_code)]
#[path = "../../examples/sans_io.rs"]
mod sans_io;

#[test]
fn the_sans_io_example_echoes_and_closes_cleanly() {
    sans_io::main().expect("the example runs to its end");
}
