//! Colour images (issue 17): image folders in torchvision's `ImageFolder` layout and CIFAR's
//! binary files, generated here, through the whole pipeline: per-channel normalisation, the
//! decode cache, corrupt images (fail or skip), class names from the data, and prediction on a
//! colour PNG.

use distill::config::Experiment;
use distill::data::photos::{FolderSpec, class_folders, read_folder};
use distill::pipeline::{RunOptions, StudentKind, run_all, student_path};
use distill::predict::Predictor;
use distill::task::Task;
use distill::task::image::ImageTask;
use std::path::Path;
use std::process::Command;

/// Three classes, each a colour: class 0 red, 1 green, 2 blue, on a noisy background; `w × h`.
fn colour_image(class: usize, w: u32, h: u32, seed: u64) -> image::RgbImage {
    let mut next = crate::common::lcg(seed);
    image::RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for (c, v) in px.iter_mut().enumerate() {
            let base = if c == class { 170 } else { 60 };
            *v = (base + (next() % 100) as i32 - 50).clamp(0, 255) as u8;
        }
        image::Rgb(px)
    })
}

const CLASSES: [&str; 3] = ["blue-ish", "green-ish", "red-ish"];

/// Writes `root/<class>/<i>.png|jpg` for `per_class` images per class, 12 × 10 pixels.
/// Class folder `k` (in name order) holds colour `2 - k`, so labels follow folder names.
fn write_folder(root: &Path, per_class: usize, seed: u64) {
    for (k, name) in CLASSES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = colour_image(2 - k, 12, 10, seed * 1000 + (k * per_class + i) as u64);
            // Mostly PNG, every fifth a JPEG.
            let ext = if i % 5 == 4 { "jpg" } else { "png" };
            img.save(dir.join(format!("{i:03}.{ext}"))).unwrap();
        }
    }
    // Not images of the set: ignored as ImageFolder ignores them.
    std::fs::write(root.join("README.txt"), "not a class").unwrap();
    std::fs::write(root.join(CLASSES[0]).join("notes.txt"), "not an image").unwrap();
}

fn folder_experiment(extra_data: &str) -> String {
    format!(
        r#"seed = 3
student_seeds = [1]

[data]
format = "folder"
train_dir = "train"
test_dir = "test"
image_size = [8, 8]
cache_dir = "cache"
{extra_data}

[teacher.model]
type = "mlp"
hidden = [32]

[teacher.train]
epochs = 3
batch_size = 16
optimizer = {{ type = "adam", lr = 0.01 }}
augment = {{ random_resized_crop = {{ scale = [0.5, 1.0] }}, hflip = true }}

[student.model]
type = "resnet"
stem = "cifar"
stem_width = 4
widths = [4, 8]
blocks = [1, 1]

[student.train]
epochs = 2
batch_size = 16
optimizer = {{ type = "adam", lr = 0.01 }}

[objective]
alpha = 0.5
temperature = 2.0

[evaluation]
latency_runs = 3
warmup_runs = 1
throughput_batch = 8
"#
    )
}

fn setup_folders(extra_data: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_folder(&dir.path().join("train"), 40, 1);
    write_folder(&dir.path().join("test"), 10, 2);
    let config = dir.path().join("experiment.toml");
    std::fs::write(&config, folder_experiment(extra_data)).unwrap();
    (dir, config)
}

#[test]
fn colour_folders_train_record_and_predict_end_to_end() {
    let (dir, config) = setup_folders("");
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let s = &task.splits;
    assert_eq!(s.train.input_shape(), [3, 8, 8]);
    assert_eq!(s.train.len() + s.validation.as_ref().unwrap().len(), 120);
    assert_eq!(s.test.len(), 30);
    assert_eq!(task.experiment.data.num_classes, 3);
    assert_eq!(
        task.experiment.data.class_names.as_deref(),
        Some(&CLASSES.map(String::from)[..])
    );
    // Per-channel statistics: class folders are balanced, so every channel has the same mean
    // in expectation; each is near (170 + 2·60) / 3 / 255 ≈ 0.379.
    let n = s.normalize();
    assert_eq!(n.mean.as_slice().len(), 3);
    for c in 0..3 {
        assert!((n.mean.get(c) - 0.379).abs() < 0.03, "{:?}", n.mean);
    }
    assert!(
        task.preprocessing().contains("shape=3x8x8"),
        "{}",
        task.preprocessing()
    );

    let out = dir.path().join("out");
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();
    let teacher = report.models["teacher"].quality.accuracy;
    assert!(
        teacher > 0.9,
        "colour is easy to tell apart: teacher {teacher}"
    );

    // The card says colour and how photos are resized; a PNG of a new size predicts as the
    // evaluation does, and a red image is red.
    let weights = student_path(&out, StudentKind::Kd, 1);
    let predictor = Predictor::load(&weights).unwrap();
    assert_eq!(predictor.card.input, [3, 8, 8]);
    assert_eq!(predictor.card.normalize, n);
    assert_eq!(
        predictor.card.resize,
        Some(distill::vocab::Resize::CenterCrop)
    );
    let red = dir.path().join("red.png");
    colour_image(0, 40, 30, 99).save(&red).unwrap();
    let p = predictor
        .predict_files(std::slice::from_ref(&red), 1)
        .unwrap();
    assert_eq!(p[0].top[0].name, "red-ish", "{p:?}");

    // The CLI too, on a JPEG.
    let jpg = dir.path().join("green.jpg");
    colour_image(1, 16, 16, 98).save(&jpg).unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["predict", "--json", "--model"])
        .arg(&weights)
        .arg(&jpg)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(json[0]["top"][0]["name"], "green-ish");

    // The report's resolved experiment names the classes read from the folders.
    let resolved = std::fs::read_to_string(out.join("experiment.resolved.toml")).unwrap();
    assert!(resolved.contains("green-ish"), "{resolved}");
}

#[test]
fn the_decode_cache_is_reused_and_follows_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("train");
    write_folder(&root, 6, 5);
    let spec = FolderSpec {
        channels: 3,
        size: [8, 8],
        resize: distill::vocab::Resize::CenterCrop,
        on_bad_image: distill::config::BadImagePolicy::Fail,
        cache: true,
        cache_dir: Some(dir.path().join("cache")),
        memory_limit: None,
    };
    let classes = class_folders(&root).unwrap();
    assert_eq!(classes, CLASSES.map(String::from));
    let first = read_folder(&root, &classes, true, &spec).unwrap();
    assert!(!first.from_cache);
    let again = read_folder(&root, &classes, true, &spec).unwrap();
    assert!(again.from_cache, "the second read uses the cache");
    assert_eq!(again.data.pixel_bytes(), first.data.pixel_bytes());
    assert_eq!(again.data.labels, first.data.labels);
    assert_eq!(again.data.fingerprint(), first.data.fingerprint());

    // Another image in a file: the cache is not used, the new pixels are read.
    let changed = root.join(CLASSES[1]).join("000.png");
    colour_image(0, 12, 10, 4242).save(&changed).unwrap();
    let fresh = read_folder(&root, &classes, true, &spec).unwrap();
    assert!(!fresh.from_cache);
    assert_ne!(fresh.data.pixel_bytes(), first.data.pixel_bytes());

    // A damaged cache file is decoded again, not trusted.
    for entry in std::fs::read_dir(dir.path().join("cache")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let redone = read_folder(&root, &classes, true, &spec).unwrap();
    assert!(!redone.from_cache);
    assert_eq!(redone.data.pixel_bytes(), fresh.data.pixel_bytes());
}

#[test]
fn a_corrupt_image_fails_naming_it_or_is_skipped_and_reported() {
    let (dir, config) = setup_folders("");
    let bad = dir.path().join("train").join(CLASSES[2]).join("broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff this is not a JPEG").unwrap();
    let e = ImageTask::new(Experiment::load(&config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("broken.jpg") && e.contains("on_bad_image"),
        "{e}"
    );

    std::fs::write(&config, folder_experiment("on_bad_image = \"skip\"")).unwrap();
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    assert_eq!(task.skipped.len(), 1);
    assert!(task.skipped[0].path.ends_with("broken.jpg"));
    let notes = task.data_notes();
    assert!(notes[0].contains("broken.jpg"), "{notes:?}");
    let s = &task.splits;
    assert_eq!(s.train.len() + s.validation.as_ref().unwrap().len(), 120);
}

#[test]
fn folder_errors_name_the_field_or_the_folder() {
    let (dir, config) = setup_folders("num_classes = 4");
    let e = ImageTask::new(Experiment::load(&config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data.num_classes") && e.contains("3 classes"),
        "{e}"
    );

    std::fs::write(
        &config,
        folder_experiment("class_names = [\"a\", \"b\", \"c\"]"),
    )
    .unwrap();
    let e = ImageTask::new(Experiment::load(&config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data.class_names") && e.contains("blue-ish"),
        "{e}"
    );

    // A test class the training folder lacks.
    std::fs::create_dir_all(dir.path().join("test").join("purple")).unwrap();
    colour_image(0, 12, 10, 1)
        .save(dir.path().join("test").join("purple").join("x.png"))
        .unwrap();
    std::fs::write(&config, folder_experiment("")).unwrap();
    let e = ImageTask::new(Experiment::load(&config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("purple") && e.contains("training folder"), "{e}");

    // Ranges a resized crop cannot draw from are refused.
    for (augment, why) in [
        (
            "augment = { random_resized_crop = { ratio = [2.0, 1.0] }, views = 2 }",
            "ratio",
        ),
        (
            "augment = { random_resized_crop = { scale = [0.5, 1.5] } }",
            "scale",
        ),
    ] {
        let text = folder_experiment("").replace(
            "[student.train]\n",
            &format!("[student.train]\n{augment}\n"),
        );
        let e = Experiment::parse(&text, Path::new("e.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("student.train.augment.random_resized_crop") && e.contains(why),
            "{e}"
        );
    }

    // Fields of other formats, and bad values, through the CLI: exit 1, one line.
    for (extra, field) in [
        ("train_images = \"x\"", "data.train_images"),
        ("channels = 2", "data.channels"),
        ("test_fraction = 0.2", "data.test_fraction"),
        (
            "normalize = { mean = [0.5, 0.5], std = 0.2 }",
            "data.normalize",
        ),
    ] {
        std::fs::write(&config, folder_experiment(extra)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_distill"))
            .args(["run", "--out"])
            .arg(dir.path().join("never"))
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field), "{extra}: {err}");
        assert!(
            !dir.path().join("never").exists(),
            "nothing written for {extra}"
        );
    }
}

#[test]
fn a_folder_without_a_test_folder_holds_out_a_seeded_stratified_test_set() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(&dir.path().join("train"), 20, 1);
    let config = dir.path().join("experiment.toml");
    let text = folder_experiment("test_fraction = 0.25").replace("test_dir = \"test\"\n", "");
    std::fs::write(&config, &text).unwrap();
    let a = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let b = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    assert_eq!(a.splits.test.len(), 15);
    assert_eq!(a.splits.test.fingerprint(), b.splits.test.fingerprint());
    // No test image is among the training or validation images.
    let test: std::collections::HashSet<Vec<u8>> = (0..a.splits.test.len())
        .map(|i| a.splits.test.image(i).to_vec())
        .collect();
    let v = a.splits.validation.as_ref().unwrap();
    for d in [&a.splits.train, v] {
        for i in 0..d.len() {
            assert!(
                !test.contains(d.image(i).as_ref()),
                "a test image is also trained on"
            );
        }
    }
    for class in 0..3 {
        let n = a.splits.test.labels.iter().filter(|&&l| l == class).count();
        assert_eq!(n, 5, "stratified: class {class}");
    }
}

/// CIFAR-format records of `n` colour images (class = colour), 1 or 2 label bytes.
fn cifar_records(n: usize, classes: usize, hundred: bool, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let class = i % classes;
        if hundred {
            out.push((class % 20) as u8); // coarse
        }
        out.push(class as u8);
        let img = colour_image(class % 3, 32, 32, seed * 100_000 + i as u64);
        for c in 0..3 {
            out.extend(img.pixels().map(|p| p.0[c]));
        }
    }
    out
}

#[test]
fn cifar10_and_cifar100_files_load_with_their_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data_batch_1.bin"), cifar_records(30, 10, false, 1)).unwrap();
    std::fs::write(d.join("data_batch_2.bin"), cifar_records(30, 10, false, 2)).unwrap();
    std::fs::write(d.join("test_batch.bin"), cifar_records(20, 10, false, 3)).unwrap();
    let base = folder_experiment("");
    let data_section = |format_lines: &str| {
        let start = base.find("[data]").unwrap();
        let end = base.find("[teacher.model]").unwrap();
        format!(
            "{}[data]\n{format_lines}\n\n{}",
            &base[..start],
            &base[end..]
        )
    };
    let config = d.join("c10.toml");
    std::fs::write(
        &config,
        data_section(
            "format = \"cifar10\"\ntrain_files = [\"data_batch_1.bin\", \"data_batch_2.bin\"]\nvalidation_fraction = 0.2",
        ),
    )
    .unwrap();
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    assert_eq!(task.splits.train.input_shape(), [3, 32, 32]);
    assert_eq!(
        task.splits.train.len() + task.splits.validation.as_ref().unwrap().len(),
        60
    );
    assert_eq!(task.splits.test.len(), 20);
    assert_eq!(task.class_names()[0], "airplane");

    // CIFAR-100 with coarse labels and the archive's name file.
    std::fs::write(d.join("train.bin"), cifar_records(60, 100, true, 4)).unwrap();
    std::fs::write(d.join("test.bin"), cifar_records(40, 100, true, 5)).unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("super{i}")).collect();
    std::fs::write(d.join("coarse_label_names.txt"), names.join("\n")).unwrap();
    let config = d.join("c100.toml");
    std::fs::write(
        &config,
        data_section("format = \"cifar100\"\nlabels = \"coarse\""),
    )
    .unwrap();
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    assert_eq!(task.experiment.data.num_classes, 20);
    assert_eq!(task.class_names()[19], "super19");

    // A class count that is not the format's, and a torn file: one line naming them.
    std::fs::write(
        &config,
        data_section("format = \"cifar100\"\nnum_classes = 10"),
    )
    .unwrap();
    let e = Experiment::load(&config).unwrap_err().to_string();
    assert!(
        e.contains("data.num_classes") && e.contains("100 classes"),
        "{e}"
    );
    std::fs::write(d.join("test.bin"), &cifar_records(1, 100, true, 6)[..1000]).unwrap();
    std::fs::write(&config, data_section("format = \"cifar100\"")).unwrap();
    let e = ImageTask::new(Experiment::load(&config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("test.bin") && e.contains("3074-byte"), "{e}");
}

/// A store of recorded views on colour images: each view moves the three channel planes
/// alike, and the teacher's logits on the input rebuilt from a recorded view are the stored
/// ones, bit for bit (after f16).
#[test]
fn recorded_views_of_colour_images_are_the_inputs_their_logits_belong_to() {
    use distill::classifier::{Classifier, Rows};
    use distill::pipeline::{
        load_model, open_soft_labels, record_soft_labels, teacher_path, train_teacher,
    };
    use distill::vocab::Role;
    let (dir, config) = setup_folders("");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[student.train]\n",
        "[student.train]\naugment = { crop_padding = 2, hflip = true, views = 2 }\n",
    );
    std::fs::write(&config, text).unwrap();
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    train_teacher(&task, &opts).unwrap();
    let teacher = teacher_path(&out);
    let store = dir.path().join("store");
    record_soft_labels(&task, &teacher, &store, (0, 1), &opts).unwrap();
    let labels = open_soft_labels(&task, &teacher, &store).unwrap();
    assert_eq!(labels.views_per_sample, 2);
    let train = &task.splits(Role::Teacher).train;
    let rows: Vec<usize> = (0..train.len()).collect();
    let picks: Vec<usize> = rows.iter().map(|i| i % 2).collect();
    let views: Vec<_> = rows
        .iter()
        .zip(&picks)
        .map(|(&i, &p)| labels.view(i, p))
        .collect();
    assert!(views.iter().any(|v| v.dx != 0 || v.dy != 0 || v.flip));
    let model = load_model(&task, Role::Teacher, &teacher, &opts.device).unwrap();
    let inputs = train.view_inputs(&rows, &views, &opts.device).unwrap();
    assert_eq!(inputs.dims(), [train.len(), 3, 8, 8]);
    let live: Vec<f32> = model.logits(inputs).into_data().try_to_vec().unwrap();
    let recorded: Vec<f32> = labels
        .batch_views(&rows, Some(&picks), &opts.device)
        .into_data()
        .try_to_vec()
        .unwrap();
    for (x, y) in live.iter().zip(&recorded) {
        assert_eq!(half::f16::from_f32(*x).to_f32(), *y);
    }
}

/// Writes `root/<class>/<i>.png` for `per_class` images per class, `side × side` pixels.
fn write_square_folder(root: &Path, per_class: usize, side: u32, seed: u64) {
    for (k, name) in CLASSES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            colour_image(2 - k, side, side, seed * 1000 + (k * per_class + i) as u64)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

#[test]
fn a_folder_over_the_memory_limit_is_read_from_its_cache_file_with_the_same_pixels() {
    use distill::data::make_batch;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("train");
    write_folder(&root, 7, 9);
    let spec = |memory_limit| FolderSpec {
        channels: 3,
        size: [8, 8],
        resize: distill::vocab::Resize::CenterCrop,
        on_bad_image: distill::config::BadImagePolicy::Fail,
        cache: true,
        cache_dir: Some(dir.path().join("cache")),
        memory_limit,
    };
    let classes = class_folders(&root).unwrap();
    // 21 images of 192 bytes: 4,032 bytes of pixels.
    let small = Some(4_000);
    let first = read_folder(&root, &classes, true, &spec(small)).unwrap();
    assert!(!first.from_cache);
    assert!(
        first.data.images.in_memory().is_none(),
        "decoded straight into the cache file, not held"
    );
    let held = read_folder(&root, &classes, true, &spec(None)).unwrap();
    assert!(held.from_cache && held.data.images.in_memory().is_some());
    let again = read_folder(&root, &classes, true, &spec(small)).unwrap();
    assert!(again.from_cache && again.data.images.in_memory().is_none());
    for d in [&first.data, &again.data] {
        assert_eq!(d.pixel_bytes(), held.data.pixel_bytes());
        assert_eq!(d.labels, held.data.labels);
        assert_eq!(d.fingerprint(), held.data.fingerprint());
        assert_eq!(d.pixel_stats(), held.data.pixel_stats());
    }
    // Subsets (splits, shuffled orders) of a file-backed set read the right images, and the
    // batches the models see are bit for bit those of the set in memory.
    let pick = [20, 3, 3, 0, 11];
    let (disk, mem) = (again.data.subset(&pick), held.data.subset(&pick));
    assert!(disk.images.in_memory().is_none());
    assert_eq!(disk.fingerprint(), mem.fingerprint());
    let (disk, mem) = (disk.subset(&[4, 1]), mem.subset(&[4, 1]));
    let device = distill::default_device();
    let batch = |d: &distill::data::ImageDataset| {
        make_batch(d, &[1, 0], d.normalize, None, &device)
            .images
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(batch(&disk), batch(&mem));

    // A file that fails to decode half-way leaves no temporary cache file behind.
    std::fs::write(root.join(CLASSES[1]).join("zz-broken.png"), b"not a PNG").unwrap();
    let e = read_folder(&root, &classes, true, &spec(small))
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz-broken.png"), "{e}");
    for entry in std::fs::read_dir(dir.path().join("cache")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.ends_with(".tmp"), "left behind: {name}");
    }
    std::fs::remove_file(root.join(CLASSES[1]).join("zz-broken.png")).unwrap();

    // No cache to read from: refused with the fields to change, before any decoding.
    let mut no_cache = spec(small);
    no_cache.cache = false;
    let e = read_folder(&root, &classes, true, &no_cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.cache") && e.contains("--memory"), "{e}");
}

#[test]
fn a_run_under_a_memory_budget_smaller_than_its_images_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    // 600 training images of 16 × 16 × 3 = 460,800 bytes of pixels: more than half the
    // 512 KiB budget, so they are read from the cache file; the models are small MLPs.
    write_square_folder(&dir.path().join("train"), 200, 16, 1);
    write_square_folder(&dir.path().join("test"), 20, 16, 2);
    let config = dir.path().join("experiment.toml");
    std::fs::write(
        &config,
        r#"seed = 3
student_seeds = [1]

[data]
format = "folder"
train_dir = "train"
test_dir = "test"
image_size = [16, 16]
cache_dir = "cache"

[teacher.model]
type = "mlp"
hidden = [16]

[teacher.train]
epochs = 2
batch_size = 32
optimizer = { type = "adam", lr = 0.01 }
augment = { crop_padding = 2, hflip = true }

[student.model]
type = "mlp"
hidden = [8]

[student.train]
epochs = 2
batch_size = 32
optimizer = { type = "adam", lr = 0.01 }

[objective]
alpha = 0.5
temperature = 2.0

[evaluation]
latency_runs = 2
warmup_runs = 1
throughput_batch = 8
"#,
    )
    .unwrap();
    let run = |out: &str, memory: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distill"));
        if let Some(m) = memory {
            cmd.args(["--memory", m]);
        }
        let res = cmd
            .args(["-q", "run", "--out"])
            .arg(dir.path().join(out))
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(out).join("report.json")).unwrap(),
        )
        .unwrap();
        json
    };
    let bounded = run("bounded", Some("512KiB"));
    let free = run("free", None);
    for model in ["teacher", "student_kd", "student_baseline"] {
        let (a, b) = (
            &bounded["models"][model]["accuracy"],
            &free["models"][model]["accuracy"],
        );
        assert!(a.is_number(), "{model}: {a}");
        assert_eq!(a, b, "{model}");
    }
    // A size that is not one is refused, naming it.
    let res = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["--memory", "lots", "run", "--out"])
        .arg(dir.path().join("never"))
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&res.stderr).contains("lots"));
    assert!(!dir.path().join("never").exists());
}
