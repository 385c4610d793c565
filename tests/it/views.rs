//! Offline KD with augmentation: a store of K augmented views per training image, whose logits
//! belong to exactly the view recorded beside them, the same whatever the sharding, and a
//! student that trains from it deterministically.

use crate::common;

use distill::classifier::{Classifier, Rows};
use distill::config::Experiment;
use distill::pipeline::{
    RunOptions, StudentKind, load_model, open_soft_labels, record_soft_labels, student_path,
    teacher_path, train_student, train_teacher,
};
use distill::task::Task;
use distill::task::image::ImageTask;
use distill::vocab::Role;

fn task(dir: &std::path::Path, views: usize) -> ImageTask {
    task_with(dir, views, "crop_padding = 1, hflip = true")
}

/// The experiment with `views` recorded views drawn with the augmentation `draws`.
fn task_with(dir: &std::path::Path, views: usize, draws: &str) -> ImageTask {
    let config = dir.join(format!("views{views}.toml"));
    let augment = if views > 0 {
        format!("augment = {{ {draws}, views = {views} }}\n")
    } else {
        String::new()
    };
    std::fs::write(
        &config,
        common::experiment_text(&[(
            "epochs = 2\nbatch_size = 32\noptimizer = { type = \"adam\", lr = 0.01 }\n\n[objective]",
            &format!(
                "epochs = 2\nbatch_size = 32\noptimizer = {{ type = \"adam\", lr = 0.01 }}\n{augment}\n[objective]"
            ),
        )]),
    )
    .unwrap();
    ImageTask::new(Experiment::load(&config).unwrap()).unwrap()
}

#[test]
fn each_recorded_view_is_the_input_its_logits_belong_to() {
    recorded_views_are_the_inputs_of_their_logits("crop_padding = 1, hflip = true");
}

/// Random resized crops (FKD's recorded crops): each view's crop box is stored with it, and the
/// student's input built from a stored view is the one the teacher labelled.
#[test]
fn recorded_random_resized_crops_are_the_inputs_of_their_logits() {
    recorded_views_are_the_inputs_of_their_logits(
        "random_resized_crop = { scale = [0.3, 1.0] }, hflip = true",
    );
}

fn recorded_views_are_the_inputs_of_their_logits(draws: &str) {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = task_with(dir.path(), 3, draws);
    let rrc = draws.contains("random_resized_crop");
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    train_teacher(&task, &opts).unwrap();
    let teacher = teacher_path(&out);
    // One process, and the same store as two shards: identical views and logits.
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    record_soft_labels(&task, &teacher, &one, (0, 1), &opts).unwrap();
    record_soft_labels(&task, &teacher, &two, (1, 2), &opts).unwrap();
    record_soft_labels(&task, &teacher, &two, (0, 2), &opts).unwrap();
    let a = open_soft_labels(&task, &teacher, &one).unwrap();
    let b = open_soft_labels(&task, &teacher, &two).unwrap();
    assert_eq!(a.views_per_sample, 3);
    assert_eq!(a.views, b.views);
    assert_eq!(a.logits, b.logits);
    let train = &task.splits(Role::Teacher).train;
    assert_eq!(a.views.len(), 3 * train.len());
    // The views are augmentations (not all the identity), drawn from the documented generator.
    let aug = &task.settings().student_train.augment;
    assert!(a.views.iter().any(|v| v.dy != 0 || v.dx != 0 || v.flip));
    let size = (train.height, train.width);
    if rrc {
        assert!(
            a.views.iter().all(|v| v.crop.is_some()),
            "every view has its box"
        );
        assert!(
            a.views.iter().any(|v| v
                .crop
                .is_some_and(|c| c.height < size.0 || c.width < size.1)),
            "crops smaller than the image"
        );
    } else {
        assert!(a.views.iter().all(|v| v.crop.is_none()));
    }
    for i in [0, 7, train.len() - 1] {
        for v in 0..3 {
            assert_eq!(
                a.view(i, v),
                aug.recorded_view(task.settings().seed, i, v, size)
            );
        }
    }
    // Bit for bit: the teacher's logits on the input built from a recorded view are the
    // recorded logits (to f16), and differ from its logits on the plain image.
    let model = load_model(&task, Role::Teacher, &teacher, &opts.device).unwrap();
    let rows: Vec<usize> = (0..train.len()).collect();
    let picks: Vec<usize> = rows.iter().map(|i| i % 3).collect();
    let views: Vec<_> = rows
        .iter()
        .zip(&picks)
        .map(|(&i, &p)| a.view(i, p))
        .collect();
    let inputs = train.view_inputs(&rows, &views, &opts.device).unwrap();
    let live = model
        .logits(inputs)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let recorded = a
        .batch_views(&rows, Some(&picks), &opts.device)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (x, y) in live.iter().zip(&recorded) {
        let f16 = half::f16::from_f32(*x).to_f32();
        assert_eq!(
            f16, *y,
            "recorded logits are the teacher's on that very view"
        );
    }
    let plain = model
        .logits(train.inputs(&rows, None, &opts.device))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(
        plain.iter().zip(&live).any(|(p, l)| (p - l).abs() > 1e-3),
        "views change what the teacher sees"
    );
}

#[test]
fn a_student_trains_from_views_deterministically_and_a_plain_reader_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = task(dir.path(), 2);
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    train_teacher(&task, &opts).unwrap();
    let teacher = teacher_path(&out);
    let store = out.join("soft_labels");
    record_soft_labels(&task, &teacher, &store, (0, 1), &opts).unwrap();
    let stores = [open_soft_labels(&task, &teacher, &store).unwrap()];
    let train = |o: &std::path::Path| {
        let opts = RunOptions::new(o);
        std::fs::create_dir_all(o).unwrap();
        train_student(&task, StudentKind::Kd, &stores, &teacher, 1, &opts).unwrap();
        // The tensors, not the file bytes (safetensors' metadata order is not fixed).
        let model = load_model(
            &task,
            Role::Student,
            &student_path(o, StudentKind::Kd, 1),
            &opts.device,
        )
        .unwrap();
        let test = &task.splits(Role::Student).test;
        let rows: Vec<usize> = (0..test.len()).collect();
        model
            .logits(test.inputs(&rows, None, &opts.device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let first = train(&dir.path().join("s1"));
    let second = train(&dir.path().join("s2"));
    assert_eq!(first, second, "same seed, same views, same student");
    // An experiment without views expects a plain store: refused, naming both kinds.
    let plain = self::task(dir.path(), 0);
    let e = open_soft_labels(&plain, &teacher, &store)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 augmented views per sample") && e.contains("plain store"),
        "{e}"
    );
}
