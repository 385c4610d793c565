//! Images: IDX files or the built-in Fashion-MNIST subset, MLP and CNN models, PyTorch teachers
//! imported with `[teacher.import]`.

use super::{RunOptions, Settings, Task};
use crate::classifier::{EVAL_BATCH, predict_logits};
use crate::config::Experiment;
use crate::data::{ImageDataset, LoadedImages, SkippedImage, Splits, load_images};
use crate::error::{Error, Result};
use crate::eval::SpeedInputs;
use crate::fsutil;
use crate::layout::{import_summary_path, teacher_path};
use crate::models::{Model, ModelConfig};
use crate::train::save_history;
use crate::vocab::{Normalize, Role, TaskKind};
use burn::module::Module;
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// An image experiment with its data loaded.
#[derive(Debug, Clone)]
pub struct ImageTask {
    /// The experiment file.
    pub experiment: Experiment,
    /// Its splits, normalised as every model sees them.
    pub splits: Splits,
    class_names: Vec<String>,
    settings: Settings,
    /// Images of a folder left out as unreadable (`data.on_bad_image = "skip"`).
    pub skipped: Vec<SkippedImage>,
}

/// Takes the classes the data files name (an image folder's sub-folders, CIFAR's name files)
/// into `experiment`: `data.num_classes` and `data.class_names` given in the file must agree
/// with them. The experiment is validated again with its real class count (e.g. DKD's).
fn adopt_class_names(experiment: &mut Experiment, found: &[String]) -> Result<()> {
    let data = &experiment.data;
    if data.num_classes_given && data.num_classes != found.len() {
        return Err(experiment.bad_value(
            "data.num_classes",
            data.num_classes.to_string(),
            &format!(
                "the data have {} classes ({}); leave data.num_classes out, it is read from them",
                found.len(),
                preview(found)
            ),
        ));
    }
    if let Some(names) = &data.class_names
        && names.as_slice() != found
    {
        return Err(experiment.bad_value(
            "data.class_names",
            preview(names),
            &format!(
                "the data name their classes {}, in this order; leave data.class_names out, \
                 they are read from the data",
                preview(found)
            ),
        ));
    }
    experiment.data.num_classes = found.len();
    experiment.data.class_names = Some(found.to_vec());
    experiment.data.num_classes_given = true;
    experiment.validate()
}

/// The first few names of a list, for messages.
fn preview(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
    if names.len() > shown.len() {
        format!("{}, … ({} in all)", shown.join(", "), names.len())
    } else {
        shown.join(", ")
    }
}

impl ImageTask {
    /// Loads the data the experiment names and checks both models against its image size.
    pub fn new(mut experiment: Experiment) -> Result<Self> {
        let loaded = match &experiment.teacher.import {
            // An imported teacher was trained on inputs normalised its way; everyone uses that.
            Some(import) => {
                let mut data = experiment.data.clone();
                data.normalize = Some(import.normalize);
                load_images(&data, experiment.data.split_seed)?
            }
            None => load_images(&experiment.data, experiment.data.split_seed)?,
        };
        if let Some(found) = &loaded.class_names {
            adopt_class_names(&mut experiment, found)?;
        }
        let LoadedImages {
            splits, skipped, ..
        } = loaded;
        let (h, w) = (splits.train.height, splits.train.width);
        experiment
            .teacher
            .model
            .check_input("teacher.model", h, w)?;
        experiment
            .student
            .model
            .check_input("student.model", h, w)?;
        let settings = Settings::of(
            &experiment,
            experiment.teacher.train.clone(),
            experiment.student.train.clone(),
        );
        let input = splits.train.input_shape();
        let classes = experiment.data.num_classes;
        super::check_top_k(&settings, classes)?;
        for (role, model) in [
            (Role::Teacher, &experiment.teacher.model),
            (Role::Student, &experiment.student.model),
        ] {
            super::check_memory(&settings, role, model.memory_estimate(input, classes))?;
        }
        let task = ImageTask {
            class_names: experiment.class_names(),
            experiment,
            splits,
            settings,
            skipped,
        };
        // Layers named by feature terms exist and can be bridged, before anything trains.
        super::feature_pairs(&task, &task.settings.objective, &|f, v, r| {
            task.settings.bad_value(f, v, r)
        })?;
        Ok(task)
    }

    fn config(&self, role: Role) -> &ModelConfig {
        match role {
            Role::Teacher => &self.experiment.teacher.model,
            Role::Student => &self.experiment.student.model,
        }
    }

    fn input(&self) -> [usize; 3] {
        self.splits.train.input_shape()
    }
}

impl Task for ImageTask {
    type Rows = ImageDataset;
    type Model = Model;

    fn kind(&self) -> TaskKind {
        TaskKind::Image
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    fn splits(&self, _role: Role) -> &Splits {
        &self.splits
    }

    fn class_names(&self) -> &[String] {
        &self.class_names
    }

    fn build(&self, role: Role, device: &Device) -> Result<Model> {
        Ok(self
            .config(role)
            .init(self.input(), self.splits.train.num_classes, device))
    }

    fn architecture(&self, role: Role) -> String {
        self.config(role).describe()
    }

    fn model_key(&self, role: Role) -> String {
        format!("{:?}", self.config(role))
    }

    fn data_fingerprint(&self) -> String {
        self.splits.train.fingerprint()
    }

    fn eval_fingerprint(&self) -> String {
        self.splits.test.fingerprint()
    }

    fn preprocessing(&self) -> String {
        self.splits.preprocessing()
    }

    fn save_card(
        &self,
        role: Role,
        weights: &Path,
        calibration: Option<crate::vocab::Calibration>,
    ) -> Result<()> {
        crate::predict::ModelCard {
            calibration,
            ..crate::predict::ModelCard::new(
                &self.experiment,
                self.config(role),
                self.input(),
                self.splits.normalize(),
            )
        }
        .save_for(weights)
    }

    /// Random normal images of the data's size (the speed does not depend on the pixels).
    fn speed_inputs(&self, _role: Role, batch: usize, device: &Device) -> SpeedInputs<Tensor<4>> {
        let [c, h, w] = self.input();
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        SpeedInputs {
            one: Tensor::random([1, c, h, w], normal, device),
            batches: vec![(Tensor::random([batch, c, h, w], normal, device), batch)],
            batch,
        }
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }

    fn resolved_toml(&self) -> Result<String> {
        toml::to_string_pretty(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }

    fn data_notes(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|s| {
                format!(
                    "skipped `{}`: {} (data.on_bad_image = \"skip\")",
                    s.path.display(),
                    s.reason
                )
            })
            .collect()
    }

    fn import_teacher(&self, opts: &RunOptions) -> Result<bool> {
        if self.experiment.teacher.import.is_none() {
            return Ok(false);
        }
        import_teacher(self, opts)?;
        Ok(true)
    }
}

/// What [`import_teacher`] did, saved as `OUT/teacher.import.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    /// The weights file read.
    pub source: PathBuf,
    /// Its SHA-256.
    pub source_sha256: String,
    /// Tensors loaded.
    pub tensors: usize,
    /// Keys of the file left out (`num_batches_tracked`, `ignore` patterns).
    pub ignored: Vec<String>,
    /// Top-1 accuracy on the test set.
    pub test_accuracy: f64,
    /// Test images it was measured on.
    pub test_images: usize,
    /// The accuracy below which it would have been refused.
    pub min_accuracy: f64,
    /// The normalisation it declares.
    pub normalize: Normalize,
}

/// Step 1 for a teacher trained elsewhere (`[teacher.import]`): loads its weights into the
/// declared architecture, measures it on the test set and refuses it when it scores near chance
/// (a wrong remapping, normalisation or layout loads without complaint and predicts rubbish).
/// Only then writes `OUT/teacher.safetensors` (distill's format) with its card, and
/// `OUT/teacher.import.json`.
pub fn import_teacher(task: &ImageTask, opts: &RunOptions) -> Result<ImportSummary> {
    let experiment = &task.experiment;
    let Some(import) = &experiment.teacher.import else {
        return Err(experiment.bad_value(
            "teacher.import",
            "missing".into(),
            "this experiment trains its teacher: run `distill train`",
        ));
    };
    let splits = &task.splits;
    let classes = splits.train.num_classes;
    let fresh = experiment
        .teacher
        .model
        .init(task.input(), classes, &opts.device);
    let plan = import.plan(&fresh)?;
    let model = import.load(fresh)?.valid();
    let test = &splits.test;
    let logits = predict_logits(&model, test, EVAL_BATCH, &opts.device);
    let accuracy = crate::eval::accuracy_of(&logits, &test.labels, classes);
    let mut counts = vec![0usize; classes];
    for &l in &test.labels {
        counts[l as usize] += 1;
    }
    let majority = *counts.iter().max().unwrap_or(&0) as f64 / test.len().max(1) as f64;
    let threshold = import.threshold(majority);
    if opts.progress {
        eprintln!(
            "imported teacher {}: {:.2}% top-1 on {} test images",
            import.weights.display(),
            100.0 * accuracy,
            test.len()
        );
    }
    if accuracy < threshold {
        return Err(Error::Weights {
            path: import.weights.clone(),
            message: format!(
                "the imported teacher scores {:.2}% on the {} test images, near chance \
                 (most frequent class {:.2}%; teacher.import.min_accuracy {:.2}%), so nothing \
                 was recorded. The weights loaded but do not compute what they did where they \
                 were trained: check that the remap rules pair each layer with its tensor \
                 (`distill import --dry-run`), that teacher.import.normalize is the mean and \
                 std it was trained with (currently {} / {}), and that teacher.model matches \
                 its layout (layer order, kernel size and padding, pooling, C×H×W flatten order)",
                100.0 * accuracy,
                test.len(),
                100.0 * majority,
                100.0 * threshold,
                import.normalize.mean,
                import.normalize.std
            ),
        });
    }
    fsutil::create_dir_all(&opts.out)?;
    let path = teacher_path(&opts.out);
    model.save(&path)?;
    save_history(&path, &[])?;
    task.save_card(
        Role::Teacher,
        &path,
        crate::task::calibrate(task, Role::Teacher, &model, None, &opts.device),
    )?;
    crate::artefact::seal(&path, &crate::task::teacher_key(task)?)?;
    let summary = ImportSummary {
        source: import.weights.clone(),
        source_sha256: fsutil::sha256_hex(&fsutil::read(&import.weights)?),
        tensors: plan.matched.len(),
        ignored: plan.ignored.iter().map(|t| t.name.clone()).collect(),
        test_accuracy: accuracy,
        test_images: test.len(),
        min_accuracy: threshold,
        normalize: import.normalize,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    fsutil::write_atomic(&import_summary_path(&opts.out), &json)?;
    Ok(summary)
}
