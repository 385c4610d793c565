//! The steps of an experiment, written once for every kind of data ([`Task`]), each usable on
//! its own (the CLI has one subcommand per step) and chained by [`run_all`]: train (or import)
//! the teacher → record its soft labels → train the students (KD and no-KD, per seed) →
//! evaluate and compare ([`compare`]).
//!
//! Everything lives under one output folder ([`crate::layout`]).

mod search;

pub use search::tune;

pub use crate::layout::{
    checkpoint_dir, import_summary_path, soft_labels_dir, student_path, teacher_path,
};
pub use crate::task::RunOptions;
pub use crate::train::{history_path, load_history};
pub use crate::vocab::StudentKind;

use crate::artefact::{self, Freshness, RunKey};
use crate::classifier::{Classifier, EVAL_BATCH, Rows, predict_logits};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::eval::{SpeedMetrics, measure_speed, quality};
use crate::fsutil;
use crate::objective::Objective;
use crate::progress::Progress;
use crate::report::{ModelReport, Report, SeedSummary, Stat, Timings, model_report, store_info};
use crate::soft_labels::{
    Provenance, ShardHeader, ShardWriter, SoftLabels, StoreLocation, TeacherDiagnostics, ViewSpec,
    record_rows, record_views, shard_file_name, shard_range, teacher_diagnostics,
};
pub use crate::task::save_trained;
use crate::task::{Settings, Task, feature_pairs, student_key, teacher_key};
use crate::train::{OnlineTeacher, TrainJob, Trained, train};
use crate::vocab::Role;
use burn::module::Module;
use burn::tensor::Device;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A model of `role` with the weights in `weights`, in evaluation mode (BatchNorm uses its
/// running statistics, dropout is off).
pub fn load_model<T: Task>(
    task: &T,
    role: Role,
    weights: &Path,
    device: &Device,
) -> Result<T::Model> {
    Ok(task.build(role, device)?.load(weights)?.valid())
}

/// Step 1: trains the teacher and saves `OUT/teacher.safetensors` with its card and history.
/// Returns the teacher's logits on the training rows when they were computed on the way (a
/// linear probe on frozen embeddings), so that recording need not run it again.
pub fn train_teacher<T: Task>(task: &T, opts: &RunOptions) -> Result<Option<Vec<f32>>> {
    if let Some(done) = task.train_teacher_own_way(opts)? {
        return Ok(done);
    }
    let settings = task.settings();
    let Some(recipe) = &settings.teacher_train else {
        return Err(settings.bad_value(
            "teacher.train",
            "missing".into(),
            "this experiment imports its teacher ([teacher.import]): run `distill import`",
        ));
    };
    fsutil::create_dir_all(&opts.out)?;
    let splits = task.splits(Role::Teacher);
    let objective = Objective::hard_labels_only();
    let job = TrainJob {
        name: "teacher",
        model_key: task.model_key(Role::Teacher),
        recipe,
        train: &splits.train,
        monitor: splits.monitor(),
        objective: &objective,
        soft_labels: &[],
        seed: settings.seed,
        augment: true,
        checkpoint_dir: &checkpoint_dir(&opts.out, "teacher"),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train(&job, &|d| task.build(Role::Teacher, d), None, &opts.device)?;
    save_trained(
        task,
        Role::Teacher,
        &trained,
        &teacher_path(&opts.out),
        &teacher_key(task)?,
        &opts.device,
    )?;
    Ok(None)
}

/// The provenance a store recorded by `teacher` (weights file) on this task's data carries.
pub fn provenance<T: Task>(task: &T, teacher: &Path) -> Result<Provenance> {
    Ok(Provenance {
        teacher_hash: crate::artefact::tensors_sha256(teacher)?,
        dataset_fingerprint: task.data_fingerprint(),
        preprocessing: task.preprocessing(),
        views: view_spec(task.settings()),
    })
}

/// The augmented views a store for this experiment holds: `student.train.augment.views` of
/// them, drawn with its padding and flip and the experiment's seed (`None`: a plain store).
pub fn view_spec(settings: &Settings) -> Option<ViewSpec> {
    let a = &settings.student_train.augment;
    (a.views > 0).then_some(ViewSpec {
        count: a.views,
        crop_padding: a.crop_padding,
        hflip: a.hflip,
        seed: settings.seed,
        random_resized_crop: a.random_resized_crop,
    })
}

/// Writes the logits of a range of training rows into a shard, advancing the progress bar.
type FillShard<'a> =
    dyn FnMut(std::ops::Range<usize>, &Progress, &mut ShardWriter) -> Result<()> + 'a;

/// Streams shard `index` of `count` of the teacher's logits on the training rows into `store`:
/// `logits_of(rows)` gives them batch by batch.
fn write_shard<T: Task>(
    task: &T,
    teacher: &Path,
    store: &StoreLocation,
    (index, count): (usize, usize),
    opts: &RunOptions,
    logits_of: &mut FillShard,
) -> Result<PathBuf> {
    check_shard(task, (index, count))?;
    let header = shard_header(task, teacher, (index, count))?;
    let (start, end, total) = (header.start, header.end, header.num_samples);
    let started = Instant::now();
    // A shard bound for object storage is recorded into a local staging folder first.
    let dir = match store {
        StoreLocation::Local(dir) => dir.clone(),
        StoreLocation::Object(o) => staging_dir(&opts.out, o.url()),
    };
    let mut writer = ShardWriter::create(&dir, &header)?;
    let batch = task.record_batch();
    let bar = Progress::new(
        (end - start).div_ceil(batch) as u64,
        "record",
        opts.progress,
    );
    logits_of(start..end, &bar, &mut writer)?;
    let mut path = writer.finish()?;
    if let StoreLocation::Object(o) = store {
        let name = shard_file_name(index, count);
        let head = StoreLocation::Local(dir).read_head(&name, crate::soft_labels::HEADER_PEEK)?;
        let ours = crate::soft_labels::peek_header(&head, &path)?.sha256;
        let same = |there: &[u8]| {
            crate::soft_labels::peek_header(there, &path).is_ok_and(|h| h.sha256 == ours)
        };
        let published = o.publish(&path, &name, &same);
        let _ = std::fs::remove_file(&path);
        if published? == crate::soft_labels::Published::AlreadyThere {
            tracing::info!("{name}: the same shard was already in {}", o.url());
        }
        path = store.shard_path(&name);
    }
    let secs = started.elapsed().as_secs_f64();
    bar.finish(&format!(
        "recorded soft labels for rows {start}..{end} of {total} in {secs:.1}s ({:.0} {}/s)",
        (end - start) as f64 / secs.max(1e-9),
        task.kind().unit()
    ));
    Ok(path)
}

/// The header of shard `index` of `count` of this experiment's store (checksum not yet set).
fn shard_header<T: Task>(
    task: &T,
    teacher: &Path,
    (index, count): (usize, usize),
) -> Result<ShardHeader> {
    let train = &task.splits(Role::Teacher).train;
    let total = train.len();
    let (start, end) = shard_range(total, index, count);
    Ok(ShardHeader {
        num_samples: total,
        num_classes: train.num_classes(),
        shard_index: index,
        num_shards: count,
        start,
        end,
        dtype: "f16".into(),
        provenance: provenance(task, teacher)?,
        sha256: String::new(),
        top_k: task.settings().top_k,
    })
}

/// Where shards bound for the object store at `url` are recorded before their upload.
fn staging_dir(out: &Path, url: &str) -> PathBuf {
    out.join(".staging")
        .join(&crate::fsutil::sha256_hex(url.as_bytes())[..16])
}

/// On object storage, whether shard `index` of `count` is already there, recorded from this
/// teacher, data and preprocessing and intact: then a restarted worker has nothing to do
/// (`Some(its URL)`). A different or corrupt object under the shard's name is an error, since
/// shards are never overwritten there. A local store is always recorded again.
pub fn already_recorded<T: Task>(
    task: &T,
    teacher: &Path,
    store: &StoreLocation,
    shard: (usize, usize),
) -> Result<Option<PathBuf>> {
    let StoreLocation::Object(o) = store else {
        return Ok(None);
    };
    let name = shard_file_name(shard.0, shard.1);
    let path = store.shard_path(&name);
    let Some(bytes) = o.read_if_exists(&name)? else {
        return Ok(None);
    };
    let (there, _, _) =
        crate::soft_labels::decode_shard(&bytes, &path).map_err(|e| Error::SoftLabels {
            path: path.clone(),
            message: format!(
                "an object that is not an intact shard is there ({e}); shards on object storage \
                 are never overwritten: delete it and record again"
            ),
        })?;
    let mut ours = shard_header(task, teacher, shard)?;
    ours.sha256 = there.sha256.clone();
    if there != ours {
        return Err(Error::SoftLabels {
            path,
            message: "a shard of another recording is there (other data, teacher, \
                      preprocessing, shard count or kind); shards on object storage are never \
                      overwritten: delete the store's shards, or record into another prefix"
                .into(),
        });
    }
    Ok(Some(path))
}

/// The experiment's own soft-label store: `[soft_labels] location`, else `OUT/soft_labels`.
pub fn own_store<T: Task>(task: &T, out: &Path) -> Result<StoreLocation> {
    match &task.settings().store_location {
        Some(location) => StoreLocation::parse(location),
        None => Ok(StoreLocation::Local(soft_labels_dir(out))),
    }
}

/// Refuses shard `index` of `count` unless `0 <= index < count` and `count` is at most one
/// shard per training row and at most [`crate::soft_labels::MAX_SHARDS`].
fn check_shard<T: Task>(task: &T, (index, count): (usize, usize)) -> Result<()> {
    let total = task.splits(Role::Teacher).train.len();
    let most = crate::soft_labels::MAX_SHARDS.min(total.max(1));
    if count == 0 || index >= count || count > most {
        return Err(Error::Argument {
            arg: "--shard".into(),
            value: format!("{index}/{count}"),
            reason: format!(
                "must be i/N with 0 <= i < N and N <= {most} (at most one shard per training \
                 row, and at most {} shards)",
                crate::soft_labels::MAX_SHARDS
            ),
        });
    }
    Ok(())
}

/// Step 2: runs the teacher over shard `index` of `count` of the training rows and writes that
/// shard of the soft-label store into `store`. Returns the shard file.
pub fn record_soft_labels<T: Task>(
    task: &T,
    teacher: &Path,
    store: impl Into<StoreLocation>,
    shard: (usize, usize),
    opts: &RunOptions,
) -> Result<PathBuf> {
    let store = &store.into();
    check_shard(task, shard)?;
    if let Some(path) = already_recorded(task, teacher, store, shard)? {
        if opts.progress {
            eprintln!(
                "shard {} of {} is already recorded from this teacher and data: {}",
                shard.0,
                shard.1,
                path.display()
            );
        }
        return Ok(path);
    }
    let model = load_model(task, Role::Teacher, teacher, &opts.device)?;
    let train = &task.splits(Role::Teacher).train;
    let batch = task.record_batch();
    write_shard(
        task,
        teacher,
        store,
        shard,
        opts,
        &mut |rows, bar, writer| match view_spec(task.settings()) {
            None => record_rows(&model, train, rows, batch, &opts.device, writer, bar),
            Some(_) => record_views(&model, train, rows, batch, &opts.device, writer, bar),
        },
    )
}

/// Writes a one-shard store from logits already computed for every training row
/// (`rows × classes`, row-major).
fn write_computed_store<T: Task>(
    task: &T,
    teacher: &Path,
    store: &StoreLocation,
    logits: &[f32],
    opts: &RunOptions,
) -> Result<PathBuf> {
    let c = task.splits(Role::Teacher).train.num_classes();
    let batch = task.record_batch();
    write_shard(
        task,
        teacher,
        store,
        (0, 1),
        opts,
        &mut |rows, bar, writer| {
            let all: Vec<usize> = rows.collect();
            for chunk in all.chunks(batch) {
                writer.push(&logits[chunk[0] * c..(chunk[chunk.len() - 1] + 1) * c])?;
                bar.step(|| format!("{} rows", writer.rows()));
            }
            Ok(())
        },
    )
}

/// Opens the store in `store`, checking it belongs to this data and this teacher.
pub fn open_soft_labels<T: Task>(
    task: &T,
    teacher: &Path,
    store: impl Into<StoreLocation>,
) -> Result<SoftLabels> {
    SoftLabels::open(store, &provenance(task, teacher)?)
}

/// Opens the soft-label stores the experiment's objective combines: this run's own (`teacher`,
/// `store`) first, then those of `extra_teachers`, as many as `objective.teacher_weights` has
/// weights (at least `wanted`). Each is checked against this data and its teacher.
pub fn open_teacher_stores<T: Task>(
    task: &T,
    teacher: &Path,
    store: &StoreLocation,
    wanted: usize,
) -> Result<Vec<SoftLabels>> {
    let mut stores = vec![open_soft_labels(task, teacher, store)?];
    for dir in task
        .settings()
        .extra_teachers
        .iter()
        .take(wanted.saturating_sub(1))
    {
        stores.push(open_soft_labels(
            task,
            &teacher_path(dir),
            soft_labels_dir(dir),
        )?);
    }
    Ok(stores)
}

/// Checks, before any training, that the first `count − 1` of `extra_teachers` hold a teacher
/// and a soft-label store.
pub fn check_extra_teachers(settings: &Settings, count: usize) -> Result<()> {
    for dir in settings.extra_teachers.iter().take(count.saturating_sub(1)) {
        for path in [teacher_path(dir), soft_labels_dir(dir)] {
            if !path.exists() {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "extra_teachers names this teacher, but it is not there (train and record it first)",
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Where a student's teacher signal comes from.
#[derive(Clone, Copy)]
pub struct StudentInputs<'a> {
    /// The recorded stores (offline objectives).
    pub soft_labels: &'a [SoftLabels],
    /// The teacher's weights (loaded when the objective runs the teacher online).
    pub teacher: &'a Path,
}

/// One student run: its name (checkpoints in `OUT/checkpoints/<name>`), objective, teacher
/// signal, seed, and where its weights go.
pub struct StudentRun<'a> {
    /// Run name.
    pub name: &'a str,
    /// The loss.
    pub objective: &'a Objective,
    /// The teacher signal.
    pub inputs: StudentInputs<'a>,
    /// Seed.
    pub seed: u64,
    /// The weights file written at the end.
    pub weights: &'a Path,
    /// The training recipe, when not the experiment's student recipe (the search's short
    /// budgets).
    pub recipe: Option<&'a TrainConfig>,
}

/// The experiment's student of `kind` and `seed` under `opts.out`: its name, objective, teacher
/// signal (the stores for the KD student, none for the baseline) and weights file, handed to
/// `then`.
fn with_student_run<T: Task, R>(
    task: &T,
    (kind, seed): (StudentKind, u64),
    soft_labels: &[SoftLabels],
    teacher: &Path,
    opts: &RunOptions,
    then: impl FnOnce(&StudentRun) -> Result<R>,
) -> Result<R> {
    let objective = match kind {
        StudentKind::Kd => Objective::new(crate::tune::kd_objective(task, &opts.out)?),
        StudentKind::Baseline => Objective::hard_labels_only(),
    };
    let stores = if kind == StudentKind::Kd {
        soft_labels
    } else {
        &[]
    };
    let name = format!("{}-seed{seed}", kind.name());
    then(&StudentRun {
        name: &name,
        objective: &objective,
        inputs: StudentInputs {
            soft_labels: stores,
            teacher,
        },
        seed,
        weights: &student_path(&opts.out, kind, seed),
        recipe: None,
    })
}

/// Step 3: trains one student (KD against the stores, or the baseline) with `seed`, into
/// `OUT/student_kd-seedN.safetensors` or `OUT/student_baseline-seedN.safetensors`. `teacher`
/// (weights) is loaded only when the objective runs it online.
pub fn train_student<T: Task>(
    task: &T,
    kind: StudentKind,
    soft_labels: &[SoftLabels],
    teacher: &Path,
    seed: u64,
    opts: &RunOptions,
) -> Result<Trained<T::Model>> {
    with_student_run(task, (kind, seed), soft_labels, teacher, opts, |run| {
        train_student_as(task, run, opts)
    })
}

/// Whether the saved student of `kind` and `seed` under `opts.out` is complete and was made by
/// the current configuration (objective, recipe, teacher signal, data, seed).
pub fn student_freshness<T: Task>(
    task: &T,
    kind: StudentKind,
    soft_labels: &[SoftLabels],
    teacher: &Path,
    seed: u64,
    opts: &RunOptions,
) -> Result<Freshness> {
    with_student_run(task, (kind, seed), soft_labels, teacher, opts, |run| {
        Ok(artefact::freshness(
            run.weights,
            &student_run_key(task, run)?,
        ))
    })
}

/// The run key of a student run ([`crate::task::student_key`]): its teacher signal is the
/// provenance of each store it reads and, for an online teacher, the teacher's tensors.
pub fn student_run_key<T: Task>(task: &T, run: &StudentRun) -> Result<RunKey> {
    let mut teachers: Vec<String> = run
        .inputs
        .soft_labels
        .iter()
        .map(|s| format!("{:?} top_k {:?}", s.provenance, s.top_k))
        .collect();
    if run.objective.needs_online_teacher() {
        teachers.push(format!(
            "online {}",
            artefact::tensors_sha256(run.inputs.teacher)?
        ));
    }
    let recipe = run.recipe.unwrap_or(&task.settings().student_train);
    Ok(student_key(
        task,
        run.objective,
        recipe,
        run.seed,
        &teachers,
    ))
}

/// Trains the experiment's student for `run` and saves it with its history and card.
pub fn train_student_as<T: Task>(
    task: &T,
    run: &StudentRun,
    opts: &RunOptions,
) -> Result<Trained<T::Model>> {
    let key = student_run_key(task, run)?;
    let stores: Vec<&SoftLabels> = run.inputs.soft_labels.iter().collect();
    let settings = task.settings();
    let online = run.objective.needs_online_teacher();
    let teacher_model = match online {
        true => Some(load_model(
            task,
            Role::Teacher,
            run.inputs.teacher,
            &opts.device,
        )?),
        false => None,
    };
    let pairs = match online {
        true => feature_pairs(task, run.objective.config(), &|f, v, r| {
            settings.bad_value(f, v, r)
        })?,
        false => Vec::new(),
    };
    let teacher = teacher_model
        .as_ref()
        .map(|model| OnlineTeacher { model, pairs });
    let splits = task.splits(Role::Student);
    let job = TrainJob {
        name: run.name,
        model_key: task.model_key(Role::Student),
        recipe: run.recipe.unwrap_or(&settings.student_train),
        train: &splits.train,
        monitor: splits.monitor(),
        objective: run.objective,
        soft_labels: &stores,
        seed: run.seed,
        // Plain recorded soft labels belong to unaugmented inputs; an online teacher sees the
        // same augmented batch as the student, and a store of views says which view each
        // soft label belongs to (the loop draws them). The no-KD student augments as the KD
        // student does, so that the two differ by the teacher alone.
        augment: run.objective.config().online
            || run.recipe.unwrap_or(&settings.student_train).augment.views > 0,
        checkpoint_dir: &checkpoint_dir(&opts.out, run.name),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train(
        &job,
        &|d| task.build(Role::Student, d),
        teacher.as_ref(),
        &opts.device,
    )?;
    save_trained(
        task,
        Role::Student,
        &trained,
        run.weights,
        &key,
        &opts.device,
    )?;
    Ok(trained)
}

/// Steps 1 and 2 under `opts.out`: trains (or imports) the teacher and records its soft
/// labels, unless (with `resume`) a teacher and a store that matches it are there already.
/// Adds the seconds spent to `timings`.
pub fn ensure_teacher_and_store<T: Task>(
    task: &T,
    opts: &RunOptions,
    timings: &mut Timings,
) -> Result<()> {
    let teacher = teacher_path(&opts.out);
    let t = Instant::now();
    let mut train_logits = None;
    let fresh = artefact::freshness(&teacher, &teacher_key(task)?);
    let reuse = opts.resume && fresh == Freshness::Current;
    if opts.resume && !reuse && fresh != Freshness::Missing {
        eprintln!(
            "{}: {}; making it again",
            teacher.display(),
            fresh.describe()
        );
    }
    if !reuse {
        let imported = task.import_teacher(opts)?;
        if !imported {
            train_logits = train_teacher(task, opts)?;
        }
    }
    timings.teacher_train_s = t.elapsed().as_secs_f64();
    let store = own_store(task, &opts.out)?;
    let t = Instant::now();
    // A store on object storage is shared and never deleted here: it is used whenever it is
    // this teacher's, on this data (e.g. recorded by a cluster job), and refused otherwise.
    let matches =
        || open_soft_labels(task, &teacher, &store).is_ok_and(|s| s.top_k == task.settings().top_k);
    let reusable = if store.is_object() {
        matches()
    } else {
        opts.resume && train_logits.is_none() && matches()
    };
    if !reusable {
        if store.is_object() && !store.list_shards()?.is_empty() {
            return Err(Error::SoftLabels {
                path: store.path(),
                message: "holds shards that are not a complete store of this teacher, data and \
                          kind (see `distill store verify`); distill never deletes shards on \
                          object storage: delete them, or choose another [soft_labels] location"
                    .into(),
            });
        }
        if let StoreLocation::Local(dir) = &store {
            match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(dir, e));
                }
                _ => {}
            }
        }
        match &train_logits {
            Some(logits) => write_computed_store(task, &teacher, &store, logits, opts)?,
            None => record_soft_labels(task, &teacher, &store, (0, 1), opts)?,
        };
    }
    timings.record_s = t.elapsed().as_secs_f64();
    Ok(())
}

/// How much the soft labels in `store` carry ([`crate::soft_labels::teacher_diagnostics`]),
/// at T = 1, 2, 4, 8 and the experiment's T, or at the search's temperatures.
pub fn diagnose<T: Task>(task: &T, store: &SoftLabels) -> TeacherDiagnostics {
    let settings = task.settings();
    let (temperatures, configured) = match &settings.tune {
        Some(t) => (t.temperatures.clone(), None),
        None => {
            let t = settings.objective.temperature;
            let mut temps = vec![1.0, 2.0, 4.0, 8.0];
            if !temps.contains(&t) {
                temps.push(t);
                temps.sort_by(f64::total_cmp);
            }
            (temps, Some(t))
        }
    };
    let train = &task.splits(Role::Teacher).train;
    teacher_diagnostics(
        &store.first_view_logits(),
        train.labels(),
        store.num_classes,
        &temperatures,
        configured,
    )
}

/// Runs every step and writes the report; with `resume`, finished steps are reused. The data
/// was read and checked when `task` was loaded, before anything is written here.
pub fn run_all<T: Task>(task: &T, opts: &RunOptions) -> Result<Report> {
    let settings = task.settings();
    let wanted = settings.objective.teacher_weights.len();
    check_extra_teachers(settings, wanted)?;
    let resolved = task.resolved_toml()?;
    fsutil::create_dir_all(&opts.out)?;
    // What a killed run left half-written is removed before anything else is written.
    let swept = fsutil::sweep_temps(&opts.out, 3);
    if !swept.is_empty() && opts.progress {
        eprintln!(
            "removed {} temporary file(s) left by an interrupted run",
            swept.len()
        );
    }
    fsutil::write_atomic(
        &opts.out.join("experiment.resolved.toml"),
        resolved.as_bytes(),
    )?;
    if opts.progress {
        eprintln!("{}", task.describe_data());
    }
    let mut timings = Timings::default();
    ensure_teacher_and_store(task, opts, &mut timings)?;
    let teacher = teacher_path(&opts.out);
    let stores = open_teacher_stores(task, &teacher, &own_store(task, &opts.out)?, wanted)?;
    if let Some(w) = diagnose(task, &stores[0]).warning {
        eprintln!("warning: {w}");
    }
    if settings.tune.is_some() {
        let t = Instant::now();
        tune(task, opts)?;
        timings.tune_s = t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    for &seed in &settings.student_seeds {
        for kind in [StudentKind::Kd, StudentKind::Baseline] {
            if opts.resume {
                match student_freshness(task, kind, &stores, &teacher, seed, opts)? {
                    Freshness::Current => continue,
                    Freshness::Missing => {}
                    other => eprintln!(
                        "{}: {}; training it again",
                        student_path(&opts.out, kind, seed).display(),
                        other.describe()
                    ),
                }
            }
            train_student(task, kind, &stores, &teacher, seed, opts)?;
        }
    }
    timings.students_train_s = t.elapsed().as_secs_f64();
    compare(task, opts, Some(timings))
}

/// One model's quality and speed on the test set of its role, its test logits, and the model
/// (for predictions on other splits without loading it again).
pub struct Measured<M> {
    /// The report entry.
    pub report: ModelReport,
    /// Its logits on the test set (`rows × classes`).
    pub logits: Vec<f32>,
    /// The model, in evaluation mode.
    pub model: M,
}

/// Measures the model of `role` in `weights` on the test set: quality (against
/// `teacher_logits` for agreement and KL, when given), and speed unless `speed` is given (the
/// students share an architecture, so they are timed once).
pub fn measure<T: Task>(
    task: &T,
    role: Role,
    weights: &Path,
    seed: u64,
    teacher_logits: Option<&[f32]>,
    speed: Option<&SpeedMetrics>,
    opts: &RunOptions,
) -> Result<Measured<T::Model>> {
    let device = &opts.device;
    let ev = &task.settings().evaluation;
    let model = load_model(task, role, weights, device)?;
    let test = &task.splits(role).test;
    let logits = predict_logits(&model, test, EVAL_BATCH, device);
    let mut q = quality(
        &logits,
        test.labels(),
        task.class_names(),
        teacher_logits.or(Some(&logits)),
        ev.ece_bins,
    );
    if teacher_logits.is_none() {
        q.kl_to_teacher = Some(0.0);
    }
    // The card's temperature scaling (what `distill predict` applies); a model saved without
    // one (imported, or saved before there was one) has it fitted here the same way.
    let fit = match crate::card::card_calibration(weights)? {
        Some(fit) => Some((fit, true)),
        None => crate::task::calibrate(task, role, &model, None, device).map(|fit| (fit, false)),
    };
    let calibration = fit.map(|(fit, in_card)| {
        crate::report::CalibrationReport::check(
            fit,
            in_card,
            &logits,
            test.labels(),
            test.num_classes(),
            ev.ece_bins,
        )
    });
    let speed = match speed {
        Some(s) => s.clone(),
        None => {
            if opts.progress {
                eprintln!(
                    "timing {} ({} batch-1 runs)...",
                    role.name(),
                    ev.latency_runs
                );
            }
            let inputs = task.speed_inputs(role, ev.throughput_batch, device);
            measure_speed(&model, &inputs, ev.latency_runs, ev.warmup_runs)
        }
    };
    let file_bytes = std::fs::metadata(weights)
        .map_err(|e| Error::io(weights, e))?
        .len();
    let mut report = model_report(
        task.architecture(role),
        seed,
        model.num_params(),
        file_bytes,
        q,
        speed,
        load_history(weights)?,
    );
    report.calibration = calibration;
    Ok(Measured {
        report,
        logits,
        model,
    })
}

/// Measures both students (KD, baseline) for every seed with `measure(kind, seed, speed)`,
/// timing speed only once (the students share an architecture), and adds to `models` the
/// first seed's report of each and returns their summaries over the seeds.
pub fn measure_students(
    seeds: &[u64],
    models: &mut BTreeMap<String, ModelReport>,
    mut measure: impl FnMut(StudentKind, u64, Option<&SpeedMetrics>) -> Result<ModelReport>,
) -> Result<BTreeMap<String, SeedSummary>> {
    let mut summary = BTreeMap::new();
    let mut speed: Option<SpeedMetrics> = None;
    for kind in [StudentKind::Kd, StudentKind::Baseline] {
        let mut runs = Vec::new();
        for &seed in seeds {
            let r = measure(kind, seed, speed.as_ref())?;
            speed.get_or_insert_with(|| r.speed.clone());
            runs.push(r);
        }
        let stat = |f: &dyn Fn(&ModelReport) -> f64| Stat::of(runs.iter().map(f).collect());
        summary.insert(
            kind.name().to_string(),
            SeedSummary {
                seeds: seeds.to_vec(),
                accuracy: stat(&|r| r.quality.accuracy),
                last_epoch_accuracy: stat(&|r| r.last_epoch_accuracy),
                best_epoch_accuracy: stat(&|r| r.best_epoch_accuracy),
                macro_f1: stat(&|r| r.quality.macro_f1),
                agreement_with_teacher: stat(&|r| r.quality.agreement_with_teacher.unwrap_or(0.0)),
            },
        );
        models.insert(kind.name().to_string(), runs.swap_remove(0));
    }
    Ok(summary)
}

/// Step 4: evaluates the teacher and every student found under `opts.out` on the same test
/// set, writes `report.json`, `report.md`, `report.html` and the charts there, and prints the
/// table.
pub fn compare<T: Task>(task: &T, opts: &RunOptions, timings: Option<Timings>) -> Result<Report> {
    let settings = task.settings();
    // Nothing is reported under this configuration that another one made.
    let teacher_weights = teacher_path(&opts.out);
    artefact::require_current(&teacher_weights, &teacher_key(task)?, "teacher")?;
    let stores = open_teacher_stores(
        task,
        &teacher_weights,
        &own_store(task, &opts.out)?,
        settings.objective.teacher_weights.len(),
    )?;
    for &seed in &settings.student_seeds {
        for kind in [StudentKind::Kd, StudentKind::Baseline] {
            let fresh = student_freshness(task, kind, &stores, &teacher_weights, seed, opts)?;
            if fresh != Freshness::Current {
                return Err(Error::Weights {
                    path: student_path(&opts.out, kind, seed),
                    message: format!(
                        "the {} student of seed {seed} is {}; run the experiment again with \
                         `--resume` to retrain what changed",
                        kind.name(),
                        fresh.describe()
                    ),
                });
            }
        }
    }
    let teacher = measure(
        task,
        Role::Teacher,
        &teacher_path(&opts.out),
        settings.seed,
        None,
        None,
        opts,
    )?;
    let mut models = BTreeMap::new();
    models.insert("teacher".to_string(), teacher.report);
    let splits = task.splits(Role::Student);
    // Every student's per-row outcomes on the set the verdict is decided on (validation, else
    // test), so that its noise counts the rows as well as the seeds: a small validation split
    // is noisy however many seeds agree on it.
    let mut rows = crate::report::RowOutcomes::default();
    let seed_summary =
        measure_students(&settings.student_seeds, &mut models, |kind, seed, speed| {
            let path = student_path(&opts.out, kind, seed);
            let m = measure(
                task,
                Role::Student,
                &path,
                seed,
                Some(&teacher.logits),
                speed,
                opts,
            )?;
            let hits = match &splits.validation {
                Some(v) => crate::eval::hits_of(
                    &predict_logits(&m.model, v, EVAL_BATCH, &opts.device),
                    v.labels(),
                    v.num_classes(),
                ),
                None => {
                    crate::eval::hits_of(&m.logits, splits.test.labels(), splits.test.num_classes())
                }
            };
            match kind {
                StudentKind::Kd => rows.kd.push(hits),
                StudentKind::Baseline => rows.base.push(hits),
            }
            Ok(m.report)
        })?;
    let unit = task.kind().unit();
    let selection_set = match &splits.validation {
        Some(v) => format!(
            "validation split, {} {unit} held out of the training set (seeded, stratified)",
            v.len()
        ),
        None => format!(
            "test set, {} {unit} (no validation split)",
            splits.test.len()
        ),
    };
    let teacher_validation = task.splits(Role::Teacher).validation.as_ref().map(|v| {
        let logits = predict_logits(&teacher.model, v, EVAL_BATCH, &opts.device);
        crate::eval::accuracy_of(&logits, v.labels(), v.num_classes())
    });
    // With `objective = "auto"` the KD students train with the search's choice, and its last
    // rung (the same objective at the same budget, on the search's own seeds) is the verdict's
    // second check.
    let search = match settings.tune {
        Some(_) => Some(crate::tune::read_summary(&opts.out)?),
        None => None,
    };
    let verdict = crate::report::verdict(
        &seed_summary,
        &models,
        splits.validation.as_ref().map(|_| selection_set.as_str()),
        teacher_validation,
        search.as_ref().map(|s| crate::report::SearchCheck {
            kd: s.chosen_validation.clone(),
            no_kd: s.no_kd_validation.clone(),
        }),
        Some(&rows),
    );
    let selection = match &search {
        Some(summary) => Some(crate::report::Selection {
            markdown: crate::tune::to_markdown(summary),
            summary: serde_json::to_value(summary).map_err(|e| Error::Report(e.to_string()))?,
        }),
        None => None,
    };
    // The experiment's own store, opened (and checked) above.
    let teacher_diagnostics = Some(diagnose(task, &stores[0]));
    let report = Report {
        distill_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: settings.seed,
        student_seeds: settings.student_seeds.clone(),
        dataset_fingerprint: task.data_fingerprint(),
        eval_fingerprint: task.eval_fingerprint(),
        preprocessing: task.preprocessing(),
        eval_set: format!("test set, {} {}", splits.test.len(), task.kind().unit()),
        class_names: task.class_names().to_vec(),
        models,
        seed_summary,
        soft_labels: Some(store_info(&stores[0], splits.train.len())),
        timings,
        objective: crate::tune::kd_objective(task, &opts.out)?.describe(),
        config: task.config_json()?,
        selection_set,
        verdict,
        selection,
        teacher_diagnostics,
        data_notes: task.data_notes(),
    };
    crate::report::write_report(&report, &opts.out)?;
    println!("{}", crate::report::summary_table(&report));
    if let Some(v) = &report.verdict {
        println!("{}", v.lines.join("\n").replace("**", ""));
    }
    Ok(report)
}

/// `distill evaluate`: the quality and speed of one saved model of `role` on the test set.
pub fn evaluate<T: Task>(
    task: &T,
    role: Role,
    weights: &Path,
    opts: &RunOptions,
) -> Result<ModelReport> {
    let mut report = measure(task, role, weights, task.settings().seed, None, None, opts)?.report;
    report.quality.agreement_with_teacher = None;
    report.quality.kl_to_teacher = None;
    Ok(report)
}
