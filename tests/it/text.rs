//! Text distillation end to end on tiny generated data: loader → tokenizers → a small
//! transformer teacher trained here → recorded soft labels → students with and without KD →
//! report; plus the KD step on text and the experiment file's errors.

use distill::eval::predict_logits;
use distill::objective::{Objective, ObjectiveConfig};
use distill::pipeline::{
    RunOptions, StudentKind, load_model, open_soft_labels, run_all, soft_labels_dir, student_path,
    teacher_path,
};
use distill::task::text::{TextTask, load_text_data, tokenize};
use distill::text::TextTokenizer;
use distill::text::config::TextExperiment;
use distill::text::models::{BoeConfig, TextModelConfig};
use distill::train::{TrainJob, train};
use distill::vocab::Role;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const TOPICS: [(&str, [&str; 6]); 3] = [
    (
        "sports",
        ["goal", "match", "team", "score", "league", "coach"],
    ),
    (
        "tech",
        ["chip", "code", "server", "compiler", "kernel", "laptop"],
    ),
    (
        "food",
        ["bread", "soup", "recipe", "oven", "spice", "dinner"],
    ),
];
const FILLER: [&str; 8] = ["the", "a", "today", "really", "new", "about", "with", "and"];

/// `n` JSONL lines: each text mixes 2–4 topic words with filler; 15% of the texts also carry
/// one word of another topic (so the problem is not trivially separable).
fn jsonl(n: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |m: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % m
    };
    let mut out = String::new();
    for _ in 0..n {
        let c = next(3);
        let mut words = Vec::new();
        for _ in 0..2 + next(3) {
            words.push(TOPICS[c].1[next(6)]);
            words.push(FILLER[next(8)]);
        }
        if next(100) < 15 {
            words.push(TOPICS[(c + 1 + next(2)) % 3].1[next(6)]);
        }
        let _ = writeln!(
            out,
            "{{\"text\": \"{}\", \"label\": \"{}\"}}",
            words.join(" "),
            TOPICS[c].0
        );
    }
    out
}

const EXPERIMENT: &str = r#"
task = "text"
seed = 3
student_seeds = [1]

[data]
train = "train.jsonl"
test = "test.jsonl"
max_len = 16

[teacher.model]
type = "transformer"
layers = 1
hidden = 16
heads = 2
intermediate = 32

[teacher.tokenizer]
type = "vocabulary"
size = 64

[teacher.train]
epochs = 4
batch_size = 16
optimizer = { type = "adam", lr = 0.005 }

[student.model]
type = "boe"
embed_dim = 8

[student.tokenizer]
type = "vocabulary"
size = 64

[student.train]
epochs = 4
batch_size = 16
optimizer = { type = "adam", lr = 0.02 }

[objective]
alpha = 0.5
temperature = 2.0
terms = [{ type = "kd", weight = 1.0 }]

[evaluation]
latency_runs = 5
warmup_runs = 1
throughput_batch = 32
"#;

/// The text task of the experiment in `config`, with its tokenizers in `out`.
fn task(config: &Path, out: &Path) -> TextTask {
    TextTask::new(TextExperiment::load(config).unwrap(), out, true).unwrap()
}

fn setup(edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.jsonl"), jsonl(240, 1)).unwrap();
    std::fs::write(dir.path().join("test.jsonl"), jsonl(90, 2)).unwrap();
    let mut text = EXPERIMENT.to_string();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "edit target {from:?} not in the experiment"
        );
        text = text.replace(from, to);
    }
    let path = dir.path().join("text.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn text_pipeline_runs_end_to_end_and_resumes_without_retraining() {
    let (dir, config) = setup(&[]);
    let out = dir.path().join("out");
    let task = task(&config, &out);
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();

    let teacher = &report.models["teacher"];
    assert!(
        teacher.quality.accuracy > 0.8,
        "teacher accuracy {}",
        teacher.quality.accuracy
    );
    let h = &teacher.history;
    assert!(h.last().unwrap().train_loss < h[0].train_loss, "{h:?}");
    assert_eq!(report.class_names, ["food", "sports", "tech"]);
    for kind in ["student_kd", "student_baseline"] {
        let m = &report.models[kind];
        assert!(m.quality.accuracy > 0.6, "{kind}: {}", m.quality.accuracy);
        assert!(m.params < teacher.params, "{kind} has {} params", m.params);
        assert!(m.speed.latency_ms_b1_p50 > 0.0 && m.speed.throughput_per_s > 0.0);
    }
    // The JSON and human reports are there; the JSON carries the text experiment.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["config"]["task"], "text");
    assert!(json["models"]["student_kd"]["per_class"].is_array());
    for file in ["report.md", "report.html", "training_curves.svg"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    // The store is tied to these texts and this teacher.
    let store = open_soft_labels(&task, &teacher_path(&out), soft_labels_dir(&out)).unwrap();
    assert_eq!(
        store.num_samples, 216,
        "240 texts less the 10% validation split"
    );
    assert_eq!(store.num_classes, 3);

    // Resume reuses every finished step: the weights files are not rewritten.
    let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = [
        stamp(&teacher_path(&out)),
        stamp(&student_path(&out, StudentKind::Kd, 1)),
    ];
    let mut opts = RunOptions::new(&out);
    opts.resume = true;
    let again = run_all(&task, &opts).unwrap();
    let after = [
        stamp(&teacher_path(&out)),
        stamp(&student_path(&out, StudentKind::Kd, 1)),
    ];
    assert_eq!(before, after, "resume retrained a finished model");
    assert_eq!(
        again.models["student_kd"].quality.accuracy,
        report.models["student_kd"].quality.accuracy
    );
}

/// The KD step on text: with the teacher's recorded logits, the student's KD loss falls, and
/// a student trained only on the soft-label term (α = 0) learns the teacher's decisions.
#[test]
fn kd_on_text_follows_the_recorded_teacher() {
    let (dir, config) = setup(&[(
        "epochs = 4\nbatch_size = 16\noptimizer = { type = \"adam\", lr = 0.02 }",
        "epochs = 6\nbatch_size = 16\noptimizer = { type = \"adam\", lr = 0.02 }",
    )]);
    let out = dir.path().join("out");
    let task = task(&config, &out);
    let exp = &task.experiment;
    run_all(&task, &RunOptions::new(&out)).unwrap();
    let store = open_soft_labels(&task, &teacher_path(&out), soft_labels_dir(&out)).unwrap();
    let stores = [&store];
    let tok = TextTokenizer::from_file(&out.join("student.tokenizer.json"), 16).unwrap();
    let train_set = &task.student_tokens.train;
    let test = &task.student_tokens.test;
    let objective = Objective::new(ObjectiveConfig {
        alpha: 0.0,
        ..exp.objective.clone()
    });
    let cfg = TextModelConfig::Boe(BoeConfig {
        embed_dim: 8,
        hidden: vec![],
        dropout: 0.0,
    });
    let init = |d: &burn::tensor::Device| cfg.init(tok.vocab_size(), 16, 3, d);
    let ck = dir.path().join("ck");
    let job = TrainJob {
        name: "soft-only",
        model_key: "boe".into(),
        recipe: &exp.student.train,
        train: train_set,
        monitor: test,
        objective: &objective,
        soft_labels: &stores,
        seed: 5,
        augment: false,
        checkpoint_dir: &ck,
        resume: false,
        progress: false,
        stop_after_epochs: None,
    };
    let device = distill::default_device();
    let trained = train(&job, &init, None, &device).unwrap();
    let h = &trained.history;
    assert!(
        h.last().unwrap().train_loss < 0.5 * h[0].train_loss,
        "soft-label loss did not fall: {h:?}"
    );
    assert!(
        h.last().unwrap().monitor_accuracy > 0.7,
        "student taught only by soft labels: {h:?}"
    );
    // Every objective that runs from the store trains a text student (the same enum as images).
    for term in [
        "{ type = \"kd\", logit_std = true }",
        "{ type = \"dkd\" }",
        "{ type = \"dist\" }",
        "{ type = \"rkd_distance\" }",
        "{ type = \"rkd_angle\" }",
        "{ type = \"pkt\" }",
        "{ type = \"sp\" }",
        "{ type = \"adversarial\", hidden = 8 }",
    ] {
        let config: ObjectiveConfig =
            toml::from_str(&format!("alpha = 0.5\ntemperature = 2.0\nterms = [{term}]")).unwrap();
        let objective = Objective::new(config);
        let one_epoch = distill::config::TrainConfig {
            epochs: 3,
            schedule: distill::config::ScheduleConfig::Constant,
            ..exp.student.train.clone()
        };
        let ck_term = dir.path().join("ck-term").join(term.len().to_string());
        let job = TrainJob {
            name: "term",
            model_key: term.into(),
            recipe: &one_epoch,
            objective: &objective,
            checkpoint_dir: &ck_term,
            ..job
        };
        let trained = train(&job, &init, None, &device).unwrap();
        let h = &trained.history;
        assert!(
            h.iter().all(|r| r.train_loss.is_finite()) && h[2].train_loss < h[0].train_loss,
            "{term}: {h:?}"
        );
    }
    // Without a store, a KD objective is refused by name.
    let no_store = TrainJob {
        soft_labels: &[],
        ..job
    };
    let err = train(&no_store, &init, None, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("soft labels"), "{err}");
}

#[test]
fn text_experiment_errors_name_the_field_and_value() {
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "[student.model]",
            "[teacher.finetune]\nepochs = 1\noptimizer = { type = \"adam\", lr = 0.001 }\n\n[student.model]",
            &["teacher.finetune", "finetune_layers > 0"],
        ),
        ("max_len = 16", "max_len = 2", &["data.max_len", "2"]),
        (
            "heads = 2",
            "heads = 3",
            &["teacher.model.hidden", "16", "heads = 3"],
        ),
        (
            "type = \"boe\"\nembed_dim = 8",
            "type = \"pretrained\"\ndir = \"nowhere\"",
            &["student.model.type"],
        ),
        (
            "terms = [{ type = \"kd\", weight = 1.0 }]",
            "terms = [{ type = \"kd\", weight = 1.0 }]\nonline = true",
            &["objective", "not available for text"],
        ),
        (
            "test = \"test.jsonl\"",
            "test = \"missing.jsonl\"",
            &["data.test", "missing.jsonl"],
        ),
    ];
    for (from, to, expect) in cases {
        let (_dir, config) = setup(&[(from, to)]);
        let err = TextExperiment::load(&config).unwrap_err().to_string();
        for e in expect {
            assert!(err.contains(e), "{to:?}: {err:?} lacks {e:?}");
        }
        assert!(err.contains("text.toml"), "{err}");
    }
    // An unknown key is refused by name.
    let (_dir, config) = setup(&[("max_len = 16", "max_len = 16\nmax_length = 3")]);
    let err = TextExperiment::load(&config).unwrap_err().to_string();
    assert!(err.contains("max_length"), "{err}");
    // DKD needs 3+ classes: accepted for the 3-class data, refused once 2-class data is read.
    let (dir, config) = setup(&[(
        "terms = [{ type = \"kd\", weight = 1.0 }]",
        "terms = [{ type = \"dkd\" }]",
    )]);
    let exp = TextExperiment::load(&config).unwrap();
    assert_eq!(load_text_data(&exp).unwrap().train.class_names.len(), 3);
    let two: String = jsonl(60, 4)
        .lines()
        .filter(|l| !l.contains("\"food\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("train.jsonl"), &two).unwrap();
    std::fs::write(dir.path().join("test.jsonl"), &two).unwrap();
    let err = load_text_data(&exp).unwrap_err().to_string();
    assert!(
        err.contains("objective.terms[0]") && err.contains("3 classes"),
        "{err}"
    );
    // A test label the training file does not have is refused with the file and line.
    let (dir, config) = setup(&[]);
    std::fs::write(
        dir.path().join("test.jsonl"),
        "{\"text\": \"goal team\", \"label\": \"sports\"}\n{\"text\": \"opera\", \"label\": \"music\"}\n",
    )
    .unwrap();
    let exp = TextExperiment::load(&config).unwrap();
    let err = load_text_data(&exp).unwrap_err().to_string();
    assert!(
        err.contains("test.jsonl") && err.contains("line 2") && err.contains("music"),
        "{err}"
    );
}

/// A copy of the tiny BERT fixture as a pre-trained model folder, with a word-level
/// `tokenizer.json` of the generated texts (ids < 64, the fixture's vocabulary).
fn tiny_pretrained(dir: &Path) -> PathBuf {
    let model = dir.join("tiny-bert");
    std::fs::create_dir_all(&model).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text/tiny_bert");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(f), model.join(f)).unwrap();
    }
    let texts: Vec<String> = jsonl(240, 1)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    TextTokenizer::train_word_level(&texts, 40, 16)
        .unwrap()
        .save(&model.join("tokenizer.json"))
        .unwrap();
    model
}

/// A pre-trained encoder as the teacher: the frozen path trains only the head (the encoder's
/// weights in the saved teacher are the file's), fine-tuning the top layer changes that layer
/// and leaves the layer below as loaded; both distil into a student and predict from the CLI
/// library with their cards.
#[test]
fn pretrained_teacher_frozen_and_fine_tuned() {
    use distill::predict::TextPredictor;
    for finetune in [0usize, 1] {
        let (dir, _) = setup(&[]);
        let model_dir = tiny_pretrained(dir.path());
        let (_, config) = {
            let teacher = format!(
                "[teacher.model]\ntype = \"pretrained\"\ndir = \"{}\"\nfinetune_layers = {finetune}\n",
                model_dir.display()
            );
            let text = EXPERIMENT
                .replace(
                    "[teacher.model]\ntype = \"transformer\"\nlayers = 1\nhidden = 16\nheads = 2\nintermediate = 32\n",
                    &teacher,
                )
                .replace("[teacher.tokenizer]\ntype = \"vocabulary\"\nsize = 64\n", "")
                .replace(
                    "[student.model]",
                    if finetune > 0 {
                        "[teacher.finetune]\nepochs = 2\nbatch_size = 16\noptimizer = { type = \"adam\", lr = 0.001 }\n\n[student.model]"
                    } else {
                        "[student.model]"
                    },
                );
            assert!(text.contains("pretrained"));
            let path = dir.path().join("text.toml");
            std::fs::write(&path, text).unwrap();
            ((), path)
        };
        let out = dir.path().join("out");
        let task = task(&config, &out);
        let exp = &task.experiment;
        let report = run_all(&task, &RunOptions::new(&out)).unwrap();
        let teacher = &report.models["teacher"];
        assert!(
            teacher.quality.accuracy > 0.5,
            "finetune {finetune}: teacher accuracy {}",
            teacher.quality.accuracy
        );
        // Which encoder tensors moved during training.
        let params = |m: &distill::text::models::TextModel| -> Vec<(String, Vec<u8>)> {
            use burn::store::ModuleSnapshot;
            m.collect(None, None, false)
                .into_iter()
                .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
                .collect()
        };
        let device = distill::default_device();
        let tok = TextTokenizer::from_file(&out.join("teacher.tokenizer.json"), 16).unwrap();
        let trained =
            params(&load_model(&task, Role::Teacher, &teacher_path(&out), &device).unwrap());
        let fresh_model = exp
            .teacher
            .model
            .init(tok.vocab_size(), 16, 3, &device)
            .unwrap()
            .load_pretrained_encoder(&model_dir.join("model.safetensors"))
            .unwrap();
        let fresh = params(&fresh_model);
        let changed: Vec<&String> = trained
            .iter()
            .zip(&fresh)
            .filter(|((n, a), (m, b))| {
                assert_eq!(n, m);
                a != b && !n.contains("head")
            })
            .map(|((n, _), _)| n)
            .collect();
        if finetune == 0 {
            assert!(changed.is_empty(), "frozen encoder changed: {changed:?}");
        } else {
            assert!(!changed.is_empty(), "fine-tuning changed nothing");
            assert!(
                changed.iter().all(|n| n.contains("layers.1")),
                "only the top layer may change: {changed:?}"
            );
        }
        // The saved student predicts on its own (card + tokenizer) as in the report.
        let student = TextPredictor::load(&student_path(&out, StudentKind::Kd, 1)).unwrap();
        let splits = load_text_data(exp).unwrap();
        let preds = student.predict_texts(&splits.test.texts, 1).unwrap();
        let right = preds
            .iter()
            .zip(&splits.test.labels)
            .filter(|(p, y)| p.top[0].class == **y)
            .count();
        let acc = right as f64 / splits.test.len() as f64;
        assert!(
            (acc - report.models["student_kd"].quality.accuracy).abs() < 1e-9,
            "predictor {acc} vs report {}",
            report.models["student_kd"].quality.accuracy
        );
    }
}

/// all-MiniLM-L6-v2's own `tokenizer.json`, read through [`TextTokenizer`], gives the token
/// ids the reference script recorded (`tests/fixtures/text/minilm_reference.json`, from the
/// Python `tokenizers` package).
#[test]
#[ignore = "needs the all-MiniLM-L6-v2 files: set DISTILL_MINILM_DIR"]
fn minilm_tokenizer_gives_the_reference_ids() {
    let dir = PathBuf::from(
        std::env::var("DISTILL_MINILM_DIR").expect("set DISTILL_MINILM_DIR to the model folder"),
    );
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text/minilm_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tok = TextTokenizer::from_file(&dir.join("tokenizer.json"), 128).unwrap();
    assert_eq!(tok.pad_id(), 0);
    for s in fixture["sentences"].as_array().unwrap() {
        let expected: Vec<u32> = s["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let text = s["text"].as_str().unwrap();
        assert_eq!(tok.encode(text).unwrap(), expected, "{text}");
    }
    // Truncation keeps [CLS] ... [SEP] within max_len.
    let long = "word ".repeat(500);
    let ids = tok.encode(&long).unwrap();
    assert_eq!(ids.len(), 128);
    assert_eq!((ids[0], ids[127]), (101, 102));
}

/// Interrupted after 2 of 4 epochs and resumed from the checkpoint, a text student ends with
/// the same weights as an uninterrupted run (same batch order, optimiser state restored).
#[test]
fn interrupted_text_training_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    std::fs::write(&path, jsonl(120, 9)).unwrap();
    let fields = distill::text::TextFields {
        text: "text",
        label: "label",
    };
    let data = distill::text::read_labelled_text(&path, None, &fields, None).unwrap();
    let tok = TextTokenizer::train_word_level(&data.texts, 64, 16).unwrap();
    let set = tokenize(&tok, &data).unwrap();
    let cfg = TextModelConfig::Lstm(distill::text::models::TextLstmConfig {
        embed_dim: 8,
        hidden: 6,
        bidirectional: true,
        dropout: 0.1,
    });
    let init = |d: &burn::tensor::Device| cfg.init(tok.vocab_size(), 16, 3, d);
    let recipe: distill::config::TrainConfig =
        toml::from_str("epochs = 4\nbatch_size = 16\noptimizer = { type = \"adam\", lr = 0.01 }")
            .unwrap();
    let objective = Objective::hard_labels_only();
    let device = distill::default_device();
    let run = |ck: &Path, stop: Option<usize>, resume: bool| {
        let job = TrainJob {
            name: "lstm",
            model_key: "lstm".into(),
            recipe: &recipe,
            train: &set,
            monitor: &set,
            objective: &objective,
            soft_labels: &[],
            seed: 11,
            augment: false,
            checkpoint_dir: ck,
            resume,
            progress: false,
            stop_after_epochs: stop,
        };
        train(&job, &init, None, &device).unwrap()
    };
    let whole = run(&dir.path().join("a"), None, false);
    let half = run(&dir.path().join("b"), Some(2), false);
    assert_eq!(half.history.len(), 2);
    let resumed = run(&dir.path().join("b"), None, true);
    assert_eq!(resumed.history.len(), 4);
    let logits = |m: &distill::text::models::TextModel| predict_logits(m, &set, 32, &device);
    assert_eq!(logits(&whole.model), logits(&resumed.model));
    assert!(whole.history[3].train_loss < whole.history[0].train_loss);
}
