//! Text classification: labelled texts from CSV, TSV or JSONL ([`read_labelled_text`]),
//! tokenisers ([`TextTokenizer`]), a BERT-style teacher ([`bert`]), small students
//! ([`models`]), their training ([`train`]) and the record → distil → compare pipeline
//! ([`pipeline`]) configured by a `task = "text"` experiment ([`config`]).

pub mod bert;
pub mod config;
mod data;
pub mod models;
pub mod pipeline;
pub mod predict;
pub mod tokenize;
pub mod train;

pub use data::{TextDataset, TextFields, TextFormat, parse_labelled_text, read_labelled_text};
pub use tokenize::TextTokenizer;
