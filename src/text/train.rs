//! Token-id data sets: what the one training loop ([`crate::train`]), recording and
//! evaluation see of texts ([`Rows`] of [`TokenBatch`]es).

use super::tokenize::pad_batch;
use crate::classifier::{BatchInput, Rows};
use crate::vocab::AugmentConfig;
use burn::prelude::*;
use rand::rngs::StdRng;

/// Token ids and labels of one split.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// One id sequence per text (never empty).
    pub seqs: Vec<Vec<u32>>,
    /// Labels, `0..num_classes`.
    pub labels: Vec<crate::classifier::Label>,
    /// Classes.
    pub num_classes: usize,
    /// The padding id.
    pub pad_id: u32,
}

impl TokenSet {
    /// Texts.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Ids and mask of `rows` on `device`, padded to the longest row.
    pub fn batch(&self, rows: &[usize], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let (ids, mask, len) = pad_batch(&self.seqs, rows, self.pad_id);
        let n = rows.len();
        (
            Tensor::from_data(TensorData::new(ids, [n, len]), device),
            Tensor::from_data(TensorData::new(mask, [n, len]), device),
        )
    }

    /// Labels of `rows` on `device`.
    pub fn labels_of(&self, rows: &[usize], device: &Device) -> Tensor<1, Int> {
        let y: Vec<i64> = rows.iter().map(|&r| self.labels[r] as i64).collect();
        Tensor::from_data(TensorData::new(y, [rows.len()]), device)
    }

    /// A fingerprint of ids and labels (what a soft-label store is tied to).
    pub fn fingerprint(&self) -> String {
        let mut bytes = Vec::new();
        // One byte a label while they all fit (the fingerprints of byte labels), else two.
        let wide = self
            .labels
            .iter()
            .any(|&y| y > u8::MAX as crate::classifier::Label);
        for (s, &y) in self.seqs.iter().zip(&self.labels) {
            bytes.extend((s.len() as u32).to_le_bytes());
            for &t in s {
                bytes.extend(t.to_le_bytes());
            }
            match wide {
                true => bytes.extend(y.to_le_bytes()),
                false => bytes.push(y as u8),
            }
        }
        crate::fsutil::sha256_hex(&bytes)[..16].to_string()
    }

    /// The median sequence length.
    pub fn median_len(&self) -> usize {
        let mut lens: Vec<usize> = self.seqs.iter().map(Vec::len).collect();
        lens.sort_unstable();
        lens.get(lens.len() / 2).copied().unwrap_or(1)
    }
}

/// A batch of texts as a model sees it: token ids and mask (1 = token, 0 = padding), `[n, len]`.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Token ids.
    pub ids: Tensor<2, Int>,
    /// 1 for a token, 0 for padding.
    pub mask: Tensor<2, Int>,
}

impl BatchInput for TokenBatch {
    fn onto(self, device: &Device) -> Self {
        TokenBatch {
            ids: self.ids.onto(device),
            mask: self.mask.onto(device),
        }
    }
}

impl Rows for TokenSet {
    type Input = TokenBatch;

    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn labels(&self) -> &[crate::classifier::Label] {
        &self.labels
    }

    fn fingerprint(&self) -> String {
        TokenSet::fingerprint(self)
    }

    fn inputs(
        &self,
        rows: &[usize],
        _augment: Option<(&AugmentConfig, &mut StdRng)>,
        device: &Device,
    ) -> TokenBatch {
        let (ids, mask) = self.batch(rows, device);
        TokenBatch { ids, mask }
    }

    /// Shortest texts first: batches of similar length pad little.
    fn prediction_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.seqs[i].len());
        order
    }
}
