//! Models with random, non-trivial weights, saved with their cards, and their logits.

use burn::module::{ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};
use distill::config::Normalize;
use distill::models::{Model, ModelConfig};
use distill::predict::ModelCard;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// Sets BatchNorm scales, shifts and running statistics, and biases, to random non-trivial
/// values (fresh layers have γ = 1, β = 0, mean 0, var 1, which would hide a swapped or
/// ignored tensor).
pub struct Perturb {
    path: Vec<String>,
    rng: StdRng,
}

impl ModuleMapper for Perturb {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (lo, hi) = match self.path.last().map(String::as_str) {
            Some("gamma") => (0.5f32, 1.5f32),
            Some("beta" | "running_mean" | "bias") => (-0.5, 0.5),
            Some("running_var") => (0.2, 2.0),
            _ => return param,
        };
        let rng = &mut self.rng;
        param.map(|t| {
            let shape = t.shape();
            let values: Vec<f32> = (0..shape.num_elements())
                .map(|_| rng.random_range(lo..hi))
                .collect();
            Tensor::from_data(TensorData::new(values, shape), &t.device())
        })
    }
}

/// A card for `architecture` on `input` images with `classes` classes.
pub fn card(architecture: ModelConfig, input: [usize; 3], classes: usize) -> ModelCard {
    ModelCard {
        architecture,
        input,
        class_names: (0..classes).map(|i| format!("class {i}")).collect(),
        normalize: Normalize::scalar(0.25, 0.5),
        resize: None,
        distill_version: "0.1.0-test".into(),
        calibration: None,
        stamp: None,
    }
}

/// `model` with its BatchNorm statistics and biases set to random values drawn with `seed`.
pub fn perturbed(model: Model, seed: u64) -> Model {
    burn::module::Module::map(
        model,
        &mut Perturb {
            path: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        },
    )
}

/// Builds the card's model with random weights and perturbed BatchNorm statistics, and saves
/// weights and card as `dir/NAME.safetensors` + `dir/NAME.model.json`.
pub fn saved_model(dir: &Path, name: &str, card: &ModelCard, seed: u64) -> (Model, PathBuf) {
    let device = distill::default_device();
    let model = card
        .architecture
        .init(card.input, card.class_names.len(), &device);
    let model = perturbed(model, seed);
    let weights = dir.join(format!("{name}.safetensors"));
    model.save(&weights).unwrap();
    card.save_for(&weights).unwrap();
    (model, weights)
}

/// Random normalised pixels for `n` images of `input`.
pub fn random_images(n: usize, input: [usize; 3], seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * input.iter().product::<usize>())
        .map(|_| rng.random_range(-2.0f32..2.0))
        .collect()
}

/// distill's own logits.
pub fn distill_logits(model: &Model, images: &[f32], n: usize, input: [usize; 3]) -> Vec<f32> {
    let [c, h, w] = input;
    let x = Tensor::<4>::from_data(
        TensorData::new(images.to_vec(), [n, c, h, w]),
        &distill::default_device(),
    );
    model
        .forward(x)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}
