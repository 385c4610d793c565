//! What a saved model was made from, and proof that its file is still what was saved.
//!
//! Every model distill saves (teacher, students, search and sweep runs) is three files: the
//! weights (`NAME.safetensors`), the training history and the model card
//! (`NAME.model.json`). The card is written last and then *sealed*: a [`Stamp`] is added to
//! it with
//! - the run key: the hash of what made the model ([`RunKey`]: model, training data,
//!   preprocessing, recipe, objective, teacher, seed, distill version), with the parts
//!   themselves, so that a mismatch can say what changed;
//! - the SHA-256 of the weights' tensors (names, dtypes, shapes and bytes in name order; the
//!   file's metadata, whose order burn does not fix, is left out), which every load checks.
//!
//! A model is complete only when its card carries a stamp. `--resume` reuses a model only when
//! its stamp's run key is the one the current configuration gives, and `compare` refuses a
//! model made under another configuration.

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a model is made from, part by part (`name → value`; long values are hashed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunKey {
    parts: BTreeMap<String, String>,
}

/// Longest part value kept verbatim; longer ones are kept as their SHA-256.
const VERBATIM: usize = 64;

impl RunKey {
    /// An empty key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a part (its value hashed when longer than 64 characters).
    pub fn part(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        let value = if value.len() > VERBATIM {
            format!("sha256:{}", fsutil::sha256_hex(value.as_bytes()))
        } else {
            value
        };
        self.parts.insert(name.to_string(), value);
        self
    }

    /// The key's hash over all its parts.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(&self.parts).expect("a map of strings serialises");
        fsutil::sha256_hex(text.as_bytes())
    }

    /// The names of the parts that differ between `self` and `other` (present in one only, or
    /// with different values).
    pub fn changed(&self, other: &RunKey) -> Vec<String> {
        let mut names: Vec<&String> = self.parts.keys().chain(other.parts.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.parts.get(*n) != other.parts.get(*n))
            .cloned()
            .collect()
    }
}

/// The seal on a model card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// [`RunKey::digest`] of `made_from`.
    pub run_key: String,
    /// The parts of the run key.
    pub made_from: RunKey,
    /// [`tensors_sha256`] of the weights file.
    pub tensors_sha256: String,
    /// SHA-256 of the card itself without its stamp ([`card_sha256`]): an edited card field
    /// (a normalisation, a class name) is refused like a flipped weight.
    pub card_sha256: String,
}

/// SHA-256 of a card's JSON without its `stamp` (keys in a fixed order).
pub fn card_sha256(card: &serde_json::Value) -> String {
    let mut card = card.clone();
    if let Some(object) = card.as_object_mut() {
        object.remove("stamp");
    }
    let text = serde_json::to_string(&card).expect("a JSON value serialises");
    fsutil::sha256_hex(text.as_bytes())
}

/// Where the card of `weights` lives (`NAME.model.json` beside `NAME.safetensors`).
pub fn card_path(weights: &Path) -> PathBuf {
    weights.with_extension("model.json")
}

/// SHA-256 over the tensors of a safetensors file (each tensor's name, dtype, shape and bytes,
/// in name order), after checking that every floating-point value is finite. The file's
/// free-form metadata is not covered: the same tensors give the same hash.
pub fn tensors_sha256(path: &Path) -> Result<String> {
    tensors_digest(path, &fsutil::read(path)?)
}

/// [`tensors_sha256`] of the bytes of the safetensors file `path`.
pub fn tensors_digest(path: &Path, bytes: &[u8]) -> Result<String> {
    use safetensors::{Dtype, SafeTensors};
    let bad = |message: String| Error::Weights {
        path: path.to_path_buf(),
        message,
    };
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let mut tensors = file.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, view) in &tensors {
        let data = view.data();
        let non_finite = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
            Dtype::F64 => data
                .chunks_exact(8)
                .position(|c| !f64::from_le_bytes(c.try_into().expect("8 bytes")).is_finite()),
            Dtype::F16 => data
                .chunks_exact(2)
                .position(|c| !half::f16::from_le_bytes([c[0], c[1]]).is_finite()),
            Dtype::BF16 => data
                .chunks_exact(2)
                .position(|c| !half::bf16::from_le_bytes([c[0], c[1]]).is_finite()),
            _ => None,
        };
        if let Some(at) = non_finite {
            return Err(bad(format!(
                "tensor {name:?} holds a non-finite value (NaN or infinity) at element {at}: \
                 the model diverged or the file is corrupt"
            )));
        }
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(format!("{:?}", view.dtype()).as_bytes());
        hasher.update((view.shape().len() as u64).to_le_bytes());
        for d in view.shape() {
            hasher.update((*d as u64).to_le_bytes());
        }
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(data);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The stamp on the card of `weights`: `None` when there is no card or the card is not sealed;
/// an error when the card or the stamp was edited after sealing.
pub fn stamp_of(weights: &Path) -> Result<Option<Stamp>> {
    let path = card_path(weights);
    if !path.is_file() {
        return Ok(None);
    }
    let card: serde_json::Value =
        serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable model card: {e}"),
        })?;
    let stamp: Stamp = match card.get("stamp") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(s) => serde_json::from_value(s.clone()).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable stamp in the model card: {e}"),
        })?,
    };
    let changed = |what: &str| Error::Weights {
        path: path.clone(),
        message: format!(
            "{what} changed after the model was saved (the card's stamp no longer matches it)"
        ),
    };
    if stamp.card_sha256 != card_sha256(&card) {
        return Err(changed("the card"));
    }
    if stamp.run_key != stamp.made_from.digest() {
        return Err(changed("the stamp's record of what made the model"));
    }
    Ok(Some(stamp))
}

/// Seals the card of `weights` (already written, like the weights and the history) with
/// `key` and the hash of the weights' tensors. This is the last write of a saved model: a
/// model whose card has no stamp is incomplete.
pub fn seal(weights: &Path, key: &RunKey) -> Result<Stamp> {
    let path = card_path(weights);
    let mut card: serde_json::Value =
        serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable model card: {e}"),
        })?;
    let stamp = Stamp {
        run_key: key.digest(),
        made_from: key.clone(),
        tensors_sha256: tensors_sha256(weights)?,
        card_sha256: card_sha256(&card),
    };
    let object = card.as_object_mut().ok_or_else(|| Error::Weights {
        path: path.clone(),
        message: "the model card is not a JSON object".into(),
    })?;
    object.insert(
        "stamp".into(),
        serde_json::to_value(&stamp).expect("a stamp serialises"),
    );
    let json = serde_json::to_vec_pretty(&card).expect("a card serialises");
    fsutil::write_atomic(&path, &json)?;
    Ok(stamp)
}

/// Whether a saved model can stand for the run `expected` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Complete, made by this run, tensors intact.
    Current,
    /// No weights file.
    Missing,
    /// Weights without a sealed card: a save that did not finish, or a model of a distill that
    /// did not seal its cards.
    Unsealed,
    /// Made by another run: the parts of the key that differ.
    Stale(Vec<String>),
    /// The weights' tensors no longer match the stamp (or cannot be read).
    Changed(String),
}

impl Freshness {
    /// One line for a user: why the model is not reused.
    pub fn describe(&self) -> String {
        match self {
            Freshness::Current => "complete and made by this configuration".into(),
            Freshness::Missing => "not there".into(),
            Freshness::Unsealed => {
                "incomplete (its model card carries no stamp: the save was interrupted, or an \
                 older distill wrote it)"
                    .into()
            }
            Freshness::Stale(parts) => format!(
                "made by another configuration ({} changed)",
                parts.join(", ")
            ),
            Freshness::Changed(why) => format!("changed since it was saved: {why}"),
        }
    }
}

/// Checks the model in `weights` against the run key `expected`.
pub fn freshness(weights: &Path, expected: &RunKey) -> Freshness {
    if !weights.is_file() {
        return Freshness::Missing;
    }
    let stamp = match stamp_of(weights) {
        Ok(Some(s)) => s,
        Ok(None) => return Freshness::Unsealed,
        Err(e) => return Freshness::Changed(e.to_string()),
    };
    if stamp.run_key != expected.digest() {
        let mut changed = stamp.made_from.changed(expected);
        if changed.is_empty() {
            changed.push("the stamp's own hash".into());
        }
        return Freshness::Stale(changed);
    }
    match tensors_sha256(weights) {
        Ok(h) if h == stamp.tensors_sha256 => Freshness::Current,
        Ok(_) => Freshness::Changed("its tensors do not match the stamp's checksum".into()),
        Err(e) => Freshness::Changed(e.to_string()),
    }
}

/// Refuses a model that the run `expected` describes did not make (`compare` uses it, so that
/// an old model is never reported under a new configuration).
pub fn require_current(weights: &Path, expected: &RunKey, what: &str) -> Result<()> {
    match freshness(weights, expected) {
        Freshness::Current => Ok(()),
        other => Err(Error::Weights {
            path: weights.to_path_buf(),
            message: format!(
                "the {what} is {}; run the experiment again with `--resume` to retrain what \
                 changed",
                other.describe()
            ),
        }),
    }
}

/// Checks the bytes of the weights file `path` before they are loaded: every floating-point
/// value finite and, when the card beside it is sealed, the tensors those the stamp names.
pub fn check_before_load(path: &Path, bytes: &[u8]) -> Result<()> {
    let digest = tensors_digest(path, bytes)?;
    if let Some(stamp) = stamp_of(path)?
        && stamp.tensors_sha256 != digest
    {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: format!(
                "its tensors do not match the checksum in {}: the file was changed or \
                 corrupted after it was saved",
                card_path(path).display()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_names_the_parts_that_differ() {
        let a = RunKey::new().part("seed", "1").part("objective", "kd T4");
        let b = RunKey::new().part("seed", "1").part("objective", "kd T1");
        let c = a.clone().part("teacher", "abc");
        assert_eq!(a.changed(&b), vec!["objective".to_string()]);
        assert_eq!(a.changed(&c), vec!["teacher".to_string()]);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), a.clone().digest());
    }

    #[test]
    fn long_parts_are_hashed() {
        let k = RunKey::new().part("recipe", "x".repeat(200));
        assert!(k.parts["recipe"].starts_with("sha256:"));
    }
}
