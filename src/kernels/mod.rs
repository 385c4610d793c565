//! distill's own CPU kernels, added to burn's `flex` backend through burn's public backend
//! extension API (`#[backend_extension(Flex, Autodiff)]`), not a fork.
//!
//! - [`conv`]: 2-D convolution (forward, input and weight gradients) as one GEMM per image and
//!   group, with our own im2col / col2im and a direct depthwise path.
//! - [`gemm`]: a bounds-checked front to the `gemm` crate burn-flex itself uses.
//! - [`linear`]: one-row (batch-1) linear layers split over threads by blocks of columns.
//! - [`optim`]: fused Adam and AdamW steps, bit-for-bit burn-optim's updates in one pass.
//! - [`pool`]: max pooling whose backward pass recomputes each window's winner (no index
//!   tensor, no scatter).
//!
//! [`conv2d`] is what the models call. On a flex device (with or without autodiff) and f32 it
//! runs [`ConvBackend::distill_conv2d`]; anywhere else (wgpu, cuda, other dtypes, `Same`
//! padding) it is burn's own `Conv2d::forward`. Autodiff gets a hand-written backward pass
//! ([`ConvBackward`]) whose two gradients are the kernels of [`conv`].
//!
//! Why: burn-flex 0.22.1 has no `conv2d_x_backward` / `conv2d_weight_backward`, so burn's
//! generic fallback computes the weight gradient as a convolution of the input with `dy` as a
//! kernel the size of the image, which dominated the small students' training steps
//! (`docs/PERFORMANCE.md`).

pub mod conv;
pub mod gemm;
pub mod linear;
pub mod optim;
pub mod pool;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, Flex, backend_extension,
};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};

pub use conv::ConvSpec;
pub use pool::PoolSpec;

/// The convolution operations distill adds to burn's backends.
///
/// Tensors are NCHW f32; `spec` carries the geometry ([`ConvSpec`]).
#[backend_extension(Flex, Autodiff)]
pub trait ConvBackend: Backend {
    /// `y = x ⊛ weight`, for a convolution without bias.
    fn distill_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;
    /// `y = x ⊛ weight + bias`, the bias added in the same pass.
    fn distill_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;
    /// The gradient with respect to the bias: `dy` summed over the batch and positions.
    fn distill_conv2d_bias_grad(dy: FloatTensor<Self>, spec: ConvSpec) -> FloatTensor<Self>;
    /// The gradient with respect to `x`, given the output gradient `dy`.
    fn distill_conv2d_x_grad(
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;
    /// The gradient with respect to the weight, given the output gradient `dy`.
    fn distill_conv2d_weight_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;
    /// The gradient through a fused ReLU: `dy` where its output `y` is positive (or NaN), else 0.
    fn distill_relu_grad(y: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Run `f` on the f32 elements of `t` in row-major order (copying only when it is a view).
fn with_f32<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    match t.as_slice::<f32>() {
        Some(s) => f(s),
        None => {
            let c = t.to_contiguous();
            f(c.as_slice::<f32>().expect("a contiguous f32 tensor"))
        }
    }
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl ConvBackend for Flex {
    fn distill_relu_grad(y: FlexTensor, mut dy: FlexTensor) -> FlexTensor {
        // The gradient is usually owned by this step alone: mask it in place, with no new
        // buffer (whose clearing and fresh pages showed in the profile of the student's step).
        let layout = dy.layout();
        let whole = layout.is_contiguous() && layout.start_offset() == 0;
        let n = layout.num_elements();
        if whole && dy.dtype() == DType::F32 {
            let masked = with_f32(&y, |y| match dy.try_storage_mut::<f32>() {
                Some(g) if g.len() == n => {
                    conv::relu_backward_in_place(y, g);
                    true
                }
                _ => false,
            });
            if masked {
                return dy;
            }
        }
        let shape = dy.layout().shape().clone();
        let g = with_f32(&y, |y| with_f32(&dy, |dy| conv::relu_backward(y, dy)));
        FlexTensor::from_data(TensorData::new(g, shape))
    }

    fn distill_conv2d(x: FlexTensor, weight: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let y = with_f32(&x, |x| {
            with_f32(&weight, |w| conv::forward(&spec, x, w, None))
        });
        flex_tensor(y, [spec.batch, spec.c_out, spec.out_hw[0], spec.out_hw[1]])
    }

    fn distill_conv2d_bias(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: ConvSpec,
    ) -> FlexTensor {
        let y = with_f32(&x, |x| {
            with_f32(&weight, |w| {
                with_f32(&bias, |b| conv::forward(&spec, x, w, Some(b)))
            })
        });
        flex_tensor(y, [spec.batch, spec.c_out, spec.out_hw[0], spec.out_hw[1]])
    }

    fn distill_conv2d_bias_grad(dy: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let db = with_f32(&dy, |dy| conv::backward_bias(&spec, dy));
        FlexTensor::from_data(TensorData::new(db, [spec.c_out]))
    }

    fn distill_conv2d_x_grad(weight: FlexTensor, dy: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let dx = with_f32(&weight, |w| {
            with_f32(&dy, |dy| conv::backward_x(&spec, w, dy))
        });
        flex_tensor(dx, [spec.batch, spec.c_in, spec.in_hw[0], spec.in_hw[1]])
    }

    fn distill_conv2d_weight_grad(x: FlexTensor, dy: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let dw = with_f32(&x, |x| {
            with_f32(&dy, |dy| conv::backward_weight(&spec, x, dy))
        });
        flex_tensor(
            dw,
            [
                spec.c_out,
                spec.c_in / spec.groups,
                spec.kernel[0],
                spec.kernel[1],
            ],
        )
    }
}

/// The backward pass of [`ConvBackend::distill_conv2d`] under autodiff: `dx` and `dW` from the
/// kernels of [`conv`], each only when its input needs a gradient.
#[derive(Debug)]
pub struct ConvBackward;

/// The output gradient of a convolution: `dy` itself, or masked by the fused ReLU's output.
fn pre_relu<B: ConvBackend>(dy: FloatTensor<B>, y: Option<FloatTensor<B>>) -> FloatTensor<B> {
    match y {
        Some(y) => B::distill_relu_grad(y, dy),
        None => dy,
    }
}

impl<B: ConvBackend> Backward<B, 2> for ConvBackward {
    /// The input and weight, the geometry, and the output when a ReLU is fused.
    type State = (NodeId, NodeId, ConvSpec, Option<FloatTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let (x_state, w_state, spec, y) = ops.state;
        let dy = pre_relu::<B>(grads.consume::<B>(&ops.node), y);
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::distill_conv2d_x_grad(w, dy.clone(), spec));
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::distill_conv2d_weight_grad(x, dy, spec));
        }
    }
}

/// The backward pass of [`ConvBackend::distill_conv2d_bias`]: [`ConvBackward`]'s two gradients
/// and the bias's.
#[derive(Debug)]
pub struct ConvBiasBackward;

impl<B: ConvBackend> Backward<B, 3> for ConvBiasBackward {
    /// As [`ConvBackward`]'s.
    type State = (NodeId, NodeId, ConvSpec, Option<FloatTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let (x_state, w_state, spec, y) = ops.state;
        let dy = pre_relu::<B>(grads.consume::<B>(&ops.node), y);
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_b {
            grads.register::<B>(node.id, B::distill_conv2d_bias_grad(dy.clone(), spec));
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::distill_conv2d_x_grad(w, dy.clone(), spec));
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::distill_conv2d_weight_grad(x, dy, spec));
        }
    }
}

impl<B: ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn distill_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        match ConvBiasBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = B::distill_conv2d_bias(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    spec,
                );
                let saved = spec.relu.then(|| y.clone());
                prep.finish((x_state, w_state, spec, saved), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::distill_conv2d_bias(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                spec,
            )),
        }
    }

    fn distill_conv2d_bias_grad(dy: FloatTensor<Self>, spec: ConvSpec) -> FloatTensor<Self> {
        Self::from_inner(B::distill_conv2d_bias_grad(dy.into_primitive(), spec))
    }

    fn distill_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = B::distill_conv2d(x.into_primitive(), weight.into_primitive(), spec);
                let saved = spec.relu.then(|| y.clone());
                prep.finish((x_state, w_state, spec, saved), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::distill_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                spec,
            )),
        }
    }

    // The gradients themselves are not differentiated again (first-order autodiff only, as in
    // burn): they run on the inner backend and come back untracked.
    fn distill_conv2d_x_grad(
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::distill_conv2d_x_grad(
            weight.into_primitive(),
            dy.into_primitive(),
            spec,
        ))
    }

    fn distill_conv2d_weight_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::distill_conv2d_weight_grad(
            x.into_primitive(),
            dy.into_primitive(),
            spec,
        ))
    }

    fn distill_relu_grad(y: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::distill_relu_grad(
            y.into_primitive(),
            dy.into_primitive(),
        ))
    }
}

/// The max pooling distill adds to burn's backends (NCHW f32, no padding).
#[backend_extension(Flex, Autodiff)]
pub trait PoolBackend: Backend {
    /// Each window's maximum.
    fn distill_max_pool2d(x: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self>;
    /// The gradient with respect to `x`, given the output gradient `dy`.
    fn distill_max_pool2d_x_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> FloatTensor<Self>;
}

impl PoolBackend for Flex {
    fn distill_max_pool2d(x: FlexTensor, spec: PoolSpec) -> FlexTensor {
        let [n, c, _, _] = x_dims(&x);
        let y = with_f32(&x, |x| pool::forward(&spec, x));
        flex_tensor(y, [n, c, spec.out_hw[0], spec.out_hw[1]])
    }

    fn distill_max_pool2d_x_grad(x: FlexTensor, dy: FlexTensor, spec: PoolSpec) -> FlexTensor {
        let dims = x_dims(&x);
        let dx = with_f32(&x, |x| with_f32(&dy, |dy| pool::backward(&spec, x, dy)));
        flex_tensor(dx, dims)
    }
}

fn x_dims(x: &FlexTensor) -> [usize; 4] {
    let s = x.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// The backward pass of [`PoolBackend::distill_max_pool2d`] under autodiff.
#[derive(Debug)]
pub struct PoolBackward;

impl<B: PoolBackend> Backward<B, 1> for PoolBackward {
    type State = (NodeId, PoolSpec);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_state, spec) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::distill_max_pool2d_x_grad(x, dy, spec));
        }
    }
}

impl<B: PoolBackend, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
    fn distill_max_pool2d(x: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish(
                    (x_state, spec),
                    B::distill_max_pool2d(x.into_primitive(), spec),
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::distill_max_pool2d(x.into_primitive(), spec))
            }
        }
    }

    // First-order only, as for the convolution.
    fn distill_max_pool2d_x_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::distill_max_pool2d_x_grad(
            x.into_primitive(),
            dy.into_primitive(),
            spec,
        ))
    }
}

/// `pool.forward(x)`, through distill's kernel on the flex backend (no padding, dilation 1,
/// floor mode; anything else is burn's own).
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let plain = matches!(pool.padding, PaddingConfig2d::Valid)
        || matches!(pool.padding, PaddingConfig2d::Explicit(0, 0, 0, 0));
    let spec = match PoolSpec::new(x.dims(), pool.kernel_size, pool.stride) {
        Some(spec)
            if plain
                && pool.dilation == [1, 1]
                && !pool.ceil_mode
                && own_kernels()
                && is_flex(&x.device())
                && x.dtype() == DType::F32 =>
        {
            spec
        }
        _ => return pool.forward(x),
    };
    Tensor::<4>::from_dispatch(<Dispatch as PoolBackend>::distill_max_pool2d(
        x.into_dispatch(),
        spec,
    ))
}

/// Whether `device` runs on burn's flex backend (directly or under autodiff).
pub fn is_flex(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

/// An f32 tensor on the plain flex device (no autodiff around it).
pub(crate) fn plain_flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
    matches!(t.device().as_dispatch(), DispatchDevice::Flex(_)) && t.dtype() == DType::F32
}

/// The geometry of `conv` applied to `x`, or `None` where distill's kernels do not apply
/// (`Same` padding, shapes that do not fit).
pub fn conv_spec(conv: &Conv2d, x_dims: [usize; 4]) -> Option<ConvSpec> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return None,
    };
    ConvSpec::new(
        x_dims,
        conv.weight.shape().dims(),
        conv.stride,
        padding,
        conv.dilation,
        conv.groups,
    )
}

/// Whether distill's own kernels are on: yes, unless the environment says `DISTILL_CONV=burn`
/// (burn's convolution everywhere, for A/B measurements or as an escape hatch). Read once.
pub fn own_kernels() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| match std::env::var("DISTILL_CONV") {
        Ok(v) if v == "burn" => false,
        Ok(v) if v == "distill" || v.is_empty() => true,
        Ok(v) => {
            tracing::warn!(
                "DISTILL_CONV={v:?} is neither \"distill\" nor \"burn\"; using distill's kernels"
            );
            true
        }
        Err(_) => true,
    })
}

/// `conv.forward(x)`, through distill's kernels on the flex backend.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_with(conv, x, false)
}

/// `relu(conv.forward(x))`, with the ReLU fused into distill's convolution on the flex backend
/// (one pass less forward and backward, and no separate mask tensor). Same values and
/// gradients as the two operations.
pub fn conv2d_relu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_with(conv, x, true)
}

fn conv2d_with(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let unfused = |x: Tensor<4>| {
        let y = conv.forward(x);
        if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        }
    };
    let spec = match conv_spec(conv, x.dims()) {
        Some(spec) if own_kernels() && is_flex(&x.device()) && x.dtype() == DType::F32 => spec,
        _ => return unfused(x),
    };
    let spec = if relu { spec.with_relu() } else { spec };
    let weight = conv.weight.val();
    if weight.dtype() != DType::F32 {
        return unfused(x);
    }
    let y = match &conv.bias {
        Some(bias) if bias.val().dtype() == DType::F32 => {
            <Dispatch as ConvBackend>::distill_conv2d_bias(
                x.into_dispatch(),
                weight.into_dispatch(),
                bias.val().into_dispatch(),
                spec,
            )
        }
        Some(_) => return unfused(x),
        None => <Dispatch as ConvBackend>::distill_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            spec,
        ),
    };
    Tensor::<4>::from_dispatch(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Forward and both gradients against burn's own `Conv2d` (burn's generic fallback on flex).
    #[test]
    fn matches_burns_conv2d_forward_and_gradients() {
        let device = Device::flex().autodiff();
        for (cin, cout, k, s, p, g, bias) in [
            (3, 8, 3, 1, 1, 1, true),
            (4, 6, 5, 2, 2, 2, false),
            (6, 6, 3, 2, 1, 6, false),
            (4, 8, 1, 1, 0, 1, true),
        ] {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_groups(g)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([3, cin, 9, 8], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = conv2d(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            assert!(max_diff(ours.clone(), theirs.clone()) < 1e-4);
            let target = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (ours * target.clone()).sum().backward();
            let g_theirs = (theirs * target).sum().backward();
            let dx = |g| x.grad(g).unwrap();
            assert!(max_diff(dx(&g_ours), dx(&g_theirs)) < 1e-3, "dx");
            let w = &conv.weight;
            let dw = |g| w.val().grad(g).unwrap();
            assert!(max_diff(dw(&g_ours), dw(&g_theirs)) < 1e-3, "dw");
            if let Some(b) = &conv.bias {
                let db = |g| b.val().grad(g).unwrap().reshape([1, 1, 1, cout as i32]);
                assert!(max_diff(db(&g_ours), db(&g_theirs)) < 1e-3, "db");
            }
        }
    }

    /// The fused ReLU gives the bits of our convolution followed by burn's `relu`, forward and
    /// in all three gradients (with and without bias, depthwise too).
    #[test]
    fn fused_relu_equals_conv_then_relu_bit_for_bit() {
        let device = Device::flex().autodiff();
        for (cin, cout, k, g, bias) in [(3, 8, 3, 1, true), (4, 6, 3, 1, false), (6, 6, 3, 6, true)]
        {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_groups(g)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([3, cin, 9, 8], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let fused = conv2d_relu(&conv, x.clone());
            let apart = burn::tensor::activation::relu(conv2d(&conv, x.clone()));
            let bits = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let as_bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(as_bits(bits(fused.clone())), as_bits(bits(apart.clone())));
            let zeros = bits(fused.clone()).iter().filter(|v| **v == 0.0).count();
            assert!(zeros > 0, "the ReLU clipped something");
            let target = Tensor::<4>::random(fused.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_fused = (fused * target.clone()).sum().backward();
            let g_apart = (apart * target).sum().backward();
            assert_eq!(
                as_bits(bits(x.grad(&g_fused).unwrap())),
                as_bits(bits(x.grad(&g_apart).unwrap())),
                "dx"
            );
            let w = &conv.weight;
            assert_eq!(
                as_bits(bits(w.val().grad(&g_fused).unwrap())),
                as_bits(bits(w.val().grad(&g_apart).unwrap())),
                "dw"
            );
            if let Some(b) = &conv.bias {
                let db = |g| {
                    b.val()
                        .grad(g)
                        .unwrap()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap()
                };
                assert_eq!(as_bits(db(&g_fused)), as_bits(db(&g_apart)), "db");
            }
        }
    }

    #[test]
    fn max_pooling_matches_burn_forward_and_gradient() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex().autodiff();
        for (k, s, side) in [(2, 2, 8), (2, 2, 7), (3, 2, 9), (3, 1, 6)] {
            let pool = MaxPool2dConfig::new([k, k]).with_strides([s, s]).init();
            let x =
                Tensor::<4>::random([3, 4, side, side], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
            let (ours, theirs) = (max_pool2d(&pool, x.clone()), pool.forward(x.clone()));
            assert_eq!(max_diff(ours.clone(), theirs.clone()), 0.0);
            let target = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (ours * target.clone()).sum().backward();
            let g_theirs = (theirs * target).sum().backward();
            assert!(max_diff(x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap()) < 1e-6);
        }
    }

    #[test]
    fn same_padding_falls_back_to_burn() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([2, 3], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = Tensor::<4>::ones([1, 2, 5, 5], &device);
        assert!(conv_spec(&conv, x.dims()).is_none());
        assert_eq!(conv2d(&conv, x).dims(), [1, 3, 5, 5]);
    }
}
