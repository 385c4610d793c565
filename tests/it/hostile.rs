//! The reproductions of issue 18 (a hostile user's pass), each now refused with a clear error
//! or handled correctly: sizes past their ceilings, models too big for memory, absurd shard
//! counts, duplicate and edited shards, stale models on `--resume` and in `compare`, corrupt
//! and non-finite weights, a zero normalisation, stray temporary files, empty inputs, and
//! `kill -9` at random points followed by `--resume` (bit-identical, no stray files).

use crate::common;
use distill::artefact::{stamp_of, tensors_sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn distill(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distill"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("memory allocation"),
        "panic or abort: {stderr}"
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `distill SUB CONFIG --out OUT -q EXTRA...`.
fn step(sub: &str, config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        sub,
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    distill(&args, &[])
}

/// `distill run` of `config` into `out`, quiet, with `--resume` when asked.
fn run(config: &Path, out: &Path, resume: bool) -> Output {
    step("run", config, out, if resume { &["--resume"] } else { &[] })
}

/// Fails with every needle in a one-line error, and writes nothing into `dir/out`.
fn refused(replace: &[(&str, &str)], envs: &[(&str, &str)], needles: &[&str]) {
    let (dir, config) = common::setup(replace);
    refused_file(dir.path(), &config, envs, needles);
}

/// `distill run CONFIG --out DIR/out` fails with every needle in a one-line error, and writes
/// nothing into `DIR/out`.
fn refused_file(dir: &Path, config: &Path, envs: &[(&str, &str)], needles: &[&str]) {
    let out_dir = dir.join("out");
    let out = distill(
        &[
            "run",
            config.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "-q",
        ],
        envs,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "accepted {config:?}");
    for n in needles {
        assert!(err.contains(n), "error lacks {n:?}: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    assert!(!out_dir.exists(), "wrote {out_dir:?} before refusing");
}

#[test]
fn sizes_past_their_ceilings_are_refused_naming_the_field() {
    // 2^63 does not even parse (TOML integers are i64): a clear error naming line and value.
    refused(
        &[("latency_runs = 5", "latency_runs = 9223372036854775808")],
        &[],
        &["line 38", "latency_runs = 9223372036854775808", "too large"],
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "latency_runs = 5",
            "latency_runs = 4611686018427387904",
            "evaluation.latency_runs",
        ),
        (
            "warmup_runs = 1",
            "warmup_runs = 4294967296",
            "evaluation.warmup_runs",
        ),
        (
            "throughput_batch = 16",
            "throughput_batch = 4294967296",
            "evaluation.throughput_batch",
        ),
        (
            "hidden = [64]",
            "hidden = [4611686018427387904]",
            "teacher.model.hidden[0]",
        ),
        (
            "hidden = [64]",
            "hidden = [1000000000]",
            "teacher.model.hidden[0]",
        ),
        (
            "blocks = [[4]]",
            "blocks = [[1000000]]",
            "student.model.blocks[0][0]",
        ),
        (
            "num_classes = 3\nclass_names = [\"top\", \"middle\", \"bottom\"]",
            "num_classes = 1000000",
            "data.num_classes",
        ),
    ];
    for (from, to, field) in cases {
        refused(&[(from, to)], &[], &[field, "at most"]);
    }
}

#[test]
fn text_sizes_past_their_ceilings_are_refused() {
    for (from, to, field) in [
        ("max_len = 128", "max_len = 1000000000", "data.max_len"),
        (
            "embed_dim = 16",
            "embed_dim = 1000000000",
            "student.model.embed_dim",
        ),
        ("size = 8000", "size = 4000000000", "teacher.tokenizer.size"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = include_str!("../../examples/text-demo.toml");
        assert!(text.contains(from));
        let config = dir.path().join("text.toml");
        std::fs::write(&config, text.replacen(from, to, 1)).unwrap();
        refused_file(dir.path(), &config, &[], &[field, "at most"]);
    }
}

#[test]
fn a_model_too_big_for_memory_is_refused_before_it_is_built() {
    // Two layers of 65,536 units: 4.3 billion weights, each within its ceiling.
    refused(
        &[("hidden = [64]", "hidden = [65536, 65536]")],
        &[("DISTILL_MEMORY_BYTES", "8589934592")],
        &["teacher.model", "GiB", "more than the 8.0 GiB available"],
    );
}

#[test]
fn duplicate_class_names_are_refused() {
    refused(
        &[(
            "[\"top\", \"middle\", \"bottom\"]",
            "[\"top\", \"top\", \"bottom\"]",
        )],
        &[],
        &["data.class_names[1]", "repeats data.class_names[0]"],
    );
}

/// Every `*.tmp` under `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.to_string_lossy().ends_with(".tmp") {
            found.push(path);
        } else if path.is_dir() {
            found.extend(temporaries(&path));
        }
    }
    found
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// The models' test accuracies and the students' tensor hashes of a finished run.
fn outcome(out: &Path) -> (String, Vec<String>) {
    let r = report(out);
    let accuracies = ["teacher", "student_kd", "student_baseline"]
        .iter()
        .map(|m| r["models"][m]["accuracy"].as_f64().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let hashes = ["teacher", "student_kd-seed1", "student_baseline-seed1"]
        .iter()
        .map(|m| tensors_sha256(&out.join(format!("{m}.safetensors"))).unwrap())
        .collect();
    (accuracies, hashes)
}

#[test]
fn stores_stale_models_and_corrupt_files_are_refused() {
    let (dir, config) = common::setup(&[]);
    let out = dir.path().join("out");
    assert!(run(&config, &out, false).status.success());
    let store = out.join("soft_labels");
    let shard = store.join("shard-00000-of-00001.dsl");

    // An absurd shard count is refused before the teacher is even loaded.
    let absurd = step("record", &config, &out, &["--shard", "0/1000000000000000"]);
    assert!(!absurd.status.success());
    assert!(stderr(&absurd).contains("--shard"), "{}", stderr(&absurd));

    // A copy of shard 0 under another name is refused (it would put the labels out of line).
    let copy = store.join("shard-00000-of-00001-copy.dsl");
    std::fs::copy(&shard, &copy).unwrap();
    let student = |extra: &[&str]| step("student", &config, &out, extra);
    let dup = student(&[]);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("which"), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("holds too"), "{}", stderr(&dup));
    std::fs::remove_file(&copy).unwrap();

    // An edited header (same length, num_shards 1 -> 2) fails the checksum.
    let original = std::fs::read(&shard).unwrap();
    let needle = b"\"num_shards\":1";
    let at = original
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + needle.len()
        - 1;
    let mut edited = original.clone();
    edited[at] = b'2';
    std::fs::write(&shard, &edited).unwrap();
    let e = student(&[]);
    assert!(stderr(&e).contains("checksum mismatch"), "{}", stderr(&e));
    std::fs::write(&shard, &original).unwrap();

    // Resume after changing T: the KD student is retrained, the baseline reused, and the
    // report shows the new objective with the new student.
    let before = outcome(&out);
    let kd = out.join("student_kd-seed1.safetensors");
    let baseline_key = stamp_of(&out.join("student_baseline-seed1.safetensors"))
        .unwrap()
        .unwrap();
    let kd_key = stamp_of(&kd).unwrap().unwrap();
    std::fs::write(
        &config,
        common::experiment_text(&[("temperature = 4.0", "temperature = 1.0")]),
    )
    .unwrap();
    // compare refuses to report the T = 4 student under T = 1.
    let stale = step("compare", &config, &out, &[]);
    assert!(!stale.status.success());
    assert!(
        stderr(&stale).contains("student_kd-seed1.safetensors")
            && stderr(&stale).contains("objective changed"),
        "{}",
        stderr(&stale)
    );
    // Another student budget: compare names the recipe.
    std::fs::write(
        &config,
        common::experiment_text(&[
            ("temperature = 4.0", "temperature = 1.0"),
            ("epochs = 2", "epochs = 3"),
        ]),
    )
    .unwrap();
    let e = step("compare", &config, &out, &[]);
    assert!(stderr(&e).contains("recipe"), "{}", stderr(&e));
    std::fs::write(
        &config,
        common::experiment_text(&[("temperature = 4.0", "temperature = 1.0")]),
    )
    .unwrap();
    // A run that fails validation leaves the resolved experiment of the last good run alone.
    let resolved = std::fs::read(out.join("experiment.resolved.toml")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        common::experiment_text(&[
            ("seed = 7", "seed = 7\nextra_teachers = [\"missing\"]"),
            ("alpha = 0.1", "alpha = 0.1\nteacher_weights = [0.5, 0.5]"),
        ]),
    )
    .unwrap();
    let e = run(&bad, &out, true);
    assert!(!e.status.success());
    assert!(stderr(&e).contains("missing"), "{}", stderr(&e));
    assert_eq!(
        std::fs::read(out.join("experiment.resolved.toml")).unwrap(),
        resolved
    );
    let resumed = run(&config, &out, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let kd_after = stamp_of(&kd).unwrap().unwrap();
    assert_ne!(kd_after.run_key, kd_key.run_key);
    assert_eq!(
        stamp_of(&out.join("student_baseline-seed1.safetensors"))
            .unwrap()
            .unwrap(),
        baseline_key
    );
    let after = outcome(&out);
    assert_eq!(after.1[0], before.1[0], "the teacher is reused");
    assert_eq!(after.1[2], before.1[2], "the baseline is reused");
    assert!(report(&out)["objective"].to_string().contains("T = 1"));

    // Weights: a flipped bit is refused by its checksum, a NaN by the finite check.
    let predict_input = dir.path().join("test-images");
    let predict = |model: &Path| {
        distill(
            &[
                "predict",
                "--model",
                model.to_str().unwrap(),
                predict_input.to_str().unwrap(),
            ],
            &[],
        )
    };
    assert!(predict(&kd).status.success());
    let weights = std::fs::read(&kd).unwrap();
    let mut flipped = weights.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    std::fs::write(&kd, &flipped).unwrap();
    let e = predict(&kd);
    assert!(
        stderr(&e).contains("do not match the checksum"),
        "{}",
        stderr(&e)
    );
    let mut nan = weights.clone();
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&kd, &nan).unwrap();
    let e = predict(&kd);
    assert!(stderr(&e).contains("non-finite"), "{}", stderr(&e));
    std::fs::write(&kd, &weights).unwrap();

    // A card with std = 0 is refused instead of predicting NaN.
    let card_path = out.join("student_kd-seed1.model.json");
    let card = std::fs::read_to_string(&card_path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&card).unwrap();
    value["normalize"]["std"] = serde_json::json!(0.0);
    std::fs::write(&card_path, value.to_string()).unwrap();
    let e = predict(&kd);
    assert!(stderr(&e).contains("normalize.std"), "{}", stderr(&e));
    // An impossible dropout in the card is an error, not a panic in burn.
    let mut value: serde_json::Value = serde_json::from_str(&card).unwrap();
    value["architecture"]["dropout"] = serde_json::json!(5.0);
    std::fs::write(&card_path, value.to_string()).unwrap();
    let e = predict(&kd);
    assert!(
        stderr(&e).contains("architecture.dropout"),
        "{}",
        stderr(&e)
    );
    // A plausible edit (another mean) is caught by the card's own checksum.
    let mut value: serde_json::Value = serde_json::from_str(&card).unwrap();
    value["normalize"]["mean"] = serde_json::json!(0.5);
    std::fs::write(&card_path, value.to_string()).unwrap();
    let e = predict(&kd);
    assert!(!e.status.success());
    assert!(stderr(&e).contains("the card changed"), "{}", stderr(&e));
    std::fs::write(&card_path, card).unwrap();

    // An input file with nothing in it is an error, not an empty answer.
    let empty = dir.path().join("empty.idx");
    std::fs::write(
        &empty,
        distill::data::idx::encode_idx(&distill::data::idx::IdxArray {
            dims: vec![0, common::SIDE, common::SIDE],
            data: vec![],
        }),
    )
    .unwrap();
    let e = distill(
        &[
            "predict",
            "--model",
            kd.to_str().unwrap(),
            empty.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!e.status.success());
    assert!(stderr(&e).contains("nothing to predict"), "{}", stderr(&e));

    // The same teacher trained again with the same seed has the same tensor hash, so its
    // store is its own (the file bytes may differ: burn writes metadata in any order).
    let again = dir.path().join("again");
    assert!(step("train", &config, &again, &[]).status.success());
    assert_eq!(
        tensors_sha256(&again.join("teacher.safetensors")).unwrap(),
        tensors_sha256(&out.join("teacher.safetensors")).unwrap()
    );
}

#[test]
fn kill_nine_at_random_points_then_resume_gives_the_same_result_and_no_stray_file() {
    let (dir, config) = common::setup(&[("epochs = 2", "epochs = 4")]);
    let reference = dir.path().join("reference");
    let started = std::time::Instant::now();
    assert!(run(&config, &reference, false).status.success());
    let full = started.elapsed();
    let expected = outcome(&reference);
    // Kill points spread over the run (teacher, record, students, report), seeded.
    let mut state = 0x9e37_79b9_u64;
    for k in 0..4 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let fraction = 0.1 + 0.8 * ((state >> 33) as f64 / (1u64 << 31) as f64);
        let out = dir.path().join(format!("killed-{k}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_distill"))
            .args([
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "-q",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(fraction));
        // SIGKILL: no destructor, no cleanup.
        let _ = child.kill();
        let _ = child.wait();
        // A stray temporary file as a kill in the middle of a write would leave it.
        if out.is_dir() {
            std::fs::write(out.join("report.md.4294967295.tmp"), b"half").unwrap();
        }
        let resumed = run(&config, &out, true);
        assert!(resumed.status.success(), "{}", stderr(&resumed));
        assert_eq!(
            outcome(&out),
            expected,
            "kill {k} at {:.0}% of the run",
            100.0 * fraction
        );
        assert_eq!(temporaries(&out), Vec::<PathBuf>::new(), "kill {k}");
    }
}

#[test]
fn concurrent_shard_writers_give_the_store_one_writer_gives() {
    let (dir, config) = common::setup(&[]);
    let out = dir.path().join("out");
    let train = step("train", &config, &out, &[]);
    assert!(train.status.success(), "{}", stderr(&train));
    let record = |store: &Path, shard: &str| {
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .args([
                "record",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
                "--shard",
                shard,
                "-q",
            ])
            .spawn()
            .unwrap()
    };
    let one = dir.path().join("one");
    assert!(record(&one, "0/1").wait().unwrap().success());
    let many = dir.path().join("many");
    let children: Vec<_> = (0..4).map(|i| record(&many, &format!("{i}/4"))).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let task =
        distill::task::image::ImageTask::new(distill::config::Experiment::load(&config).unwrap())
            .unwrap();
    let teacher = out.join("teacher.safetensors");
    let a = distill::pipeline::open_soft_labels(&task, &teacher, &one).unwrap();
    let b = distill::pipeline::open_soft_labels(&task, &teacher, &many).unwrap();
    assert_eq!(b.shards, 4);
    assert_eq!(a.logits, b.logits);
    assert_eq!(temporaries(&many), Vec::<PathBuf>::new());
}

#[test]
fn sweeps_past_their_ceilings_are_refused_before_anything_is_written() {
    let (dir, _config) = common::setup(&[]);
    for (body, field) in [
        (
            "seeds = 4000000000\ntemperature = [4]\nalpha = [0.5]",
            "seeds",
        ),
        (
            "seeds = 1\nstudent_epochs = 4000000000\ntemperature = [4]\nalpha = [0.5]",
            "student_epochs",
        ),
        (
            "seeds = 1\ntemperature = [1, 2]\nalpha = [0.5]\nteacher = \"nowhere\"",
            "nowhere",
        ),
    ] {
        let sweep = dir.path().join("sweep.toml");
        std::fs::write(
            &sweep,
            format!("experiment = \"experiment.toml\"\n{body}\n"),
        )
        .unwrap();
        let out = dir.path().join("sweep-out");
        let started = std::time::Instant::now();
        let e = distill(
            &[
                "sweep",
                sweep.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "-q",
            ],
            &[],
        );
        assert!(!e.status.success());
        assert!(stderr(&e).contains(field), "{}", stderr(&e));
        assert!(started.elapsed().as_secs() < 10);
        assert!(
            !out.join("runs").exists() && !out.join("sweep.resolved.toml").exists(),
            "{body}"
        );
    }
}

#[test]
fn bad_command_lines_and_text_labels_are_one_line_errors() {
    let e = distill(&["run", "--bogus", "x"], &[]);
    assert_eq!(e.status.code(), Some(1));
    assert_eq!(stderr(&e).trim().lines().count(), 1, "{}", stderr(&e));
    assert!(stderr(&e).contains("--bogus"));
    // Text data: an empty label, and an identifier column taken for labels (200,000 distinct
    // values, refused at once instead of after a quadratic count).
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("../../examples/text-demo.toml").replace(
        "builtin = \"spam\"",
        "train = \"train.csv\"\ntest = \"test.csv\"",
    );
    let config = dir.path().join("text.toml");
    std::fs::write(&config, text).unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        "text,label\nhi,ham\nwin,spam\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("train.csv"),
        "text,label\nfree money,spam\nhello,\nsee you,ham\n",
    )
    .unwrap();
    refused_file(
        dir.path(),
        &config,
        &[],
        &["train.csv", "line 3", "`label` is empty"],
    );
    let ids: String = (0..200_000).map(|i| format!("w{i},c{i}\n")).collect();
    std::fs::write(dir.path().join("train.csv"), format!("text,label\n{ids}")).unwrap();
    let started = std::time::Instant::now();
    refused_file(dir.path(), &config, &[], &["200000 distinct labels"]);
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn two_runs_never_write_one_output_folder_at_once() {
    let (dir, config) = common::setup(&[]);
    let out = dir.path().join("out");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .args([
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "-q",
            ])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        std::thread::sleep(std::time::Duration::from_millis(150));
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let outcomes = [&a, &b].map(|o| (o.status.success(), stderr(o)));
    assert_eq!(
        outcomes.iter().filter(|(ok, _)| *ok).count(),
        1,
        "{outcomes:?}"
    );
    let (_, err) = outcomes.iter().find(|(ok, _)| !ok).unwrap();
    assert!(err.contains("another distill process"), "{err}");
}

#[test]
fn a_top_k_of_every_class_is_refused_before_the_teacher_trains() {
    refused(
        &[("[evaluation]", "[soft_labels]\ntop_k = 3\n\n[evaluation]")],
        &[],
        &["soft_labels.top_k", "3 classes"],
    );
}

/// A store recorded again (here as top-k) under `--resume` must not let the KD student resume
/// from checkpoints trained on the old store: the result is that of a fresh run on the new one.
#[test]
fn a_store_recorded_again_drops_the_kd_students_checkpoints_on_resume() {
    let (dir, config) = common::setup(&[]);
    let out = dir.path().join("out");
    assert!(run(&config, &out, false).status.success());
    let top_k =
        common::experiment_text(&[("[evaluation]", "[soft_labels]\ntop_k = 1\n\n[evaluation]")]);
    std::fs::write(&config, top_k).unwrap();
    let resumed = run(&config, &out, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let fresh = dir.path().join("fresh");
    assert!(run(&config, &fresh, false).status.success());
    let kd = |o: &Path| tensors_sha256(&o.join("student_kd-seed1.safetensors")).unwrap();
    assert_eq!(kd(&out), kd(&fresh));
    let base = |o: &Path| tensors_sha256(&o.join("student_baseline-seed1.safetensors")).unwrap();
    assert_eq!(base(&out), base(&fresh));
}
