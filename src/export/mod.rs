//! Exporting a trained model to other runtimes.
//!
//! - [`onnx`]: an ONNX file (opset 13) of any model distill builds, for onnxruntime, tract,
//!   OpenVINO and the like; `distill export --model M.safetensors --onnx M.onnx` on the command
//!   line.
//! - [`export_pytorch_safetensors`]: safetensors with PyTorch's names and layouts, for
//!   `load_state_dict` into the module `python/distill_torch.py` builds from the model card;
//!   `distill export --model M.safetensors --safetensors M.pt.safetensors`.
//!
//! ```no_run
//! use distill::export::onnx::{OnnxOptions, export_onnx};
//! // The card `student.model.json` beside the weights gives the architecture and class names.
//! export_onnx(
//!     "runs/demo/student_kd-seed1.safetensors".as_ref(),
//!     "student.onnx".as_ref(),
//!     &OnnxOptions::default(),
//! )?;
//! # Ok::<(), distill::error::Error>(())
//! ```

pub mod onnx;
mod proto;

pub use onnx::{OnnxOptions, export_onnx, to_onnx};

use crate::error::Result;
use crate::predict::ModelCard;
use std::path::Path;

/// Writes the model saved at `weights` (distill's format, with its card) to `out` as
/// safetensors under PyTorch's names and layouts, with a copy of the card beside it
/// (`out` with extension `.model.json`). Both writes are atomic.
pub fn export_pytorch_safetensors(weights: &Path, out: &Path) -> Result<()> {
    let card = ModelCard::load_for(weights)?;
    let model = card.load_model(weights, &crate::default_device())?;
    crate::models::import::save_pytorch_safetensors(&model, out)?;
    card.save_for(out)
}
