//! Every experiment and sweep file under `examples/` (and `bench/`, whose scripts run them)
//! parses and validates with the current schema, so that a file the README or
//! `docs/RESULTS.md` tells a user to run is never stale.
//! The data and models the files name are neither read nor required (most are downloads).

use distill::config::Experiment;
use distill::error::Result;
use distill::sweep::SweepConfig;
use distill::tabular::TabularExperiment;
use distill::task::task_kind_of;
use distill::text::config::TextExperiment;
use distill::vocab::TaskKind;
use std::path::{Path, PathBuf};

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// Loads one file as what it is: a sweep file (it names an `experiment`) or an experiment of
/// the kind its `task` key says.
fn load(path: &Path) -> Result<&'static str> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()));
    if table.contains_key("experiment") {
        let sweep = SweepConfig::load(path)?;
        load(&sweep.experiment)?;
        return Ok("sweep");
    }
    // `parse` checks every field that can be checked without the files the experiment names
    // (`load` also wants the data and pre-trained models present, which CI does not download).
    Ok(match task_kind_of(&text, path)? {
        TaskKind::Image => Experiment::parse(&text, path).map(|_| "image")?,
        TaskKind::Text => TextExperiment::parse(&text, path).map(|_| "text")?,
        TaskKind::Tabular => TabularExperiment::parse(&text, path).map(|_| "tabular")?,
    })
}

#[test]
fn every_example_file_loads_with_the_current_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    toml_files(&dir, &mut files);
    files.sort();
    assert!(
        files.len() >= 20,
        "only {} example files found in {}",
        files.len(),
        dir.display()
    );
    let mut kinds = std::collections::BTreeMap::new();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| match load(f) {
            Ok(kind) => {
                *kinds.entry(kind).or_insert(0) += 1;
                None
            }
            Err(e) => Some(e.to_string()), // every error names its file
        })
        .collect();
    assert!(
        failures.is_empty(),
        "example files that do not load:\n{}",
        failures.join("\n")
    );
    // Every kind of file is covered, so a schema change to any of them is caught here.
    for kind in ["image", "text", "tabular", "sweep"] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} example among {kinds:?}"
        );
    }
}
