//! Fused Adam and AdamW steps: one pass per parameter tensor, in place where the buffers are not shared.
//!
//! burn-optim's Adam updates a parameter through a chain of about fifteen element-wise tensor
//! operations (weight decay, both moments, bias corrections, the square root, the division, the
//! step), each a full pass over the tensor and a fresh buffer. [`FusedAdam`] computes exactly
//! the same update, operation for operation in f32 (so the results are bit-for-bit burn's), in
//! one multi-threaded pass through the extension op [`OptimBackend::distill_adam`]. Its state is
//! burn's own `AdamState`, so checkpoints and resume are unchanged.
//!
//! [`FusedAdamW`] does the same for burn's `AdamW` (decoupled weight decay), keeping its
//! `AdamWState`. SGD stays burn's: its momentum state keeps the velocity private, so a fused
//! step could not keep burn's state type (and with it, checkpoints).
//!
//! It is not a new optimiser: on other devices, other dtypes or with AMSGrad it hands the step
//! to burn's `Adam` or `AdamW`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

/// Adam's hyper-parameters for one step, with the host-side factors burn computes per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// ε.
    pub epsilon: f32,
    /// The weight decay, if any, and how it is applied.
    pub decay: Decay,
    /// The step number after this step (1 for the first).
    pub time: usize,
    /// The learning rate (as the f32 burn multiplies by).
    pub lr: f32,
}

/// How an Adam step applies weight decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    /// None.
    None,
    /// Adam's L2 penalty `λ`, added to the gradient (burn's `WeightDecay`): `g + λ·p`.
    L2(f32),
    /// AdamW's decoupled decay: the parameter is multiplied by `keep = 1 − lr·λ` (rounded to
    /// f32 as burn does) before the step. AdamW with `lr·λ = 0` is `Decoupled(None)`.
    Decoupled(Option<f32>),
}

/// The optimiser steps distill adds to burn's flex backend.
#[backend_extension(Flex)]
pub trait OptimBackend: Backend {
    /// The first Adam step (no moments yet): returns (parameter, m, v).
    fn distill_adam_first(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// A later Adam step: returns (parameter, m, v), updated in place where unshared.
    fn distill_adam(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Elements per parallel chunk: large enough that a chunk outweighs its scheduling.
const CHUNK: usize = 16 * 1024;

/// The update, element by element, in burn-optim's order of f32 operations.
fn adam_kernel(
    step: &AdamStep,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    first: bool,
) {
    let factor_1 = 1.0 - step.beta_1;
    let factor_2 = 1.0 - step.beta_2;
    let time = step.time as i32;
    let bias_correction2_sqrt = (1.0 - step.beta_2.powi(time)).sqrt();
    let combined_factor = bias_correction2_sqrt / (1.0 - step.beta_1.powi(time));
    let eps = step.epsilon * bias_correction2_sqrt;
    let lr = step.lr;
    let (b1, b2) = (step.beta_1, step.beta_2);
    let f = Factors {
        b1,
        b2,
        factor_1,
        factor_2,
        combined_factor,
        eps,
        lr,
        bias_1: 1.0 - b1.powi(time),
        bias_2: 1.0 - b2.powi(time),
        epsilon: step.epsilon,
    };
    let decay = step.decay;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| {
            // The branches are hoisted out of the element loop so that it vectorises: the
            // packed multiply, add, divide and square root round exactly like the scalar ones,
            // so the result stays burn's bit for bit.
            let f = &f;
            match (first, decay) {
                (true, Decay::None) => adam_chunk::<true, false>(f, 0.0, p, g, m, v),
                (true, Decay::L2(w)) => adam_chunk::<true, true>(f, w, p, g, m, v),
                (false, Decay::None) => adam_chunk::<false, false>(f, 0.0, p, g, m, v),
                (false, Decay::L2(w)) => adam_chunk::<false, true>(f, w, p, g, m, v),
                (true, Decay::Decoupled(None)) => adamw_chunk::<true, false>(f, 1.0, p, g, m, v),
                (true, Decay::Decoupled(Some(k))) => adamw_chunk::<true, true>(f, k, p, g, m, v),
                (false, Decay::Decoupled(None)) => adamw_chunk::<false, false>(f, 1.0, p, g, m, v),
                (false, Decay::Decoupled(Some(k))) => adamw_chunk::<false, true>(f, k, p, g, m, v),
            }
        });
}

/// The per-step constants of [`adam_kernel`].
struct Factors {
    b1: f32,
    b2: f32,
    factor_1: f32,
    factor_2: f32,
    combined_factor: f32,
    eps: f32,
    lr: f32,
    /// AdamW's bias corrections `1 − β₁ᵗ`, `1 − β₂ᵗ` and its unscaled ε.
    bias_1: f32,
    bias_2: f32,
    epsilon: f32,
}

/// One chunk of the Adam update, without bounds checks or branches in the loop.
#[inline(always)]
fn adam_chunk<const FIRST: bool, const PENALTY: bool>(
    f: &Factors,
    penalty: f32,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let mut grad = g;
        if PENALTY {
            // burn: p·penalty + grad (f32 addition commutes exactly)
            grad += *p * penalty;
        }
        if FIRST {
            *m = grad * f.factor_1;
            *v = (grad * grad) * f.factor_2;
        } else {
            *m = *m * f.b1 + grad * f.factor_1;
            *v = *v * f.b2 + (grad * grad) * f.factor_2;
        }
        let update = (*m * f.combined_factor) / (v.sqrt() + f.eps);
        *p -= update * f.lr;
    }
}

/// One chunk of the AdamW update (burn-optim's `AdamW`, operation for operation):
/// `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`, `p ← p·keep − lr · m̂ / (√v̂ + ε)`.
#[inline(always)]
fn adamw_chunk<const FIRST: bool, const DECAY: bool>(
    f: &Factors,
    keep: f32,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    for (((p, &grad), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        if FIRST {
            *m = grad * f.factor_1;
            *v = (grad * grad) * f.factor_2;
        } else {
            *m = *m * f.b1 + grad * f.factor_1;
            *v = *v * f.b2 + (grad * grad) * f.factor_2;
        }
        let delta = (*m / f.bias_1) / ((*v / f.bias_2).sqrt() + f.epsilon);
        let decayed = if DECAY { *p * keep } else { *p };
        *p = decayed - delta * f.lr;
    }
}

/// The f32 elements of `t`, owned and contiguous (no copy when `t` is unshared and dense).
fn owned_f32(t: FlexTensor) -> (Vec<f32>, burn::tensor::Shape) {
    let shape = t.layout().shape().clone();
    let data = t.into_data();
    (data.try_into_vec::<f32>().expect("an f32 tensor"), shape)
}

fn flex(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl OptimBackend for Flex {
    fn distill_adam_first(
        param: FlexTensor,
        grad: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut p, shape) = owned_f32(param);
        let (g, _) = owned_f32(grad);
        let mut m = vec![0.0f32; p.len()];
        let mut v = vec![0.0f32; p.len()];
        adam_kernel(&step, &mut p, &g, &mut m, &mut v, true);
        (
            flex(p, shape.clone()),
            flex(m, shape.clone()),
            flex(v, shape),
        )
    }

    fn distill_adam(
        param: FlexTensor,
        grad: FlexTensor,
        m: FlexTensor,
        v: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut p, shape) = owned_f32(param);
        let (g, _) = owned_f32(grad);
        let (mut m, _) = owned_f32(m);
        let (mut v, _) = owned_f32(v);
        adam_kernel(&step, &mut p, &g, &mut m, &mut v, false);
        (
            flex(p, shape.clone()),
            flex(m, shape.clone()),
            flex(v, shape),
        )
    }
}

/// Adam's β₁, β₂ and ε: burn's defaults, which distill uses.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Whether the fused kernel can take this step: flex f32 tensors and no AMSGrad.
fn fusable<const D: usize>(
    tensor: &Tensor<D>,
    grad: &Tensor<D>,
    momentum: Option<&AdaptiveMomentumState<D>>,
) -> bool {
    super::own_kernels()
        && super::plain_flex_f32(tensor)
        && super::plain_flex_f32(grad)
        && momentum.is_none_or(|s| {
            s.max_moment_2.is_none()
                && super::plain_flex_f32(&s.moment_1)
                && super::plain_flex_f32(&s.moment_2)
        })
}

/// One fused step: the new parameter and burn's moment state after it.
fn fused_step<const D: usize>(
    lr: LearningRate,
    decay: Decay,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let time = momentum.as_ref().map_or(1, |s| s.time + 1);
    let step = AdamStep {
        beta_1: BETA_1,
        beta_2: BETA_2,
        epsilon: EPSILON,
        decay,
        time,
        lr: lr as f32,
    };
    let (p, m, v) = match momentum {
        None => <Dispatch as OptimBackend>::distill_adam_first(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            step,
        ),
        Some(s) => <Dispatch as OptimBackend>::distill_adam(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            s.moment_1.into_dispatch(),
            s.moment_2.into_dispatch(),
            step,
        ),
    };
    let momentum =
        AdaptiveMomentumState::new(time, Tensor::from_dispatch(m), Tensor::from_dispatch(v));
    (Tensor::from_dispatch(p), momentum)
}

/// burn-optim's Adam, with the update fused into one pass on the flex backend.
#[derive(Clone)]
pub struct FusedAdam {
    penalty: Option<f32>,
    fallback: Adam,
}

impl FusedAdam {
    /// Adam with burn's default β₁ 0.9, β₂ 0.999, ε 1e-5 and an optional L2 penalty.
    pub fn new(weight_decay: Option<f32>) -> Self {
        let config = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .with_weight_decay(weight_decay.map(WeightDecayConfig::new));
        Self {
            penalty: weight_decay,
            fallback: config.build(),
        }
    }

    /// As a whole-module optimiser.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fusable(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let decay = self.penalty.map_or(Decay::None, Decay::L2);
        let (p, momentum) = fused_step(lr, decay, tensor, grad, state.map(|s| s.momentum));
        (p, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

/// burn-optim's AdamW (decoupled weight decay), with the update fused into one pass on the
/// flex backend. Its state is burn's `AdamWState`.
#[derive(Clone)]
pub struct FusedAdamW {
    weight_decay: f32,
    fallback: AdamW,
}

impl FusedAdamW {
    /// AdamW with burn's default β₁ 0.9, β₂ 0.999, ε 1e-5 and decoupled decay `λ`.
    pub fn new(weight_decay: f32) -> Self {
        let config = AdamWConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .with_weight_decay(weight_decay);
        Self {
            weight_decay,
            fallback: config.build(),
        }
    }

    /// As a whole-module optimiser.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fusable(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
            return self.fallback.step(lr, tensor, grad, state);
        }
        // burn: `decay_rate = lr · λ` in f64, the parameter times `(1 − decay_rate) as f32`.
        let decay_rate = lr * (self.weight_decay as f64);
        let keep = (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32);
        let (p, momentum) = fused_step(
            lr,
            Decay::Decoupled(keep),
            tensor,
            grad,
            state.map(|s| s.momentum),
        );
        (p, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    fn params(model: &Linear) -> Vec<f32> {
        let mut v = model
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        v.extend(
            model
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap(),
        );
        v
    }

    /// Twenty steps of `ours` and `theirs` from the same start on the same batches end with the
    /// same bits, and away from the start.
    fn assert_same_twenty_steps(
        mut ours: ModuleOptimizer,
        mut theirs: ModuleOptimizer,
        what: &str,
    ) {
        let device = Device::flex().autodiff();
        let start = LinearConfig::new(37, 70).init(&device);
        let (mut a, mut b) = (start.clone(), start);
        for i in 0..20 {
            let x = Tensor::<2>::random([16, 37], Distribution::Normal(0.0, 1.0), &device);
            let lr = 1e-2 / (1.0 + i as f64);
            let ga = GradientsParams::from_grads(
                a.forward(x.clone()).powf_scalar(2.0).mean().backward(),
                &a,
            );
            a = ours.step(lr, a, ga);
            let gb =
                GradientsParams::from_grads(b.forward(x).powf_scalar(2.0).mean().backward(), &b);
            b = theirs.step(lr, b, gb);
        }
        let (pa, pb) = (params(&a), params(&b));
        assert!(
            pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{what}"
        );
        assert_ne!(
            pa,
            params(&LinearConfig::new(37, 70).init(&device)),
            "{what}"
        );
    }

    /// burn's Adam and the fused one, with and without weight decay.
    #[test]
    fn equals_burns_adam_bit_for_bit() {
        for decay in [None, Some(5e-4f32)] {
            let theirs = AdamConfig::new()
                .with_weight_decay(decay.map(WeightDecayConfig::new))
                .init();
            assert_same_twenty_steps(FusedAdam::new(decay).init(), theirs, &format!("{decay:?}"));
        }
    }

    /// burn's AdamW and the fused one, with decoupled decay and with none.
    #[test]
    fn equals_burns_adamw_bit_for_bit() {
        for decay in [0.0f32, 1e-2] {
            let theirs = AdamWConfig::new().with_weight_decay(decay).init();
            assert_same_twenty_steps(FusedAdamW::new(decay).init(), theirs, &format!("{decay}"));
        }
    }
}
