//! Text classification data: labelled texts from CSV, TSV or JSONL ([`read_labelled_text`]).
//!
//! The first piece of text distillation; tokenisers, the transformer teacher and the text
//! students build on it.

mod data;

pub use data::{TextDataset, TextFields, TextFormat, read_labelled_text};
