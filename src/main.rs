//! The `distill` command line; the work happens in the library.

use std::process::ExitCode;

/// mimalloc: glibc's malloc returns large tensor buffers to the OS and maps them again every
/// step (mmap/munmap churn), which made training several times slower here.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> ExitCode {
    #[cfg(not(feature = "system-allocator"))]
    let unbounded: fn() = keep_freed_memory;
    #[cfg(feature = "system-allocator")]
    let unbounded: fn() = || {};
    cli::main(unbounded)
}

/// Turns off mimalloc's purging of freed memory, unless `MIMALLOC_PURGE_DELAY` is set.
///
/// By default mimalloc hands freed pages back to the OS after a delay; a training step then
/// faults them in again (zeroed by the kernel) on the next step: measured 400 page faults per
/// step of the reference CNN and 64 per MLP step, 0 with purging off (`docs/PERFORMANCE.md`).
/// A training process reuses the same buffers every step, so it keeps them. Not under a
/// memory budget (`--memory`): there freed memory goes back as mimalloc's default has it, since
/// pages kept for reuse count against the budget (134 MiB against 82 MiB peak on one run,
/// `docs/PERFORMANCE.md`).
#[cfg(not(feature = "system-allocator"))]
#[allow(unsafe_code)] // two documented calls into the allocator's C API
fn keep_freed_memory() {
    // `mi_option_purge_delay`: the 16th entry of `mi_option_e` in mimalloc 3.3's
    // include/mimalloc.h (what libmimalloc-sys 0.1.49 builds), which the sys crate does not
    // name. The index is checked against the option's documented default (1000 ms) before
    // anything is set, so another mimalloc leaves every option as it is.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reading and setting an option are plain calls into the allocator, valid at any
    // time from any thread; the index is in range of mimalloc's option table.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
        }
    }
}
