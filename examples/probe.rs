use burn::optim::GradientsParams;
use burn::prelude::*;
use distill::models::*;
use distill::objective::cross_entropy;
use mimalloc::MiMalloc;
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;
fn main() {
    let dev = Device::flex().autodiff();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for c in args {
        let cfg: ModelConfig = toml::from_str(&c).unwrap();
        let mut model = cfg.init([1, 28, 28], 10, &dev);
        let mut opt = distill::train::build_optimizer(
            &toml::from_str::<distill::config::TrainConfig>(
                "epochs=1\noptimizer={type=\"sgd\",lr=0.01}",
            )
            .unwrap(),
        );
        let x = Tensor::<4>::random(
            [128, 1, 28, 28],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64; 128], [128]), &dev);
        let mut times = vec![];
        for i in 0..7 {
            let t = std::time::Instant::now();
            let loss = cross_entropy(model.forward(x.clone()), y.clone());
            let _ = loss.clone().into_data();
            let g = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(0.01, model, g);
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{}: median {:.1} ms/step b128 params {}",
            c.replace('\n', " "),
            times[2],
            model.num_params()
        );
    }
}
