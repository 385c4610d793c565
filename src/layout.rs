//! Where everything lives under an output folder, for every kind of data:
//!
//! ```text
//! OUT/experiment.resolved.toml
//! OUT/teacher.safetensors (+ .model.json card, .history.json), OUT/teacher.import.json
//! OUT/teacher.tokenizer.json, OUT/student.tokenizer.json            (text)
//! OUT/soft_labels/shard-00000-of-00001.dsl
//! OUT/student_kd-seed1.safetensors, OUT/student_baseline-seed1.safetensors (+ card, history)
//! OUT/checkpoints/<run>/epoch-NNNN/...
//! OUT/report.json, OUT/report.md, OUT/report.html, OUT/*.svg
//! ```

use crate::vocab::StudentKind;
use std::path::{Path, PathBuf};

/// The teacher's weights.
pub fn teacher_path(out: &Path) -> PathBuf {
    out.join("teacher.safetensors")
}

/// The soft-label store folder.
pub fn soft_labels_dir(out: &Path) -> PathBuf {
    out.join("soft_labels")
}

/// A student's weights file.
pub fn student_path(out: &Path, kind: StudentKind, seed: u64) -> PathBuf {
    out.join(format!("{}-seed{seed}.safetensors", kind.name()))
}

/// The checkpoints of the run called `name`.
pub fn checkpoint_dir(out: &Path, name: &str) -> PathBuf {
    out.join("checkpoints").join(name)
}

/// Where an imported teacher's summary goes.
pub fn import_summary_path(out: &Path) -> PathBuf {
    out.join("teacher.import.json")
}

/// The teacher's tokenizer file (text).
pub fn teacher_tokenizer_path(out: &Path) -> PathBuf {
    out.join("teacher.tokenizer.json")
}

/// The students' tokenizer file (text).
pub fn student_tokenizer_path(out: &Path) -> PathBuf {
    out.join("student.tokenizer.json")
}
