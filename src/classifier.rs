//! The two traits every kind of data implements, and what is written once on top of them.
//!
//! - [`Rows`]: a data set the loop can draw batches from (images, token ids, feature rows):
//!   its length, labels, a fingerprint, and the model inputs of any rows (augmented when the
//!   kind of data has augmentation).
//! - [`Classifier`]: a burn module that maps such inputs to logits, and to named intermediate
//!   features where the architecture has them (for the feature terms of the objective).
//!
//! The training loop ([`crate::train`]), recording ([`crate::soft_labels`]), evaluation and
//! speed ([`crate::eval`]) are generic over these two traits and nothing else.

use crate::error::Result;
use crate::vocab::{AugmentConfig, FeatureShape, NamedFeature, View};
use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;
use rand::rngs::StdRng;
use std::path::Path;

/// A batch of model inputs that can be copied between devices (the plain device and its
/// autodiff twin: an online teacher runs on the student's batch without recording a graph).
pub trait BatchInput: Clone {
    /// The same values on `device`.
    fn onto(self, device: &Device) -> Self;
}

impl<const D: usize> BatchInput for Tensor<D> {
    fn onto(self, device: &Device) -> Self {
        Tensor::from_data(self.into_data(), device)
    }
}

impl<const D: usize> BatchInput for Tensor<D, Int> {
    fn onto(self, device: &Device) -> Self {
        Tensor::from_data(self.into_data(), device)
    }
}

/// A model that classifies: logits `[n, classes]` for a batch of inputs.
pub trait Classifier: Module + ModuleDisplay + core::fmt::Debug + Sized {
    /// What one batch of inputs is.
    type Input: BatchInput;

    /// Logits `[n, classes]`.
    fn logits(&self, input: Self::Input) -> Tensor<2>;

    /// Logits and the named intermediate features (empty where the architecture has none).
    fn logits_and_features(&self, input: Self::Input) -> (Tensor<2>, Vec<NamedFeature>) {
        (self.logits(input), Vec::new())
    }

    /// Saves the weights as safetensors, atomically.
    fn save(&self, path: &Path) -> Result<()> {
        crate::weights::save_safetensors(self, path)
    }

    /// Loads weights saved by [`Classifier::save`] into this freshly built model; every tensor
    /// must be present with its shape, and nothing left over.
    fn load(self, path: &Path) -> Result<Self> {
        crate::weights::load_safetensors(self, path)
    }
}

/// A class label: at most [`MAX_LABELS`] classes (65,535; one-byte IDX labels hold 256).
pub type Label = u16;

/// Most classes a data set may have: what a [`Label`] holds.
pub const MAX_LABELS: usize = Label::MAX as usize;

/// The bytes a fingerprint hashes for `labels`: one byte each while every label fits in one
/// (so fingerprints of data sets with up to 256 classes are those of distill versions whose
/// labels were bytes), else two, little-endian.
pub fn label_bytes(labels: &[Label]) -> Vec<u8> {
    if labels.iter().all(|&y| y <= u8::MAX as Label) {
        labels.iter().map(|&y| y as u8).collect()
    } else {
        labels.iter().flat_map(|y| y.to_le_bytes()).collect()
    }
}

/// A labelled data set, ready to be batched.
pub trait Rows {
    /// What a batch of its rows becomes.
    type Input: BatchInput;

    /// Number of rows.
    fn len(&self) -> usize;

    /// True when there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes.
    fn num_classes(&self) -> usize;

    /// One label per row, in `0..num_classes`.
    fn labels(&self) -> &[Label];

    /// A fingerprint of the rows and labels (checkpoints of other data are refused).
    fn fingerprint(&self) -> String;

    /// The model inputs of `rows` on `device`, augmented with `augment` when given (kinds of
    /// data without augmentation ignore it).
    fn inputs(
        &self,
        rows: &[usize],
        augment: Option<(&AugmentConfig, &mut StdRng)>,
        device: &Device,
    ) -> Self::Input;

    /// The model inputs of `rows`, each seen through its `views[k]` (augmentations drawn
    /// earlier, e.g. recorded in a store with the teacher's logits for them); `None` for kinds
    /// of data that do not augment.
    fn view_inputs(
        &self,
        _rows: &[usize],
        _views: &[View],
        _device: &Device,
    ) -> Option<Self::Input> {
        None
    }

    /// `(height, width)` of the images, for kinds of data that are images.
    fn image_size(&self) -> Option<(usize, usize)> {
        None
    }

    /// The order in which rows are run for prediction (text: by length, so that batches pad
    /// little); predictions come back in row order whatever it is.
    fn prediction_order(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }
}

/// The labels of `rows` as a tensor on `device`.
pub fn labels_of<R: Rows + ?Sized>(data: &R, rows: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels = data.labels();
    let y: Vec<i64> = rows.iter().map(|&r| labels[r] as i64).collect();
    Tensor::from_data(TensorData::new(y, [rows.len()]), device)
}

/// Rows per forward pass when predicting or monitoring.
pub const EVAL_BATCH: usize = 256;

/// The model's logits for every row of `data` (`len × classes`, row-major, in row order).
/// `model` must be in evaluation mode ([`burn::module::Module::valid`]).
pub fn predict_logits<M, R>(model: &M, data: &R, batch_size: usize, device: &Device) -> Vec<f32>
where
    M: Classifier,
    R: Rows<Input = M::Input> + ?Sized,
{
    let c = data.num_classes();
    let mut out = vec![0f32; data.len() * c];
    for chunk in data.prediction_order().chunks(batch_size.max(1)) {
        let logits = model
            .logits(data.inputs(chunk, None, device))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits");
        for (k, &row) in chunk.iter().enumerate() {
            out[row * c..(row + 1) * c].copy_from_slice(&logits[k * c..(k + 1) * c]);
        }
    }
    out
}

/// The name and shape of every named feature `model` exposes on `probe` (a batch of at least
/// two inputs; BatchNorm in training mode needs two).
pub fn feature_shapes<M: Classifier>(model: &M, probe: M::Input) -> Vec<(String, FeatureShape)> {
    let (_, features) = model.logits_and_features(probe);
    features
        .iter()
        .map(|f| (f.name.clone(), FeatureShape::of(&f.value)))
        .collect()
}
