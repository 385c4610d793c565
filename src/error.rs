//! The library's error type. Every variant names the file, field or value at fault, so that
//! the command line can print one clear line and exit non-zero.

use std::path::PathBuf;

/// Everything that can go wrong in distill, for the caller to report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An IDX data file is malformed (magic number, dimensions, truncation, label range).
    #[error("{path}: {message}")]
    Idx {
        /// The IDX file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An input file to predict on is unreadable or of the wrong size.
    #[error("{path}: {message}")]
    Data {
        /// The input file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Two data files disagree with each other (image and label counts, shapes).
    #[error("{message}")]
    DataMismatch {
        /// What differs, naming both files.
        message: String,
    },
    /// The experiment file could not be parsed (unknown key, wrong type, unknown name).
    #[error("{path}: {message}")]
    ConfigParse {
        /// The experiment file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// A field of the experiment file holds a value that is not allowed.
    #[error("{path}: field `{field}` = {value}: {reason}")]
    ConfigValue {
        /// The experiment file (or `<built-in>` for the demo).
        path: PathBuf,
        /// The dotted name of the field, e.g. `objective.temperature`.
        field: String,
        /// The value found.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A soft-label store is malformed or does not belong to this data or teacher.
    #[error("{path}: {message}")]
    SoftLabels {
        /// The store file.
        path: PathBuf,
        /// What is wrong, naming the mismatching fingerprint.
        message: String,
    },
    /// The loss stopped being a finite number.
    #[error(
        "training {model}: loss became {value} at epoch {epoch}, step {step} (global step {global_step}); lower the learning rate or check the data"
    )]
    NonFiniteLoss {
        /// Which model was being trained.
        model: String,
        /// The value (NaN or inf).
        value: f32,
        /// Epoch, 1-based.
        epoch: usize,
        /// Step within the epoch, 1-based.
        step: usize,
        /// Step since the start of training, 1-based.
        global_step: usize,
    },
    /// Saved weights or a checkpoint could not be read back.
    #[error("{path}: {message}")]
    Weights {
        /// The weights or checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A command-line argument is invalid.
    #[error("argument {arg} = {value}: {reason}")]
    Argument {
        /// The argument's name.
        arg: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A model cannot be exported: its tensors do not fit its card's architecture.
    #[error("export: {message}")]
    Export {
        /// What does not fit, naming the tensor.
        message: String,
    },
    /// Drawing a chart or writing a report failed.
    #[error("report: {0}")]
    Report(String),
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
