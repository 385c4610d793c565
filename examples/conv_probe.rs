//! Where the CNN training step's time goes: burn's Conv2d (forward + backward) against the
//! same convolution written as one im2col GEMM from differentiable tensor ops, for the two
//! convolutions of the reference CNN at batch 128. Prints median ms of forward+backward and
//! the largest difference of outputs and gradients.
//!
//!     cargo run --release --example conv_probe

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::PadMode;
use std::time::Instant;

fn im2col_conv(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [n, cin, h, w] = x.dims();
    let [cout, _, k, _] = weight.dims();
    let p = k / 2;
    let xs = x.swap_dims(0, 1).pad((p, p, p, p), PadMode::Constant(0.0)); // [cin, n, h+2p, w+2p]
    let mut cols = Vec::with_capacity(k * k);
    for dy in 0..k {
        for dx in 0..k {
            cols.push(xs.clone().slice([0..cin, 0..n, dy..dy + h, dx..dx + w]));
        }
    }
    let patches: Tensor<5> = Tensor::stack(cols, 1); // [cin, k*k, n, h, w]
    let patches = patches.reshape([cin * k * k, n * h * w]);
    let y = weight.reshape([cout, cin * k * k]).matmul(patches) + bias.reshape([cout, 1]);
    y.reshape([cout, n, h, w]).swap_dims(0, 1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let device = burn::tensor::Device::flex();
    let ad = device.clone().autodiff();
    for (cin, cout, side) in [(1usize, 32usize, 28usize), (32, 64, 14)] {
        device.seed(0);
        let conv = Conv2dConfig::new([cin, cout], [5, 5])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .init(&ad);
        let x = Tensor::<4>::random([128, cin, side, side], Distribution::Normal(0.0, 1.0), &ad)
            .require_grad();
        let go = Tensor::<4>::random([128, cout, side, side], Distribution::Normal(0.0, 1.0), &ad);
        let time = |f: &dyn Fn() -> (Tensor<4>, Vec<f32>)| {
            for _ in 0..3 {
                f();
            }
            median(
                (0..15)
                    .map(|_| {
                        let s = Instant::now();
                        f();
                        s.elapsed().as_secs_f64() * 1e3
                    })
                    .collect(),
            )
        };
        let burn_fb = || {
            let y = conv.forward(x.clone());
            let g = (y.clone() * go.clone()).sum().backward();
            let gw = conv.weight.grad(&g).unwrap();
            let gx = x.grad(&g).unwrap();
            let mut v = gw.into_data().try_to_vec::<f32>().unwrap();
            v.extend(gx.into_data().try_to_vec::<f32>().unwrap());
            (y, v)
        };
        let im2col_fb = || {
            let y = im2col_conv(
                x.clone(),
                conv.weight.val(),
                conv.bias.as_ref().unwrap().val(),
            );
            let g = (y.clone() * go.clone()).sum().backward();
            let gw = conv.weight.grad(&g).unwrap();
            let gx = x.grad(&g).unwrap();
            let mut v = gw.into_data().try_to_vec::<f32>().unwrap();
            v.extend(gx.into_data().try_to_vec::<f32>().unwrap());
            (y, v)
        };
        let fwd_burn = || {
            let y = conv.forward(x.clone());
            let _ = y.clone().into_data();
            (y, vec![])
        };
        let fwd_im2col = || {
            let y = im2col_conv(
                x.clone(),
                conv.weight.val(),
                conv.bias.as_ref().unwrap().val(),
            );
            let _ = y.clone().into_data();
            (y, vec![])
        };
        let (ya, ga) = burn_fb();
        let (yb, gb) = im2col_fb();
        let dy = (ya - yb).abs().max().into_scalar::<f32>();
        let dg = ga
            .iter()
            .zip(&gb)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "conv {cin}->{cout} at {side}x{side}, batch 128: forward burn {:.2} ms, im2col {:.2} ms; forward+backward burn {:.2} ms, im2col {:.2} ms; max |dy| {dy:.2e}, max |dgrad| {dg:.2e}",
            time(&fwd_burn),
            time(&fwd_im2col),
            time(&burn_fb),
            time(&im2col_fb)
        );
    }
}
