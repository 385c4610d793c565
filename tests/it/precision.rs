//! Training runs at the precision it claims: one KD training step of a small MLP on the default
//! (flex) backend, in f32, against the same step computed here in f64 by hand (forward, the
//! loss, back-propagation and the SGD update). A reduced-precision path (bf16 has 8 bits of
//! mantissa) would miss these tolerances by orders of magnitude.

use burn::prelude::*;
use burn::tensor::TensorData;
use distill::config::{AugmentConfig, OptimizerConfig, ScheduleConfig, TrainConfig};
use distill::models::import::save_pytorch_safetensors;
use distill::models::{MlpConfig, ModelConfig};
use distill::objective::{Objective, ObjectiveConfig};
use distill::train::{Trainee, build_optimizer, logit_step};
use std::collections::HashMap;
use std::path::Path;

const N: usize = 8;
const D: usize = 16; // a 4 x 4 image
const H: usize = 12;
const C: usize = 5;
const ALPHA: f64 = 0.3;
const T: f64 = 3.0;
const LR: f64 = 0.5;

/// Reads an f32 safetensors file: name -> values (row-major).
fn read_safetensors(path: &Path) -> HashMap<String, Vec<f64>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out = HashMap::new();
    for (name, info) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(info["dtype"], "F32", "{name}");
        let range = info["data_offsets"].as_array().unwrap();
        let (a, b) = (
            range[0].as_u64().unwrap() as usize,
            range[1].as_u64().unwrap() as usize,
        );
        let values = data[a..b]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        out.insert(name.clone(), values);
    }
    out
}

fn softmax(row: &[f64], t: f64) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = row.iter().map(|v| ((v - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `y = x · Wᵀ + b` for `x` [n, i], `w` [o, i] (PyTorch layout).
fn linear(x: &[f64], w: &[f64], b: &[f64], n: usize, i: usize, o: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for k in 0..o {
            y[r * o + k] = b[k] + (0..i).map(|j| x[r * i + j] * w[k * i + j]).sum::<f64>();
        }
    }
    y
}

/// The f64 reference: the loss and the parameters after one SGD step.
fn reference_step(
    p: &HashMap<String, Vec<f64>>,
    x: &[f64],
    y: &[usize],
    zt: &[f64],
) -> (f64, HashMap<String, Vec<f64>>) {
    let (w1, b1, w2, b2) = (
        &p["hidden.0.weight"],
        &p["hidden.0.bias"],
        &p["output.weight"],
        &p["output.bias"],
    );
    let a1 = linear(x, w1, b1, N, D, H);
    let h1: Vec<f64> = a1.iter().map(|v| v.max(0.0)).collect();
    let z = linear(&h1, w2, b2, N, H, C);
    let mut loss = 0.0;
    let mut dz = vec![0.0; N * C];
    for r in 0..N {
        let zr = &z[r * C..(r + 1) * C];
        let p1 = softmax(zr, 1.0);
        let ps = softmax(zr, T);
        let pt = softmax(&zt[r * C..(r + 1) * C], T);
        let ce = -p1[y[r]].ln();
        let kl: f64 = (0..C).map(|k| pt[k] * (pt[k].ln() - ps[k].ln())).sum();
        loss += (ALPHA * ce + (1.0 - ALPHA) * T * T * kl) / N as f64;
        for k in 0..C {
            let onehot = if k == y[r] { 1.0 } else { 0.0 };
            dz[r * C + k] =
                (ALPHA * (p1[k] - onehot) + (1.0 - ALPHA) * T * (ps[k] - pt[k])) / N as f64;
        }
    }
    let mut gw2 = vec![0.0; C * H];
    let mut gb2 = vec![0.0; C];
    let mut da1 = vec![0.0; N * H];
    for r in 0..N {
        for k in 0..C {
            let g = dz[r * C + k];
            gb2[k] += g;
            for j in 0..H {
                gw2[k * H + j] += g * h1[r * H + j];
                if a1[r * H + j] > 0.0 {
                    da1[r * H + j] += g * w2[k * H + j];
                }
            }
        }
    }
    let mut gw1 = vec![0.0; H * D];
    let mut gb1 = vec![0.0; H];
    for r in 0..N {
        for j in 0..H {
            gb1[j] += da1[r * H + j];
            for i in 0..D {
                gw1[j * D + i] += da1[r * H + j] * x[r * D + i];
            }
        }
    }
    let step =
        |w: &[f64], g: &[f64]| -> Vec<f64> { w.iter().zip(g).map(|(w, g)| w - LR * g).collect() };
    let mut after = HashMap::new();
    after.insert("hidden.0.weight".to_string(), step(w1, &gw1));
    after.insert("hidden.0.bias".to_string(), step(b1, &gb1));
    after.insert("output.weight".to_string(), step(w2, &gw2));
    after.insert("output.bias".to_string(), step(b2, &gb2));
    (loss, after)
}

#[test]
fn one_training_step_in_f32_matches_an_f64_reference() {
    let dir = tempfile::tempdir().unwrap();
    let device = distill::default_device();
    let ad = device.clone().autodiff();
    device.seed(11);
    let cfg = ModelConfig::Mlp(MlpConfig {
        hidden: vec![H],
        dropout: 0.0,
    });
    let model = cfg.init([1, 4, 4], C, &ad);
    let before_path = dir.path().join("before.safetensors");
    save_pytorch_safetensors(&model.clone().valid(), &before_path).unwrap();
    let before = read_safetensors(&before_path);

    let x: Vec<f64> = (0..N * D)
        .map(|v| ((v * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let y: Vec<usize> = (0..N).map(|r| (r * 3) % C).collect();
    let zt: Vec<f64> = (0..N * C)
        .map(|v| ((v * 13 % 29) as f64 / 7.0) - 2.0)
        .collect();
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let images = Tensor::<4>::from_data(TensorData::new(f32s(&x), [N, 1, 4, 4]), &ad);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(y.iter().map(|&v| v as i64).collect::<Vec<_>>(), [N]),
        &ad,
    );
    let teacher = Tensor::<2>::from_data(TensorData::new(f32s(&zt), [N, C]), &ad);
    let recipe = TrainConfig {
        epochs: 1,
        batch_size: N,
        optimizer: OptimizerConfig::Sgd {
            lr: LR,
            momentum: 0.0,
            nesterov: false,
        },
        schedule: ScheduleConfig::Constant,
        weight_decay: 0.0,
        augment: AugmentConfig::default(),
    };
    let mut optimizer = build_optimizer(&recipe);
    let objective = Objective::new(ObjectiveConfig {
        alpha: ALPHA,
        temperature: T,
        ..ObjectiveConfig::default()
    });
    let trainee = Trainee {
        model,
        connectors: Vec::new(),
    };
    let out = logit_step(
        trainee,
        &mut optimizer,
        LR,
        &objective,
        images,
        labels,
        Some(teacher),
    );
    let after_path = dir.path().join("after.safetensors");
    save_pytorch_safetensors(&out.trainee.model.valid(), &after_path).unwrap();
    let after = read_safetensors(&after_path);

    let (loss, expected) = reference_step(&before, &x, &y, &zt);
    let rel = (out.loss as f64 - loss).abs() / loss.abs();
    assert!(
        rel < 1e-5,
        "loss {} vs f64 {loss} (relative error {rel:e})",
        out.loss
    );
    for (name, want) in &expected {
        let got = &after[name];
        let old = &before[name];
        let mut worst = 0f64;
        for ((g, w), o) in got.iter().zip(want).zip(old) {
            // Compare the updates (after - before): f32 rounding of the weights themselves is
            // ~6e-8 of their size; the update must agree to 1e-4 of the largest update.
            worst = worst.max(((g - o) - (w - o)).abs());
        }
        let scale = want
            .iter()
            .zip(old)
            .map(|(w, o)| (w - o).abs())
            .fold(0f64, f64::max);
        assert!(scale > 1e-4, "{name}: the step moved nothing");
        assert!(
            worst <= 1e-4 * scale + 1e-7,
            "{name}: update differs by {worst:e} (largest update {scale:e})"
        );
    }
}
