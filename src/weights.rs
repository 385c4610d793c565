//! Reading and writing a module's weights as safetensors: atomically, and refusing a file that
//! does not fit the architecture (missing, unexpected or mis-shaped tensors named).

use crate::error::{Error, Result};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::path::Path;

/// Saves a module's weights as safetensors, atomically.
pub(crate) fn save_safetensors<M: ModuleSnapshot>(module: &M, path: &Path) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
        module.save_into(&mut store).map_err(|e| Error::Weights {
            path: path.to_path_buf(),
            message: format!("cannot save: {e}"),
        })
    })
}

/// Loads safetensors saved by [`save_safetensors`] into a freshly built module of the same
/// architecture: every tensor must be present with its shape, and nothing left over.
pub(crate) fn load_safetensors<M: ModuleSnapshot>(mut module: M, path: &Path) -> Result<M> {
    if !path.is_file() {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    // Every value finite, and the tensors those the sealed card names (when there is one).
    crate::artefact::check_before_load(path, &crate::fsutil::read(path)?)?;
    // Partial application reports what is missing in one structured result, which is then
    // refused below: every tensor must be there, with nothing left over.
    let mut store = SafetensorsStore::from_file(path)
        .validate(true)
        .allow_partial(true);
    let result = module.load_from(&mut store).map_err(|e| Error::Weights {
        path: path.to_path_buf(),
        message: format!(
            "cannot load: {}",
            e.to_string().lines().next().unwrap_or("")
        ),
    })?;
    let list = first_three;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        let mut parts = Vec::new();
        if !result.missing.is_empty() {
            parts.push(format!(
                "missing {}",
                list(result.missing.into_iter().map(|(p, _)| p).collect())
            ));
        }
        if !result.unused.is_empty() {
            parts.push(format!("unexpected {}", list(result.unused)));
        }
        if !result.errors.is_empty() {
            parts.push(list(result.errors.iter().map(|e| e.to_string()).collect()));
        }
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: format!("does not fit this architecture: {}", parts.join("; ")),
        });
    }
    Ok(module)
}

/// The first three items, comma-separated, and how many more there are.
pub(crate) fn first_three(v: Vec<String>) -> String {
    let n = v.len();
    let mut shown: Vec<String> = v.into_iter().take(3).collect();
    if n > 3 {
        shown.push(format!("and {} more", n - 3));
    }
    shown.join(", ")
}
