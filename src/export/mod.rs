//! Exporting a trained model to other runtimes.
//!
//! - [`onnx`]: an ONNX file (opset 13) of any model distill builds, for onnxruntime, tract,
//!   OpenVINO and the like; `distill export --model M.safetensors --onnx M.onnx` on the command
//!   line.
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
