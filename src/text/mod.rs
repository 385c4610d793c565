//! Text classification's own parts: labelled texts from CSV, TSV or JSONL
//! ([`read_labelled_text`]), tokenisers ([`TextTokenizer`]), a BERT-style teacher ([`bert`]),
//! small students ([`models`]), token-id data sets ([`train::TokenSet`]), the model card
//! ([`card`]) and the `task = "text"` experiment file ([`config`]). The pipeline is the one every
//! kind of data uses ([`crate::task::text::TextTask`]).

pub mod bert;
pub mod card;
pub mod config;
mod data;
pub mod models;
pub mod tokenize;
pub mod train;

pub use data::{TextDataset, TextFields, TextFormat, parse_labelled_text, read_labelled_text};
pub use tokenize::TextTokenizer;
