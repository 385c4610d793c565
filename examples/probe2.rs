use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::prelude::*;
use mimalloc::MiMalloc;
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;
fn time(name: &str, f: &mut dyn FnMut()) {
    for _ in 0..3 {
        f();
    }
    let t = std::time::Instant::now();
    for _ in 0..5 {
        f();
    }
    println!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
}
fn main() {
    let dev = Device::flex().autodiff();
    let x1 = Tensor::<4>::random(
        [128, 1, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let x16 = Tensor::<4>::random(
        [128, 16, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let x32 = Tensor::<4>::random(
        [128, 32, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let c1 = Conv2dConfig::new([1, 16], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    let c32 = Conv2dConfig::new([32, 32], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    let c32v = Conv2dConfig::new([32, 32], [3, 3]).init(&dev);
    let mp = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let ap = AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    time("conv 1->16 fwd", &mut || {
        let _ = c1.forward(x1.clone()).sum().into_data();
    });
    time("conv 1->16 fwd+bwd", &mut || {
        let _ = c1.forward(x1.clone()).sum().backward();
    });
    time("conv 32->32 pad fwd", &mut || {
        let _ = c32.forward(x32.clone()).sum().into_data();
    });
    time("conv 32->32 pad fwd+bwd", &mut || {
        let _ = c32.forward(x32.clone()).sum().backward();
    });
    time("conv 32->32 valid fwd+bwd", &mut || {
        let _ = c32v.forward(x32.clone()).sum().backward();
    });
    let x16g = x16.clone().require_grad();
    time("maxpool 16ch fwd+bwd", &mut || {
        let _ = mp.forward(x16g.clone()).sum().backward();
    });
    time("avgpool 16ch fwd+bwd", &mut || {
        let _ = ap.forward(x16g.clone()).sum().backward();
    });
    time("relu 16ch fwd+bwd", &mut || {
        let _ = burn::tensor::activation::relu(x16g.clone())
            .sum()
            .backward();
    });
    let bn = burn::nn::BatchNormConfig::new(16).init(&dev);
    time("bn 16ch fwd+bwd", &mut || {
        let _ = bn.forward(x16g.clone()).sum().backward();
    });
}
