//! Texts: labelled CSV/TSV/JSONL (or the built-in spam subset), tokenizers kept in the output
//! folder, a transformer teacher (pre-trained, with a linear probe and optional fine-tuning of
//! its top layers, or trained here), bag-of-embeddings / CNN / LSTM students.

use super::{RunOptions, Settings, Task};
use crate::classifier::{EVAL_BATCH, Rows, predict_logits};
use crate::data::Splits;
use crate::error::{Error, Result};
use crate::eval::SpeedInputs;
use crate::fsutil;
use crate::layout::{checkpoint_dir, student_tokenizer_path, teacher_path, teacher_tokenizer_path};
use crate::models::MlpConfig;
use crate::objective::Objective;
use crate::progress::Progress;
use crate::tabular::FeatureRows;
use crate::text::card::TextModelCard;
use crate::text::config::{TextExperiment, TokenizerConfig};
use crate::text::models::{TextModel, TextModelConfig};
use crate::text::train::{TokenBatch, TokenSet};
use crate::text::{TextDataset, TextFields, TextFormat, TextTokenizer};
use crate::text::{parse_labelled_text, read_labelled_text};
use crate::train::{TrainJob, Trained, train};
use crate::vocab::{Role, TaskKind};
use burn::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The built-in demo set: a scrubbed ham/spam subset of the SpamAssassin corpus
/// (`data/text/spam/NOTICE.md`).
const SPAM_TRAIN: &str = include_str!("../../data/text/spam/train.jsonl");
const SPAM_TEST: &str = include_str!("../../data/text/spam/test.jsonl");

/// Texts per forward pass while recording or embedding.
const TEXT_BATCH: usize = 64;

/// A text experiment with its texts read and tokenised for both models.
#[derive(Debug)]
pub struct TextTask {
    /// The experiment file.
    pub experiment: TextExperiment,
    /// The texts.
    pub texts: Splits<TextDataset>,
    /// The texts as the teacher's token ids.
    pub teacher_tokens: Splits<TokenSet>,
    /// The texts as the students' token ids.
    pub student_tokens: Splits<TokenSet>,
    teacher_tokenizer: TextTokenizer,
    student_tokenizer: TextTokenizer,
    teacher_tokenizer_sha: String,
    settings: Settings,
    out: PathBuf,
}

/// Reads the experiment's texts and makes its splits (seeded).
pub fn load_text_data(exp: &TextExperiment) -> Result<Splits<TextDataset>> {
    let d = &exp.data;
    let fields = TextFields {
        text: &d.text_field,
        label: &d.label_field,
    };
    let (mut train, test) = match &d.builtin {
        Some(_) => {
            let train = parse_labelled_text(
                Path::new("<built-in spam>/train.jsonl"),
                SPAM_TRAIN,
                TextFormat::Jsonl,
                &fields,
                d.classes.as_deref(),
            )?;
            let test = parse_labelled_text(
                Path::new("<built-in spam>/test.jsonl"),
                SPAM_TEST,
                TextFormat::Jsonl,
                &fields,
                Some(&train.class_names),
            )?;
            (train, test)
        }
        None => {
            let (tr, te) = (
                d.train.as_ref().expect("validated"),
                d.test.as_ref().expect("validated"),
            );
            let train = read_labelled_text(tr, None, &fields, d.classes.as_deref())?;
            let test = read_labelled_text(te, None, &fields, Some(&train.class_names))?;
            (train, test)
        }
    };
    let most = crate::classifier::MAX_LABELS;
    if train.class_names.len() < 2 || train.class_names.len() > most {
        return Err(Error::ConfigValue {
            path: exp.origin.clone(),
            field: "data.label_field".into(),
            value: format!("{} distinct labels", train.class_names.len()),
            reason: format!("need between 2 and {most} classes"),
        });
    }
    exp.check_classes(train.class_names.len())?;
    if let Some(n) = d.limit_train
        && n < train.len()
    {
        let (_, kept) = train.split(n as f64 / train.len() as f64, d.split_seed);
        train = kept;
    }
    let validation = if d.validation_fraction > 0.0 {
        let (rest, held_out) = train.split_stratified(d.validation_fraction, d.split_seed);
        train = rest;
        Some(held_out)
    } else {
        None
    };
    Ok(Splits {
        train,
        validation,
        test,
    })
}

/// The token ids of a data set.
pub fn tokenize(tok: &TextTokenizer, data: &TextDataset) -> Result<TokenSet> {
    Ok(TokenSet {
        seqs: tok.encode_all(&data.texts)?,
        labels: data
            .labels
            .iter()
            .map(|&y| y as crate::classifier::Label)
            .collect(),
        num_classes: data.class_names.len(),
        pad_id: tok.pad_id(),
    })
}

/// Reads the tokenizer saved in `path` unless `fresh`, else builds it with `build` and saves it
/// there.
fn tokenizer_at(
    path: &Path,
    fresh: bool,
    max_len: usize,
    build: impl FnOnce() -> Result<TextTokenizer>,
) -> Result<TextTokenizer> {
    if !fresh && path.is_file() {
        return TextTokenizer::from_file(path, max_len);
    }
    let tok = build()?;
    tok.save(path)?;
    Ok(tok)
}

impl TextTask {
    /// Reads and splits the texts (before anything is written), then builds the tokenizers
    /// into `out` (or, unless `fresh`, reads the ones already there), and tokenises every
    /// split for both models.
    pub fn new(experiment: TextExperiment, out: &Path, fresh: bool) -> Result<Self> {
        let texts = load_text_data(&experiment)?;
        // The vocabulary's configured size bounds the real one; checked before anything is
        // written.
        let recipes = Settings::of(
            &experiment,
            Some(experiment.teacher.train.clone()),
            experiment.student.train.clone(),
        );
        super::check_top_k(&recipes, texts.train.class_names.len())?;
        for (role, section) in [
            (Role::Teacher, &experiment.teacher),
            (Role::Student, &experiment.student),
        ] {
            let vocab = match (&section.tokenizer, &experiment.teacher.tokenizer) {
                (TokenizerConfig::Vocabulary { size }, _) => *size,
                (TokenizerConfig::Teacher, TokenizerConfig::Vocabulary { size }) => *size,
                (TokenizerConfig::Teacher, TokenizerConfig::Teacher) => 0,
            };
            if let Some(estimate) = section.model.memory_estimate(
                vocab,
                experiment.data.max_len,
                texts.train.class_names.len(),
            ) {
                super::check_memory(&recipes, role, estimate)?;
            }
        }
        fsutil::create_dir_all(out)?;
        let max_len = experiment.data.max_len;
        let train_texts = &texts.train.texts;
        let t_path = teacher_tokenizer_path(out);
        let teacher_tokenizer = tokenizer_at(&t_path, fresh, max_len, || {
            match (&experiment.teacher.model, &experiment.teacher.tokenizer) {
                (TextModelConfig::Pretrained(p), _) => {
                    TextTokenizer::from_file(&p.tokenizer_path(), max_len)
                }
                (_, TokenizerConfig::Vocabulary { size }) => {
                    TextTokenizer::train_word_level(train_texts, *size, max_len)
                }
                (_, TokenizerConfig::Teacher) => unreachable!("refused by validation"),
            }
        })?;
        let student_tokenizer =
            tokenizer_at(
                &student_tokenizer_path(out),
                fresh,
                max_len,
                || match &experiment.student.tokenizer {
                    TokenizerConfig::Teacher => Ok(teacher_tokenizer.clone()),
                    TokenizerConfig::Vocabulary { size } => {
                        TextTokenizer::train_word_level(train_texts, *size, max_len)
                    }
                },
            )?;
        let teacher_tokenizer_sha = fsutil::sha256_hex(&fsutil::read(&t_path)?);
        let tokens = |tok: &TextTokenizer| -> Result<Splits<TokenSet>> {
            Ok(Splits {
                train: tokenize(tok, &texts.train)?,
                validation: texts
                    .validation
                    .as_ref()
                    .map(|v| tokenize(tok, v))
                    .transpose()?,
                test: tokenize(tok, &texts.test)?,
            })
        };
        let teacher_tokens = tokens(&teacher_tokenizer)?;
        let student_tokens = tokens(&student_tokenizer)?;
        let settings = Settings::of(
            &experiment,
            Some(experiment.teacher.train.clone()),
            experiment.student.train.clone(),
        );
        Ok(TextTask {
            experiment,
            texts,
            teacher_tokens,
            student_tokens,
            teacher_tokenizer,
            student_tokenizer,
            teacher_tokenizer_sha,
            settings,
            out: out.to_path_buf(),
        })
    }

    fn config(&self, role: Role) -> &TextModelConfig {
        match role {
            Role::Teacher => &self.experiment.teacher.model,
            Role::Student => &self.experiment.student.model,
        }
    }

    fn tokenizer(&self, role: Role) -> &TextTokenizer {
        match role {
            Role::Teacher => &self.teacher_tokenizer,
            Role::Student => &self.student_tokenizer,
        }
    }

    /// A model of `role` with random weights (no pre-trained encoder loaded).
    fn build_bare(&self, role: Role, device: &Device) -> Result<TextModel> {
        let tok = self.tokenizer(role);
        self.config(role).init(
            tok.vocab_size(),
            tok.max_len(),
            self.texts.train.class_names.len(),
            device,
        )
    }

    /// Mean-pooled hidden states of a (frozen) encoder for every text of `data`, as feature
    /// rows.
    fn sentence_embeddings(
        &self,
        encoder: &crate::text::bert::Bert,
        data: &TokenSet,
        label: &str,
        opts: &RunOptions,
    ) -> FeatureRows {
        let bar = Progress::new(data.len().div_ceil(TEXT_BATCH) as u64, label, opts.progress);
        let start = Instant::now();
        let mut features: Vec<f32> = Vec::new();
        let mut dim = 0;
        for chunk in data.prediction_order().chunks(TEXT_BATCH) {
            let (ids, mask) = data.batch(chunk, &opts.device);
            let pooled = encoder.embed(ids, mask);
            dim = pooled.dims()[1];
            if features.is_empty() {
                features = vec![0f32; data.len() * dim];
            }
            let v = pooled.into_data().try_to_vec::<f32>().expect("f32");
            for (k, &row) in chunk.iter().enumerate() {
                features[row * dim..(row + 1) * dim].copy_from_slice(&v[k * dim..(k + 1) * dim]);
            }
            bar.step(String::new);
        }
        bar.finish(&format!(
            "{label}: {} texts in {:.1}s ({:.1} texts/s, hidden {dim})",
            data.len(),
            start.elapsed().as_secs_f64(),
            data.len() as f64 / start.elapsed().as_secs_f64().max(1e-9)
        ));
        FeatureRows {
            features,
            dim,
            labels: data.labels.clone(),
            num_classes: data.num_classes,
        }
    }
}

impl Task for TextTask {
    type Rows = TokenSet;
    type Model = TextModel;

    fn kind(&self) -> TaskKind {
        TaskKind::Text
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    fn splits(&self, role: Role) -> &Splits<TokenSet> {
        match role {
            Role::Teacher => &self.teacher_tokens,
            Role::Student => &self.student_tokens,
        }
    }

    fn class_names(&self) -> &[String] {
        &self.texts.train.class_names
    }

    fn build(&self, role: Role, device: &Device) -> Result<TextModel> {
        let model = self.build_bare(role, device)?;
        match self.config(role) {
            TextModelConfig::Pretrained(p) => model.load_pretrained_encoder(&p.weights_path()),
            _ => Ok(model),
        }
    }

    fn architecture(&self, role: Role) -> String {
        self.config(role).describe()
    }

    fn model_key(&self, role: Role) -> String {
        format!("{:?}", self.config(role))
    }

    fn data_fingerprint(&self) -> String {
        self.texts.train.fingerprint()
    }

    fn eval_fingerprint(&self) -> String {
        self.texts.test.fingerprint()
    }

    fn preprocessing(&self) -> String {
        format!(
            "text: tokenizer sha256 {}, max_len {}",
            &self.teacher_tokenizer_sha[..16],
            self.experiment.data.max_len
        )
    }

    fn save_card(
        &self,
        role: Role,
        weights: &Path,
        calibration: Option<crate::vocab::Calibration>,
    ) -> Result<()> {
        let tok = self.tokenizer(role);
        let file = match role {
            Role::Teacher => "teacher.tokenizer.json",
            Role::Student => "student.tokenizer.json",
        };
        // The card names the tokenizer beside the weights: a model saved elsewhere gets a copy.
        if let Some(dir) = weights.parent()
            && dir != self.out.as_path()
        {
            tok.save(&dir.join(file))?;
        }
        TextModelCard {
            task: "text".into(),
            architecture: self.config(role).clone(),
            tokenizer: PathBuf::from(file),
            max_len: tok.max_len(),
            vocab_size: tok.vocab_size(),
            class_names: self.class_names().to_vec(),
            distill_version: env!("CARGO_PKG_VERSION").to_string(),
            calibration,
            stamp: None,
        }
        .save_for(weights)
    }

    /// Latency on the test text of median token length; throughput over the first four
    /// batches of test texts, each padded to its longest.
    fn speed_inputs(&self, role: Role, batch: usize, device: &Device) -> SpeedInputs<TokenBatch> {
        let data = &self.splits(role).test;
        let median = data.median_len();
        let one = (0..data.len())
            .find(|&i| data.seqs[i].len() == median)
            .unwrap_or(0);
        let rows: Vec<usize> = (0..data.len()).collect();
        SpeedInputs {
            one: data.inputs(&[one], None, device),
            batches: rows
                .chunks(batch.max(1))
                .take(4)
                .map(|c| (data.inputs(c, None, device), c.len()))
                .collect(),
            batch,
        }
    }

    fn record_batch(&self) -> usize {
        TEXT_BATCH
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }

    fn resolved_toml(&self) -> Result<String> {
        toml::to_string_pretty(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }

    /// A pre-trained encoder first gets a linear head trained on its frozen sentence
    /// embeddings (computed once; "linear probing"), by the one training loop on
    /// [`FeatureRows`]. With `finetune_layers = 0` that is the teacher, and its logits on the
    /// training texts, computed on the way, are returned (so that recording does not run the
    /// encoder a second time). Otherwise the probed model (`teacher.probe.safetensors`) is the
    /// starting point for fine-tuning the top layers with the head (`[teacher.finetune]`),
    /// "LP-FT" (Kumar et al. 2022): a trained head keeps the first fine-tuning steps from
    /// tearing up the pre-trained features. Other teachers are trained by the pipeline.
    fn train_teacher_own_way(&self, opts: &RunOptions) -> Result<Option<Option<Vec<f32>>>> {
        let TextModelConfig::Pretrained(p) = &self.experiment.teacher.model else {
            return Ok(None);
        };
        let device = &opts.device;
        fsutil::create_dir_all(&opts.out)?;
        let weights = teacher_path(&opts.out);
        let probed = opts.out.join("teacher.probe.safetensors");
        let splits = &self.teacher_tokens;
        let hard = Objective::hard_labels_only();
        if !(p.finetune_layers > 0 && opts.resume && probed.is_file()) {
            let TextModel::Bert(mut bert) = self.build(Role::Teacher, device)? else {
                unreachable!("a pretrained config builds a BERT model")
            };
            let train_rows =
                self.sentence_embeddings(&bert.encoder, &splits.train, "embed train", opts);
            let monitor_rows =
                self.sentence_embeddings(&bert.encoder, splits.monitor(), "embed monitor", opts);
            let (dim, classes) = (train_rows.dim, train_rows.num_classes);
            let linear = MlpConfig {
                hidden: Vec::new(),
                dropout: 0.0,
            };
            let job = TrainJob {
                name: "teacher-head",
                model_key: format!("linear {dim} -> {classes}"),
                recipe: &self.experiment.teacher.train,
                train: &train_rows,
                monitor: &monitor_rows,
                objective: &hard,
                soft_labels: &[],
                seed: self.experiment.seed,
                augment: false,
                checkpoint_dir: &checkpoint_dir(&opts.out, "teacher-head"),
                resume: opts.resume,
                progress: opts.progress,
                stop_after_epochs: None,
            };
            // burn initialises parameters lazily, on first use; the loop reseeds burn's
            // generator at each epoch. One forward pass right after seeding fixes the head's
            // initial weights by the experiment's seed alone (as the probe has always had).
            let init_head = |d: &Device| -> Result<crate::models::Mlp> {
                let head = linear.init(dim, classes, d);
                let _ = crate::classifier::Classifier::logits(&head, Tensor::zeros([1, dim], d));
                Ok(head)
            };
            let head = train(&job, &init_head, None, device)?;
            let train_logits = predict_logits(&head.model, &train_rows, EVAL_BATCH, device);
            bert.head = head.model.output;
            let target = if p.finetune_layers == 0 {
                &weights
            } else {
                &probed
            };
            let probe = Trained {
                model: TextModel::Bert(bert),
                history: head.history,
                monitor_logits: None,
            };
            super::save_trained(
                self,
                Role::Teacher,
                &probe,
                target,
                &super::teacher_key(self)?,
                device,
            )?;
            if p.finetune_layers == 0 {
                return Ok(Some(Some(train_logits)));
            }
        }
        let recipe = self
            .experiment
            .teacher
            .finetune
            .as_ref()
            .expect("validation requires [teacher.finetune]");
        let layers = p.finetune_layers;
        let init = |d: &Device| -> Result<TextModel> {
            Ok(match self.build_bare(Role::Teacher, d)?.load(&probed)? {
                TextModel::Bert(mut b) => {
                    b.encoder = b.encoder.freeze_below_top(layers);
                    TextModel::Bert(b)
                }
                other => other,
            })
        };
        let job = TrainJob {
            name: "teacher",
            model_key: self.model_key(Role::Teacher),
            recipe,
            train: &splits.train,
            monitor: splits.monitor(),
            objective: &hard,
            soft_labels: &[],
            seed: self.experiment.seed,
            augment: false,
            checkpoint_dir: &checkpoint_dir(&opts.out, "teacher"),
            resume: opts.resume,
            progress: opts.progress,
            stop_after_epochs: opts.stop_after_epochs,
        };
        let trained = train(&job, &init, None, device)?;
        super::save_trained(
            self,
            Role::Teacher,
            &trained,
            &weights,
            &super::teacher_key(self)?,
            device,
        )?;
        Ok(Some(None))
    }
}
