//! Data: IDX files, CIFAR binaries, image folders, the built-in demo subset, splits and
//! batching.

mod batch;
pub mod cifar;
mod dataset;
pub mod idx;
pub mod photos;
pub mod pixels;

pub use batch::{Batch, epoch_order, make_batch, normalize_into, normalize_rows};
pub use dataset::{
    DEFAULT_TEST_FRACTION, IDENTITY, ImageDataset, LoadedImages, Splits, load_images, load_splits,
};
pub use photos::{SkippedImage, is_image_file, to_planes};
pub use pixels::Pixels;
