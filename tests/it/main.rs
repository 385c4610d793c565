//! The integration tests, in one binary (one link of burn instead of one per file; a clean
//! test build is several minutes shorter). Each module is one area; `cargo test --release
//! --test it tune::` runs one of them.

mod common;

mod bert;
mod cli_errors;
mod colour;
mod deploy;
mod examples;
mod features;
mod fuzz;
mod hostile;
mod interop;
mod onnx;
mod pipeline;
mod precision;
mod predict;
mod s3;
mod sweep;
mod tabular;
mod text;
mod tune;
mod views;
