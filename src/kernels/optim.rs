//! Fused SGD, Adam and AdamW steps: one pass per parameter tensor, in place where the buffers are not shared.
//!
//! burn-optim's Adam updates a parameter through a chain of about fifteen element-wise tensor
//! operations (weight decay, both moments, bias corrections, the square root, the division, the
//! step), each a full pass over the tensor and a fresh buffer. [`FusedAdam`] computes exactly
//! the same update, operation for operation in f32 (so the results are bit-for-bit burn's), in
//! one multi-threaded pass through the extension op [`OptimBackend::distill_adam`]. Its state is
//! burn's own `AdamState`, so checkpoints and resume are unchanged.
//!
//! [`FusedAdamW`] does the same for burn's `AdamW` (decoupled weight decay), keeping its
//! `AdamWState`.
//!
//! [`FusedSgd`] does it for burn's `Sgd` (L2 penalty, momentum with dampening, Nesterov): burn's
//! chain of up to seven passes becomes one. burn's `MomentumState` keeps its velocity private, so
//! the fused step has a state type of its own, [`FusedSgdState`], that records itself under
//! burn's names (`{param}.momentum.velocity`): a checkpoint written by either optimiser loads
//! into the other (tested both ways).
//!
//! It is not a new optimiser: on other devices, other dtypes or with AMSGrad it hands the step
//! to burn's `Adam` or `AdamW`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource, join_path,
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

/// One SGD step's hyper-parameters, as the f32 values burn multiplies by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// The learning rate.
    pub lr: f32,
    /// The L2 penalty `λ` (burn's `WeightDecay`: `g + λ·p`), if any.
    pub penalty: Option<f32>,
    /// The momentum `μ` (0 when the step has none).
    pub momentum: f32,
    /// `1 − dampening`.
    pub keep: f32,
    /// Nesterov's update (`g + μ·v` instead of `v`).
    pub nesterov: bool,
}

/// The optimiser steps distill adds to burn's flex backend.
#[backend_extension(Flex)]
pub trait OptimBackend: Backend {
    /// An SGD step without momentum: returns the parameter, updated in place where unshared.
    fn distill_sgd_plain(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: SgdStep,
    ) -> FloatTensor<Self>;
    /// The first SGD step with momentum (no velocity yet): returns (parameter, velocity).
    fn distill_sgd_first(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: SgdStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// A later SGD step with momentum: returns (parameter, velocity), in place where unshared.
    fn distill_sgd(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        step: SgdStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
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

/// The SGD update, element by element, in burn-optim's order of f32 operations:
/// `g ← λ·p + g` (penalty); `v ← g` on the first step, else `v ← (1 − d)·g + μ·v`;
/// `g ← μ·v + g` (Nesterov) or `g ← v`; `p ← p − lr·g`. `v` is `None` without momentum;
/// `first` says that `v` holds no velocity yet.
fn sgd_kernel(step: &SgdStep, p: &mut [f32], g: &[f32], v: Option<&mut [f32]>, first: bool) {
    let s = *step;
    let decayed = move |p: f32, g: f32| match s.penalty {
        Some(pen) => p * pen + g,
        None => g,
    };
    match v {
        None => p
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(p, g)| {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p -= decayed(*p, g) * s.lr;
                }
            }),
        Some(v) => p
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|((p, g), v)| {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    let g = decayed(*p, g);
                    *v = if first {
                        g
                    } else {
                        g * s.keep + *v * s.momentum
                    };
                    let g = if s.nesterov { *v * s.momentum + g } else { *v };
                    *p -= g * s.lr;
                }
            }),
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
    fn distill_sgd_plain(param: FlexTensor, grad: FlexTensor, step: SgdStep) -> FlexTensor {
        let (mut p, shape) = owned_f32(param);
        let (g, _) = owned_f32(grad);
        sgd_kernel(&step, &mut p, &g, None, false);
        flex(p, shape)
    }

    fn distill_sgd_first(
        param: FlexTensor,
        grad: FlexTensor,
        step: SgdStep,
    ) -> (FlexTensor, FlexTensor) {
        let (mut p, shape) = owned_f32(param);
        let (g, _) = owned_f32(grad);
        let mut v = vec![0.0f32; p.len()];
        sgd_kernel(&step, &mut p, &g, Some(&mut v), true);
        (flex(p, shape.clone()), flex(v, shape))
    }

    fn distill_sgd(
        param: FlexTensor,
        grad: FlexTensor,
        velocity: FlexTensor,
        step: SgdStep,
    ) -> (FlexTensor, FlexTensor) {
        let (mut p, shape) = owned_f32(param);
        let (g, _) = owned_f32(grad);
        let (mut v, _) = owned_f32(velocity);
        sgd_kernel(&step, &mut p, &g, Some(&mut v), false);
        (flex(p, shape.clone()), flex(v, shape))
    }

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

/// The state of [`FusedSgd`] for one parameter: its velocity when the step has momentum.
/// Recorded as burn's `SgdState` records itself (`{param}.momentum.velocity`), so the
/// checkpoints of burn's SGD and of the fused one are interchangeable.
#[derive(Clone, Debug)]
pub struct FusedSgdState<const D: usize> {
    /// The momentum buffer `v`.
    pub velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for FusedSgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, "momentum"),
                "velocity",
                v.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let momentum = join_path(prefix, "momentum");
        let velocity = match src.has_under(&momentum) {
            true => Some(Tensor::from_data(
                src.take_tensor(&momentum, "velocity")?,
                device,
            )),
            false => None,
        };
        Some(FusedSgdState { velocity })
    }
}

/// burn-optim's SGD (with an optional L2 penalty, momentum, dampening and Nesterov), with the
/// update fused into one pass on the flex backend; elsewhere the same update in burn's tensor
/// operations, in burn's order.
#[derive(Clone, Copy, Debug)]
pub struct FusedSgd {
    penalty: Option<f32>,
    momentum: Option<(f32, f64, bool)>,
}

impl FusedSgd {
    /// SGD with an L2 `penalty` and `momentum` = (μ, dampening, Nesterov), as burn's
    /// `SgdConfig` with a `WeightDecayConfig` and a `MomentumConfig` of those values.
    pub fn new(penalty: Option<f32>, momentum: Option<(f64, f64, bool)>) -> Self {
        Self {
            penalty,
            // burn keeps μ as f32 (`config.momentum.elem()`) and the dampening as f64.
            momentum: momentum.map(|(m, d, n)| (m as f32, d, n)),
        }
    }

    /// As a whole-module optimiser.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }

    /// The step's f32 factors at learning rate `lr`, as burn's scalar operations round them.
    fn factors(&self, lr: LearningRate) -> SgdStep {
        let (momentum, dampening, nesterov) = self.momentum.unwrap_or((0.0, 0.0, false));
        SgdStep {
            lr: lr as f32,
            penalty: self.penalty,
            momentum,
            keep: (1.0 - dampening) as f32,
            nesterov,
        }
    }

    /// The same update in burn's tensor operations, in burn-optim's order (other devices,
    /// `DISTILL_CONV=burn`).
    fn tensor_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        mut grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, FusedSgdState<D>) {
        let f = self.factors(lr);
        if let Some(pen) = self.penalty {
            grad = tensor.clone().mul_scalar(pen).add(grad);
        }
        let mut state = FusedSgdState { velocity: None };
        if self.momentum.is_some() {
            let v = match velocity {
                Some(v) => grad
                    .clone()
                    .mul_scalar(f.keep)
                    .add(v.mul_scalar(f.momentum)),
                None => grad.clone(),
            };
            grad = match f.nesterov {
                true => v.clone().mul_scalar(f.momentum).add(grad),
                false => v.clone(),
            };
            state.velocity = Some(v);
        }
        (tensor - grad.mul_scalar(f.lr), state)
    }
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = FusedSgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let fusable = super::own_kernels()
            && super::plain_flex_f32(&tensor)
            && super::plain_flex_f32(&grad)
            && velocity.as_ref().is_none_or(super::plain_flex_f32);
        if !fusable {
            let (p, state) = self.tensor_step(lr, tensor, grad, velocity);
            return (p, Some(state));
        }
        let step = self.factors(lr);
        let (p, velocity) = match (self.momentum.is_some(), velocity) {
            (false, _) => (
                <Dispatch as OptimBackend>::distill_sgd_plain(
                    tensor.into_dispatch(),
                    grad.into_dispatch(),
                    step,
                ),
                None,
            ),
            (true, None) => {
                let (p, v) = <Dispatch as OptimBackend>::distill_sgd_first(
                    tensor.into_dispatch(),
                    grad.into_dispatch(),
                    step,
                );
                (p, Some(v))
            }
            (true, Some(v)) => {
                let (p, v) = <Dispatch as OptimBackend>::distill_sgd(
                    tensor.into_dispatch(),
                    grad.into_dispatch(),
                    v.into_dispatch(),
                    step,
                );
                (p, Some(v))
            }
        };
        (
            Tensor::from_dispatch(p),
            Some(FusedSgdState {
                velocity: velocity.map(Tensor::from_dispatch),
            }),
        )
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.velocity = state.velocity.map(|v| v.to_device(device));
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

    /// SGD in burn's configurations: plain, L2 penalty, momentum with and without dampening,
    /// Nesterov (with and without the penalty), as (penalty, (μ, dampening, Nesterov)).
    type SgdCase = (Option<f32>, Option<(f64, f64, bool)>);

    fn sgd_cases() -> Vec<SgdCase> {
        vec![
            (None, None),
            (Some(5e-4), None),
            (None, Some((0.9, 0.0, false))),
            (Some(5e-4), Some((0.9, 0.1, false))),
            (None, Some((0.9, 0.0, true))),
            (Some(1e-3), Some((0.8, 0.0, true))),
        ]
    }

    fn burns_sgd(penalty: Option<f32>, momentum: Option<(f64, f64, bool)>) -> ModuleOptimizer {
        burn::optim::SgdConfig::new()
            .with_weight_decay(penalty.map(WeightDecayConfig::new))
            .with_momentum(momentum.map(|(m, d, n)| {
                burn::optim::momentum::MomentumConfig::new()
                    .with_momentum(m)
                    .with_dampening(d)
                    .with_nesterov(n)
            }))
            .init()
    }

    /// burn's SGD and the fused one, in every configuration.
    #[test]
    fn equals_burns_sgd_bit_for_bit() {
        for (penalty, momentum) in sgd_cases() {
            assert_same_twenty_steps(
                FusedSgd::new(penalty, momentum).init(),
                burns_sgd(penalty, momentum),
                &format!("{penalty:?} {momentum:?}"),
            );
        }
    }

    /// The tensor-operation path (other devices, `DISTILL_CONV=burn`) is burn's SGD too.
    #[test]
    fn the_tensor_path_equals_burns_sgd_bit_for_bit() {
        #[derive(Clone)]
        struct TensorPath(FusedSgd);
        impl Optimizer for TensorPath {
            type State<const D: usize> = FusedSgdState<D>;
            fn step<const D: usize>(
                &self,
                lr: LearningRate,
                tensor: Tensor<D>,
                grad: Tensor<D>,
                state: Option<Self::State<D>>,
            ) -> (Tensor<D>, Option<Self::State<D>>) {
                let (p, s) = self
                    .0
                    .tensor_step(lr, tensor, grad, state.and_then(|s| s.velocity));
                (p, Some(s))
            }
            fn to_device<const D: usize>(s: Self::State<D>, d: &Device) -> Self::State<D> {
                FusedSgd::to_device(s, d)
            }
        }
        for (penalty, momentum) in sgd_cases() {
            assert_same_twenty_steps(
                ModuleOptimizer::from(TensorPath(FusedSgd::new(penalty, momentum))),
                burns_sgd(penalty, momentum),
                &format!("tensor path {penalty:?} {momentum:?}"),
            );
        }
    }

    /// A checkpoint of burn's SGD resumes in the fused one and the other way round, and the
    /// runs go on bit for bit as if nothing had changed hands.
    #[test]
    fn sgd_checkpoints_are_interchangeable_with_burns() {
        let device = Device::flex().autodiff();
        let (penalty, momentum) = (Some(5e-4), Some((0.9, 0.0, true)));
        let batch = |i: u64| {
            burn::tensor::TensorData::new(
                (0..16 * 37)
                    .map(|j| (((j as u64 * 7919 + i * 104_729) % 997) as f32 / 498.5) - 1.0)
                    .collect::<Vec<f32>>(),
                [16, 37],
            )
        };
        let step = |optim: &mut ModuleOptimizer, model: Linear, i: u64| {
            let x = Tensor::<2>::from_data(batch(i), &device);
            let g = GradientsParams::from_grads(
                model.forward(x).powf_scalar(2.0).mean().backward(),
                &model,
            );
            optim.step(1e-2, model, g)
        };
        let start = LinearConfig::new(37, 70).init(&device);
        // Five steps of each, then the state changes hands for five more.
        for burn_first in [true, false] {
            let (mut first, second) = match burn_first {
                true => (
                    burns_sgd(penalty, momentum),
                    FusedSgd::new(penalty, momentum).init(),
                ),
                false => (
                    FusedSgd::new(penalty, momentum).init(),
                    burns_sgd(penalty, momentum),
                ),
            };
            let mut reference = burns_sgd(penalty, momentum);
            let (mut a, mut b) = (start.clone(), start.clone());
            for i in 0..5 {
                a = step(&mut first, a, i);
                b = step(&mut reference, b, i);
            }
            let bytes = first.into_bytes().unwrap();
            let mut second = second.from_bytes(bytes).unwrap();
            for i in 5..10 {
                a = step(&mut second, a, i);
                b = step(&mut reference, b, i);
            }
            let (pa, pb) = (params(&a), params(&b));
            assert!(
                pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()),
                "burn first: {burn_first}"
            );
        }
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
