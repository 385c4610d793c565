//! `distill record`: run the teacher once over the training set and store its logits.

use super::{Cli, Common, StoreArgs};
use distill::error::{Error, Result};
use distill::pipeline::record_soft_labels;

/// Arguments of `distill record`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    paths: StoreArgs,
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
    let (task, opts) = args.common.load(cli, false, false)?;
    let (teacher, store) = args.paths.resolve(&opts.out);
    let file =
        distill::with_task!(&task, t => record_soft_labels(t, &teacher, &store, shard, &opts))?;
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
