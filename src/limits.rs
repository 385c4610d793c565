//! The ceilings on every size an experiment file can set, and the memory a model will take,
//! estimated before it is built.
//!
//! A size past its ceiling is refused when the experiment is read, naming the field. Within
//! the ceilings a combination can still be too big (two layers of 65,536 units are 4.3 billion
//! weights), so each task estimates the training memory of its models ([`MemoryEstimate`])
//! before building them and refuses one that would not fit in the memory available
//! (`MemAvailable` of `/proc/meminfo`, or `DISTILL_MEMORY_BYTES` when set), with the estimate in
//! the error. `docs/RELIABILITY.md` lists the ceilings.

use crate::error::Result;
use crate::vocab::BadField;

/// Widest layer: hidden units, channels, embedding and model widths.
pub const MAX_WIDTH: usize = 65_536;
/// Largest image side (IDX dimensions, image folders' `image_size`, cards' input).
pub const MAX_IMAGE_SIDE: usize = 4096;
/// Most layers in a list of hidden widths, convolutions in a block, or blocks.
pub const MAX_LAYERS: usize = 64;
/// Largest convolution kernel (image and text).
pub const MAX_KERNEL: usize = 31;
/// Most classes.
pub const MAX_CLASSES: usize = crate::classifier::MAX_LABELS;
/// Longest text, in tokens.
pub const MAX_TOKENS: usize = 8_192;
/// Largest batch (training, recording, throughput).
pub const MAX_BATCH: usize = 65_536;
/// Most epochs.
pub const MAX_EPOCHS: usize = 100_000;
/// Most timed runs of the latency measurement.
pub const MAX_LATENCY_RUNS: usize = 100_000;
/// Most warm-up runs.
pub const MAX_WARMUP_RUNS: usize = 10_000;
/// Most bins of the calibration error.
pub const MAX_ECE_BINS: usize = 1_000;
/// Largest vocabulary of a tokenizer trained here.
pub const MAX_VOCAB: usize = 1_000_000;

/// Refuses `value` above `max` for `field`.
pub fn at_most(field: &str, value: usize, max: usize, bad: BadField) -> Result<()> {
    if value > max {
        return Err(bad(
            field,
            value.to_string(),
            &format!("must be at most {max} (distill's ceiling; see docs/RELIABILITY.md)"),
        ));
    }
    Ok(())
}

/// Refuses `value` of 0 or above `max` for `field`.
pub fn within(field: &str, value: usize, max: usize, bad: BadField) -> Result<()> {
    if value == 0 {
        return Err(bad(field, "0".into(), "must be at least 1"));
    }
    at_most(field, value, max, bad)
}

/// What training a model takes, estimated from its configuration before it is built.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemoryEstimate {
    /// Parameters.
    pub params: u128,
    /// Activation values one sample produces in a forward pass.
    pub activations_per_sample: u128,
}

impl MemoryEstimate {
    /// Bytes to train with batches of `batch`: weights, gradients and two Adam moments
    /// (4 × f32 per parameter), and the activations of a batch kept for the backward pass
    /// with their gradients (3 × f32 per value).
    pub fn training_bytes(&self, batch: usize) -> u128 {
        16 * self.params + 12 * self.activations_per_sample * batch as u128
    }

    /// Bytes to run inference with batches of `batch`: the weights and one batch of
    /// activations (f32).
    pub fn inference_bytes(&self, batch: usize) -> u128 {
        4 * self.params + 4 * self.activations_per_sample * batch as u128
    }

    /// Adds a dense layer `inputs → outputs` (weights and bias) and its outputs.
    pub fn dense(&mut self, inputs: usize, outputs: usize) {
        self.params += (inputs as u128 + 1) * outputs as u128;
        self.activations_per_sample += outputs as u128;
    }

    /// Adds a stack of dense layers from `inputs` through `hidden` to `outputs`.
    pub fn dense_stack(&mut self, inputs: usize, hidden: &[usize], outputs: usize) {
        let mut from = inputs;
        for &h in hidden.iter().chain(std::iter::once(&outputs)) {
            self.dense(from, h);
            from = h;
        }
    }
}

/// The memory budget set on the command line (`--memory`), for the whole process.
static MEMORY_BUDGET: std::sync::OnceLock<u128> = std::sync::OnceLock::new();

/// Sets the memory budget (`--memory`) for the rest of the process; a second call is ignored.
pub fn set_memory_budget(bytes: u128) {
    let _ = MEMORY_BUDGET.set(bytes);
}

/// Most bytes of decoded pixels an image set keeps in memory: half of [`available_bytes`]; a
/// larger set is read from its cache file as batches need it.
pub fn pixel_memory_limit() -> Option<u128> {
    available_bytes().map(|b| b / 2)
}

/// Parses a memory size: bytes, or a number with a unit (`K`, `M`, `G`, `T`, with or without
/// `iB`/`B`, binary multiples), e.g. `512MiB`, `2G`, `1.5GiB`.
pub fn parse_size(text: &str) -> std::result::Result<u128, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size: write bytes or e.g. 512MiB, 2GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "'{text}': unknown unit '{other}' (use B, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    let bytes = value * (1u64 << shift) as f64;
    if !(1.0..=1e18).contains(&bytes) {
        return Err(format!("'{text}' is not a usable memory size"));
    }
    Ok(bytes as u128)
}

/// Bytes this process may use: the `--memory` budget when set, else `DISTILL_MEMORY_BYTES`,
/// otherwise `MemAvailable` of `/proc/meminfo`; `None` when none can be read (then no model is
/// refused for its size, and every image set is held in memory).
pub fn available_bytes() -> Option<u128> {
    if let Some(&b) = MEMORY_BUDGET.get() {
        return Some(b);
    }
    if let Ok(v) = std::env::var("DISTILL_MEMORY_BYTES") {
        return v.trim().parse().ok();
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses to build `what` (its configuration under `field`) when training it with batches of
/// `batch`, or running it on batches of `eval_batch`, would take more memory than is available.
pub fn check_memory(
    what: &str,
    field: &str,
    estimate: MemoryEstimate,
    (batch, eval_batch): (usize, usize),
    bad: BadField,
) -> Result<()> {
    let Some(available) = available_bytes() else {
        return Ok(());
    };
    let needed = estimate.training_bytes(batch);
    let batch = match estimate.inference_bytes(eval_batch) > needed {
        true => eval_batch,
        false => batch,
    };
    let needed = needed.max(estimate.inference_bytes(eval_batch));
    if needed > available {
        return Err(bad(
            field,
            format!("{} parameters", estimate.params),
            &format!(
                "training the {what} would take about {} ({} parameters × 16 bytes for weights, \
                 gradients and Adam moments, plus {} activation values per sample × {batch} × \
                 12 bytes), more than the {} available: make the model smaller or the batch \
                 smaller",
                human(needed),
                estimate.params,
                estimate.activations_per_sample,
                human(available)
            ),
        ));
    }
    Ok(())
}

/// Bytes as KiB/MiB/GiB/TiB.
pub fn human(bytes: u128) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_stack_counts_weights_and_biases() {
        let mut e = MemoryEstimate::default();
        e.dense_stack(784, &[64], 10);
        assert_eq!(e.params, 785 * 64 + 65 * 10);
        assert_eq!(e.activations_per_sample, 74);
        assert_eq!(e.training_bytes(2), 16 * e.params + 12 * 74 * 2);
    }

    #[test]
    fn sizes_parse_with_binary_units_and_bad_ones_are_named() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size(" 1.5 GiB "), Ok(3 << 29));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        for bad in ["", "MiB", "12 apples", "-1G", "0", "1e400"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains(bad.trim()) || bad.is_empty(), "{bad}: {e}");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512.0 B");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
