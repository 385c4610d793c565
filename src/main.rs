//! The `distill` command line; the work happens in the library.

use mimalloc::MiMalloc;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
