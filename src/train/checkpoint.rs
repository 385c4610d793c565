//! Per-epoch checkpoints: model weights, optimiser state and the training history, written
//! atomically (a temporary folder renamed into place, then a `latest.json` pointer) so that
//! `--resume` always finds a complete one.

use super::EpochRecord;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::objective::Discriminator;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a checkpoint remembers besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Hash of the model, recipe, objective and seed: a checkpoint of another run is refused.
    pub run_key: String,
    /// Per-epoch records so far.
    pub history: Vec<EpochRecord>,
    /// The distill version that wrote it (absent in checkpoints of 0.1.0 before it was kept).
    #[serde(default)]
    pub distill_version: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Latest {
    dir: String,
}

fn epoch_dir(root: &Path, epoch: usize) -> PathBuf {
    root.join(format!("epoch-{epoch:04}"))
}

/// A discriminator and its optimiser (adversarial objectives).
pub type DiscriminatorState = (Discriminator, ModuleOptimizer);

/// Writes the checkpoint after `state.epochs_done` epochs and removes older ones.
pub fn save<M: Module>(
    root: &Path,
    model: &M,
    optimizer: &ModuleOptimizer,
    discriminator: Option<&DiscriminatorState>,
    state: &CheckpointState,
) -> Result<()> {
    fsutil::create_dir_all(root)?;
    let final_dir = epoch_dir(root, state.epochs_done);
    let tmp = fsutil::temp_path(&final_dir);
    let _ = std::fs::remove_dir_all(&tmp);
    fsutil::create_dir_all(&tmp)?;
    // Burnpack keeps each parameter's id, which the optimiser state is keyed by.
    let model_path = tmp.join("model.bpk");
    model
        .clone()
        .save_file(&model_path)
        .map_err(|e| Error::Weights {
            path: model_path.clone(),
            message: format!("cannot save checkpoint weights: {e}"),
        })?;
    let opt_path = tmp.join("optimizer.bpk");
    optimizer.save(&opt_path).map_err(|e| Error::Weights {
        path: opt_path.clone(),
        message: format!("cannot save optimiser state: {e}"),
    })?;
    if let Some((d, d_opt)) = discriminator {
        let d_path = tmp.join("discriminator.bpk");
        d.clone().save_file(&d_path).map_err(|e| Error::Weights {
            path: d_path.clone(),
            message: format!("cannot save the discriminator: {e}"),
        })?;
        let o_path = tmp.join("discriminator_optimizer.bpk");
        d_opt.save(&o_path).map_err(|e| Error::Weights {
            path: o_path.clone(),
            message: format!("cannot save the discriminator's optimiser state: {e}"),
        })?;
    }
    let json = serde_json::to_vec_pretty(state).expect("state serialises");
    fsutil::write_atomic(&tmp.join("state.json"), &json)?;
    let _ = std::fs::remove_dir_all(&final_dir);
    fsutil::sync_tree(&tmp)?;
    fsutil::rename(&tmp, &final_dir)?;
    fsutil::sync_parent(&final_dir);
    let latest = Latest {
        dir: final_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    };
    fsutil::write_atomic(
        &root.join("latest.json"),
        &serde_json::to_vec(&latest).expect("serialises"),
    )?;
    // Older checkpoints are no longer needed.
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && name.starts_with("epoch-") && p != final_dir {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
    Ok(())
}

/// What [`load`] restores.
pub type Restored<M> = (
    M,
    ModuleOptimizer,
    Option<DiscriminatorState>,
    CheckpointState,
);

/// Loads the latest checkpoint under `root`, if any, into `model`, `optimizer` and the
/// discriminator. Checkpoints whose `run_key` differs (another configuration) are removed and
/// `None` is returned: the run starts from scratch.
pub fn load<M: Module>(
    root: &Path,
    run_key: &str,
    model: M,
    optimizer: ModuleOptimizer,
    discriminator: Option<DiscriminatorState>,
) -> Result<Option<Restored<M>>> {
    let latest_path = root.join("latest.json");
    if !latest_path.is_file() {
        return Ok(None);
    }
    let bad = |path: &Path, message: String| Error::Weights {
        path: path.to_path_buf(),
        message,
    };
    let latest: Latest = serde_json::from_slice(&fsutil::read(&latest_path)?)
        .map_err(|e| bad(&latest_path, format!("unreadable: {e}")))?;
    let dir = root.join(&latest.dir);
    let state_path = dir.join("state.json");
    let state: CheckpointState = serde_json::from_slice(&fsutil::read(&state_path)?)
        .map_err(|e| bad(&state_path, format!("unreadable: {e}")))?;
    if state.run_key != run_key {
        // Checkpoints of another configuration (or another build) under this run's name: the
        // run starts again from scratch, and they go, so that none of them is ever mixed in.
        let by = match &state.distill_version {
            Some(v) if v != env!("CARGO_PKG_VERSION") => format!(" (written by distill {v})"),
            _ => String::new(),
        };
        eprintln!(
            "{}: the checkpoints there belong to another configuration{by}; this run starts from scratch",
            root.display()
        );
        std::fs::remove_dir_all(root).map_err(|e| Error::io(root, e))?;
        return Ok(None);
    }
    let model_path = dir.join("model.bpk");
    let model = model
        .try_load_file(&model_path)
        .map_err(|e| bad(&model_path, format!("cannot load checkpoint weights: {e}")))?;
    let opt_path = dir.join("optimizer.bpk");
    let optimizer = optimizer
        .load(&opt_path)
        .map_err(|e| bad(&opt_path, format!("cannot load optimiser state: {e}")))?;
    let discriminator = match discriminator {
        Some((d, d_opt)) => {
            let d_path = dir.join("discriminator.bpk");
            let d = d
                .try_load_file(&d_path)
                .map_err(|e| bad(&d_path, format!("cannot load the discriminator: {e}")))?;
            let o_path = dir.join("discriminator_optimizer.bpk");
            let d_opt = d_opt.load(&o_path).map_err(|e| {
                bad(
                    &o_path,
                    format!("cannot load the discriminator's optimiser state: {e}"),
                )
            })?;
            Some((d, d_opt))
        }
        None => None,
    };
    Ok(Some((model, optimizer, discriminator, state)))
}
