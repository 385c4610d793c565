//! Adversarial distillation: a discriminator learns to tell the teacher's logits from the
//! student's, and the student is trained to be mistaken for the teacher.
//!
//! `D(z) = w₂ · LeakyReLU₀.₂(W₁ z + b₁) + b₂` scores a logit vector (teacher = 1).
//!
//! discriminator: `L_D = mean BCE(D(z_t), 1) + mean BCE(D(sg(z_s)), 0)`;
//! student: `L_adv = mean BCE(D(z_s), 1)` (the non-saturating GAN loss),
//!
//! with `BCE(x, y) = max(x, 0) − x·y + log(1 + e^{−|x|})` on the score `x`. The two are updated
//! in turn, the discriminator with its own Adam optimiser, `d_steps` times per student step.
//! Xu, Hsu & Huang, "Training Shallow and Thin Networks for Acceleration via Knowledge
//! Distillation with Conditional Adversarial Networks", ICLR Workshop 2018 (arXiv 2017); the
//! GAN-style KD family. The discriminator's accuracy is logged per epoch: near 50% the student
//! fools it, near 100% it has won (and the student's adversarial gradient is weak).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

/// A two-layer MLP that scores logit vectors.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// `classes → hidden`.
    pub hidden: Linear,
    /// `hidden → 1`.
    pub output: Linear,
}

impl Discriminator {
    /// A fresh discriminator for `classes`-dimensional logits.
    pub fn new(classes: usize, hidden: usize, device: &Device) -> Self {
        Discriminator {
            hidden: LinearConfig::new(classes, hidden).init(device),
            output: LinearConfig::new(hidden, 1).init(device),
        }
    }

    /// Scores (`[N]`), positive meaning "teacher".
    pub fn forward(&self, logits: Tensor<2>) -> Tensor<1> {
        let [n, _] = logits.dims();
        let h = leaky_relu(self.hidden.forward(logits), 0.2);
        self.output.forward(h).reshape([n])
    }
}

/// Mean binary cross-entropy of scores `x` against the constant target `y` (0 or 1).
fn bce(x: Tensor<1>, y: f32) -> Tensor<1> {
    let softplus_neg_abs = x.clone().abs().neg().exp().add_scalar(1.0).log();
    (x.clone().clamp_min(0.0) - x.mul_scalar(y) + softplus_neg_abs).mean()
}

/// The discriminator's loss (`[1]`) and how many of the `2N` samples it classified right.
pub fn discriminator_loss(
    d: &Discriminator,
    student: Tensor<2>,
    teacher: Tensor<2>,
) -> (Tensor<1>, Tensor<1, Int>) {
    let st = d.forward(teacher.detach());
    let ss = d.forward(student.detach());
    let right =
        st.clone().greater_elem(0.0).int().sum() + ss.clone().lower_equal_elem(0.0).int().sum();
    (bce(st, 1.0) + bce(ss, 0.0), right)
}

/// The student's adversarial term (`[1]`): being scored as the teacher.
pub fn adversarial_loss(d: &Discriminator, student: Tensor<2>) -> Tensor<1> {
    bce(d.forward(student), 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_features::*;
    use burn::module::Param;

    fn golden_discriminator(device: &Device) -> Discriminator {
        let mut d = Discriminator::new(3, 4, device);
        d.hidden.weight = Param::from_tensor(Tensor::<1>::from_data(W1, device).reshape([3, 4]));
        d.hidden.bias = Some(Param::from_tensor(Tensor::<1>::from_data(B1, device)));
        d.output.weight = Param::from_tensor(Tensor::<1>::from_data(W2, device).reshape([4, 1]));
        d.output.bias = Some(Param::from_tensor(Tensor::<1>::from_data([B2], device)));
        d
    }

    fn close(got: Vec<f32>, want: &[f32]) {
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "[{k}] {g} vs {w}");
        }
    }

    fn v<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn discriminator_loss_and_its_gradients_match_golden_numbers() {
        let device = Device::flex().autodiff();
        let d = golden_discriminator(&device);
        let zs = Tensor::<1>::from_data(ZS, &device).reshape([3, 3]);
        let zt = Tensor::<1>::from_data(ZT, &device).reshape([3, 3]);
        let (loss, right) = discriminator_loss(&d, zs, zt);
        close(v(loss.clone()), &[D_LOSS]);
        assert!(right.into_data().try_to_vec_as::<i64>().unwrap()[0] <= 6);
        let grads = loss.backward();
        close(v(d.hidden.weight.grad(&grads).unwrap()), &D_LOSS_GRAD_W1);
        close(v(d.output.weight.grad(&grads).unwrap()), &D_LOSS_GRAD_W2);
    }

    #[test]
    fn student_adversarial_loss_and_its_gradient_match_golden_numbers() {
        let device = Device::flex().autodiff();
        let d = golden_discriminator(&device);
        let zs = Tensor::<1>::from_data(ZS, &device)
            .reshape([3, 3])
            .require_grad();
        let loss = adversarial_loss(&d, zs.clone());
        close(v(loss.clone()), &[G_LOSS]);
        close(v(zs.grad(&loss.backward()).unwrap()), &G_LOSS_GRAD_ZS);
    }
}
