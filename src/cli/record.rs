//! `distill record`: run the teacher once over the training set and store its logits.

use super::{Cli, Common, options};
use distill::config::Experiment;
use distill::error::{Error, Result};
use distill::pipeline::{prepare, record_soft_labels, soft_labels_dir, teacher_path};
use std::path::PathBuf;

/// Arguments of `distill record`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Teacher weights (default: OUT/teacher.safetensors).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Store folder (default: OUT/soft_labels).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Record only shard i of N (0-based), e.g. `--shard 2/8`; shards are independent processes.
    #[arg(long, default_value = "0/1")]
    shard: String,
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || Error::Argument {
        arg: "--shard".into(),
        value: s.into(),
        reason: "expected i/N with 0 <= i < N, e.g. 0/4".into(),
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Records one shard.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let shard = parse_shard(&args.shard)?;
    let experiment = Experiment::load(&args.common.config)?;
    let splits = prepare(&experiment)?;
    let opts = options(cli, args.common.out.clone(), false)?;
    let teacher = args
        .teacher
        .clone()
        .unwrap_or_else(|| teacher_path(&opts.out));
    let store = args
        .store
        .clone()
        .unwrap_or_else(|| soft_labels_dir(&opts.out));
    let file = record_soft_labels(&experiment, &splits, &teacher, &store, shard, &opts)?;
    println!("wrote {}", file.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_shard;

    #[test]
    fn shard_argument() {
        assert_eq!(parse_shard("2/8").unwrap(), (2, 8));
        for bad in ["8/8", "1", "a/2", "0/0"] {
            assert!(
                parse_shard(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("--shard")
            );
        }
    }
}
