//! The machine's fp32 fused-multiply-add peak, measured with a small probe, to put the
//! benchmark's GFLOP/s figures on a scale.
//!
//! Each thread runs independent chains of vector FMAs (`acc = acc · a + b`) held in registers:
//! 16 chains of 16-lane AVX-512 FMAs where the CPU has AVX-512F, else 12 chains of 8-lane
//! AVX2 FMAs. That is enough chains to cover the FMA latency (4 cycles) on two FMA ports, so
//! the probe is limited by FMA throughput alone. One FMA counts as 2 FLOPs per lane. The best
//! of three trials is kept: a busy machine can only make the probe slower.

// The probe calls CPU intrinsics behind runtime feature checks: the crate's only unsafe code.
#![allow(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A measured peak.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Peak {
    /// GFLOP/s over all threads.
    pub gflops: f64,
    /// Threads that ran the probe at once.
    pub threads: usize,
    /// The instruction set the probe used (`avx512f` or `avx2+fma`).
    pub isa: String,
    /// Seconds per trial.
    pub seconds: f64,
}

/// The vector instruction set the CPU offers (what burn's `flex` kernels can dispatch to at
/// run time): `avx512f`, `avx2+fma`, or `baseline`.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2+fma";
        }
    }
    "baseline"
}

/// A probe kernel: runs `iters` iterations, returns a value to keep the work alive, and the
/// FLOPs per iteration.
type Kernel = (fn(u64) -> f32, f64, &'static str);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 16];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let mut sum = acc[0];
    for v in &acc[1..] {
        sum = _mm512_add_ps(sum, *v);
    }
    _mm512_reduce_add_ps(sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut sum = acc[0];
    for v in &acc[1..] {
        sum = _mm256_add_ps(sum, *v);
    }
    // SAFETY: __m256 is 8 f32 lanes, plain data.
    let lanes: [f32; 8] = unsafe { std::mem::transmute(sum) };
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
fn kernel() -> Option<Kernel> {
    fn run512(iters: u64) -> f32 {
        // SAFETY: only selected after `is_x86_feature_detected!("avx512f")`.
        unsafe { fma_avx512(iters) }
    }
    fn run256(iters: u64) -> f32 {
        // SAFETY: only selected after detecting avx2 and fma.
        unsafe { fma_avx2(iters) }
    }
    match simd_level() {
        "avx512f" => Some((run512, 16.0 * 16.0 * 2.0, "avx512f")),
        "avx2+fma" => Some((run256, 12.0 * 8.0 * 2.0, "avx2+fma")),
        _ => None,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn kernel() -> Option<Kernel> {
    None
}

/// Measures the fp32 FMA peak on `threads` threads at once, about `seconds` per trial, best of
/// three. `None` on CPUs without AVX2+FMA or AVX-512 (no probe for them).
pub fn measure_peak(threads: usize, seconds: f64) -> Option<Peak> {
    let (run, flops_per_iter, isa) = kernel()?;
    let threads = threads.max(1);
    // Calibrate: iterations per second of one thread.
    let probe = 1u64 << 20;
    let start = Instant::now();
    std::hint::black_box(run(std::hint::black_box(probe)));
    let rate = probe as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let iters = ((rate * seconds) as u64).max(probe);
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| std::hint::black_box(run(std::hint::black_box(iters))));
            }
        });
        let secs = start.elapsed().as_secs_f64();
        best = best.max(iters as f64 * flops_per_iter * threads as f64 / secs / 1e9);
    }
    Some(Peak {
        gflops: best,
        threads,
        isa: isa.to_string(),
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_measures_a_plausible_peak() {
        let Some(p) = measure_peak(1, 0.02) else {
            return; // no probe for this CPU
        };
        // At least one 8-lane FMA every other cycle at 1 GHz, at most 64 FLOPs/cycle at 6 GHz.
        assert!(p.gflops > 8.0 && p.gflops < 384.0, "{p:?}");
    }
}
