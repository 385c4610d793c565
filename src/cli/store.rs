//! `distill store`: look at a soft-label store, local or on object storage, without an
//! experiment file.

use super::Cli;
use distill::error::Result;
use distill::soft_labels::{HEADER_PEEK, StoreLocation, peek_header, verify_store};
use std::io::Write;

/// Arguments of `distill store`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Check that every shard is present, in its own range, recorded from one teacher and data
    /// set, and uncorrupted (every checksum); print the provenance. Exit 1 if not.
    Verify {
        /// The store: a folder, or `s3://bucket/prefix` (also `gs://`, `az://`, `file://`).
        store: String,
    },
    /// List the shards with their sizes and row ranges (headers only; no checksum is checked).
    Ls {
        /// The store: a folder, or `s3://bucket/prefix` (also `gs://`, `az://`, `file://`).
        store: String,
    },
}

/// Runs the action.
pub fn exec(_cli: &Cli, args: &Args) -> Result<()> {
    match &args.action {
        Action::Verify { store } => {
            let location = StoreLocation::parse(store)?;
            let s = verify_store(&location)?;
            let p = &s.provenance;
            print_lines(&[
                format!("store {location}: OK"),
                format!(
                    "  {} shards, {} samples × {} classes, {}, {} bytes ({:.1} per sample)",
                    s.shards,
                    s.num_samples,
                    s.num_classes,
                    match (s.top_k, &p.views) {
                        (Some(k), _) => format!("top-{k}"),
                        (None, Some(v)) => format!("{} augmented views per sample", v.count),
                        (None, None) => "dense".into(),
                    },
                    s.bytes,
                    s.bytes as f64 / s.num_samples.max(1) as f64
                ),
                format!("  teacher tensors sha256: {}", p.teacher_hash),
                format!("  dataset fingerprint:    {}", p.dataset_fingerprint),
                format!("  preprocessing:          {}", p.preprocessing),
            ]);
            Ok(())
        }
        Action::Ls { store } => {
            let location = StoreLocation::parse(store)?;
            let shards = location.list_shards()?;
            let mut lines = Vec::new();
            if shards.is_empty() {
                lines.push(format!("{location}: no shards"));
            }
            for shard in shards {
                let path = location.shard_path(&shard.name);
                let head = location.read_head(&shard.name, HEADER_PEEK)?;
                lines.push(match peek_header(&head, &path) {
                    Ok(h) => format!(
                        "{}  {:>12} bytes  shard {}/{}  rows {}..{} of {}  {}  sha256 {}",
                        shard.name,
                        shard.bytes,
                        h.shard_index,
                        h.num_shards,
                        h.start,
                        h.end,
                        h.num_samples,
                        h.top_k.map_or("dense".into(), |k| format!("top-{k}")),
                        h.sha256.get(..12).unwrap_or(&h.sha256)
                    ),
                    Err(e) => format!("{}  {:>12} bytes  unreadable: {e}", shard.name, shard.bytes),
                });
            }
            print_lines(&lines);
            Ok(())
        }
    }
}

/// Prints `lines` to stdout; output piped into `head` stops quietly when the pipe closes.
fn print_lines(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
