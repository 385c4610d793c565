//! The `distill` command line; the work happens in the library.

use std::process::ExitCode;

/// mimalloc: glibc's malloc returns large tensor buffers to the OS and maps them again every
/// step (mmap/munmap churn), which made training several times slower here.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
