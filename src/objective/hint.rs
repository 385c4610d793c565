//! FitNets hints: a student layer, through a learned connector, regresses a teacher layer.
//!
//! `Hint = (1/|v|) Σ (r(u) − v)²`, the mean squared error between the connector's output
//! `r(u)` on the student's feature `u` and the teacher's feature `v` at the named layers. The
//! connector is a 1×1 convolution for feature maps (same height and width, any channels) or a
//! linear layer for vectors; it is trained with the student and dropped afterwards.
//!
//! Romero, Ballas, Kahou, Chassang, Gatta & Bengio, "FitNets: Hints for Thin Deep Nets",
//! ICLR 2015 (they regress with `½‖·‖²`; the mean keeps the scale independent of the width).

use crate::vocab::Feature;
pub use crate::vocab::FeatureShape;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// The learned bridge from a student feature to a teacher feature.
#[derive(Module, Debug)]
pub enum Connector {
    /// 1×1 convolution between feature maps of the same spatial size.
    Conv(Conv2d),
    /// Linear map between vectors.
    Linear(Linear),
}

impl Connector {
    /// Why no connector bridges `student` to `teacher`, if none does.
    pub fn unbridgeable(student: &FeatureShape, teacher: &FeatureShape) -> Option<String> {
        match (student, teacher) {
            (FeatureShape::Map([_, hs, ws]), FeatureShape::Map([_, ht, wt]))
                if (hs, ws) != (ht, wt) =>
            {
                Some(format!(
                    "a 1x1 convolution cannot bridge a {student} to a {teacher}: the spatial sizes differ"
                ))
            }
            (FeatureShape::Map(_), FeatureShape::Vector(_))
            | (FeatureShape::Vector(_), FeatureShape::Map(_)) => Some(format!(
                "no connector bridges a {student} to a {teacher}: pick two maps or two vectors"
            )),
            _ => None,
        }
    }

    /// A fresh connector from `student` to `teacher` (which must be bridgeable).
    pub fn new(student: &FeatureShape, teacher: &FeatureShape, device: &Device) -> Connector {
        match (student, teacher) {
            (FeatureShape::Map([cs, ..]), FeatureShape::Map([ct, ..])) => {
                Connector::Conv(Conv2dConfig::new([*cs, *ct], [1, 1]).init(device))
            }
            (FeatureShape::Vector(ds), FeatureShape::Vector(dt)) => {
                Connector::Linear(LinearConfig::new(*ds, *dt).init(device))
            }
            _ => panic!("unbridgeable shapes {student} -> {teacher}; check with `unbridgeable`"),
        }
    }

    /// Maps a student feature into the teacher's space.
    pub fn forward(&self, feature: &Feature) -> Feature {
        match (self, feature) {
            (Connector::Conv(c), Feature::Map(t)) => {
                Feature::Map(crate::kernels::conv2d(c, t.clone()))
            }
            (Connector::Linear(l), Feature::Vector(t)) => Feature::Vector(l.forward(t.clone())),
            _ => panic!("connector applied to a feature of the other kind"),
        }
    }
}

/// Mean squared error between two features of the same shape (`[1]`).
pub fn feature_mse(student: Feature, teacher: Feature) -> Tensor<1> {
    match (student, teacher) {
        (Feature::Map(s), Feature::Map(t)) => (s - t.detach()).square().mean(),
        (Feature::Vector(s), Feature::Vector(t)) => (s - t.detach()).square().mean(),
        _ => panic!("feature kinds differ"),
    }
}

/// The FitNets hint term (`[1]`): the connector's image of `student` against `teacher`.
pub fn hint_loss(connector: &Connector, student: &Feature, teacher: Feature) -> Tensor<1> {
    feature_mse(connector.forward(student), teacher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_features::*;
    use burn::module::Param;

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "[{k}] {g} vs {w}");
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn map_hint_value_and_gradients_match_golden_numbers() {
        let device = Device::flex().autodiff();
        let fs = Tensor::<1>::from_data(FS, &device)
            .reshape([2, 2, 2, 2])
            .require_grad();
        let ft = Tensor::<1>::from_data(FT, &device).reshape([2, 3, 2, 2]);
        let shape = FeatureShape::Map([2, 2, 2]);
        let Connector::Conv(mut conv) =
            Connector::new(&shape, &FeatureShape::Map([3, 2, 2]), &device)
        else {
            unreachable!()
        };
        // Golden weights are W[in][out]; burn's conv weight is [out, in, 1, 1].
        let w = Tensor::<1>::from_data(CW, &device)
            .reshape([2, 3])
            .transpose()
            .reshape([3, 2, 1, 1]);
        conv.weight = Param::from_tensor(w);
        conv.bias = Some(Param::from_tensor(Tensor::<1>::from_data(CB, &device)));
        let connector = Connector::Conv(conv);
        let loss = hint_loss(&connector, &Feature::Map(fs.clone()), Feature::Map(ft));
        close(&values(loss.clone()), &[HINT_MAP]);
        let grads = loss.backward();
        close(&values(fs.grad(&grads).unwrap()), &HINT_MAP_GRAD_FS);
        let Connector::Conv(conv) = &connector else {
            unreachable!()
        };
        let gw = conv
            .weight
            .grad(&grads)
            .unwrap()
            .reshape([3, 2])
            .transpose();
        close(&values(gw), &HINT_MAP_GRAD_W);
        close(
            &values(conv.bias.as_ref().unwrap().grad(&grads).unwrap()),
            &HINT_MAP_GRAD_B,
        );
    }

    #[test]
    fn vector_hint_value_and_gradients_match_golden_numbers() {
        let device = Device::flex().autodiff();
        let vs = Tensor::<1>::from_data(VS, &device)
            .reshape([3, 2])
            .require_grad();
        let vt = Tensor::<1>::from_data(VT, &device).reshape([3, 3]);
        let Connector::Linear(mut linear) =
            Connector::new(&FeatureShape::Vector(2), &FeatureShape::Vector(3), &device)
        else {
            unreachable!()
        };
        linear.weight = Param::from_tensor(Tensor::<1>::from_data(LW, &device).reshape([2, 3]));
        linear.bias = Some(Param::from_tensor(Tensor::<1>::from_data(LB, &device)));
        let connector = Connector::Linear(linear);
        let loss = hint_loss(
            &connector,
            &Feature::Vector(vs.clone()),
            Feature::Vector(vt),
        );
        close(&values(loss.clone()), &[HINT_VEC]);
        let grads = loss.backward();
        close(&values(vs.grad(&grads).unwrap()), &HINT_VEC_GRAD_VS);
        let Connector::Linear(linear) = &connector else {
            unreachable!()
        };
        close(
            &values(linear.weight.grad(&grads).unwrap()),
            &HINT_VEC_GRAD_W,
        );
    }

    #[test]
    fn unbridgeable_shapes_are_explained() {
        let m = |c, h| FeatureShape::Map([c, h, h]);
        assert!(Connector::unbridgeable(&m(8, 14), &m(64, 14)).is_none());
        assert!(
            Connector::unbridgeable(&FeatureShape::Vector(3), &FeatureShape::Vector(9)).is_none()
        );
        let e = Connector::unbridgeable(&m(8, 28), &m(64, 14)).unwrap();
        assert!(
            e.contains("8x28x28 map") && e.contains("64x14x14 map"),
            "{e}"
        );
        let e = Connector::unbridgeable(&m(8, 28), &FeatureShape::Vector(64)).unwrap();
        assert!(e.contains("64-vector"), "{e}");
    }
}
