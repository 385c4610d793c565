//! Data: IDX files, the built-in demo subset, splits and batching.

mod batch;
mod dataset;
pub mod idx;

pub use batch::{Batch, epoch_order, make_batch, normalize_into};
pub use dataset::{IDENTITY, ImageDataset, Splits, load_splits};
