//! Rows of numeric features as the training loop sees them ([`Rows`] of `[n, d]` tensors):
//! tabular data after encoding and standardisation, or a frozen encoder's embeddings (the
//! linear probe of a pre-trained text teacher).

use crate::classifier::Rows;
use crate::vocab::AugmentConfig;
use burn::prelude::*;
use rand::rngs::StdRng;

/// `len × dim` feature values (row-major) with their labels.
#[derive(Debug, Clone)]
pub struct FeatureRows {
    /// The values, row-major.
    pub features: Vec<f32>,
    /// Values per row.
    pub dim: usize,
    /// One label per row.
    pub labels: Vec<crate::classifier::Label>,
    /// Number of classes.
    pub num_classes: usize,
}

impl FeatureRows {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }
}

impl Rows for FeatureRows {
    type Input = Tensor<2>;

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn labels(&self) -> &[crate::classifier::Label] {
        &self.labels
    }

    fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for d in [self.labels.len(), self.dim, self.num_classes] {
            h.update((d as u64).to_le_bytes());
        }
        for v in &self.features {
            h.update(v.to_le_bytes());
        }
        h.update(crate::classifier::label_bytes(&self.labels));
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn inputs(
        &self,
        rows: &[usize],
        _augment: Option<(&AugmentConfig, &mut StdRng)>,
        device: &Device,
    ) -> Tensor<2> {
        let mut v = Vec::with_capacity(rows.len() * self.dim);
        for &i in rows {
            v.extend_from_slice(self.row(i));
        }
        Tensor::from_data(TensorData::new(v, [rows.len(), self.dim]), device)
    }
}
