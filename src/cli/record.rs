//! `distill record`: run the teacher once over the training set and store its logits.

use super::{Cli, Common, StoreArgs};
use distill::error::{Error, Result};
use distill::pipeline::{diagnose, open_soft_labels, record_soft_labels};

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
    /// Keep only the K largest logits of each row (and the log-sum-exp of the rest): a small
    /// store when there are many classes. Overrides `[soft_labels] top_k`.
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
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
    let (mut task, opts) = args.common.load_unlocked(cli, false, false)?;
    if let Some(k) = args.top_k {
        if k == 0 || k > distill::config::MAX_TOP_K {
            return Err(Error::Argument {
                arg: "--top-k".into(),
                value: k.to_string(),
                reason: format!("must be 1..={}", distill::config::MAX_TOP_K),
            });
        }
        distill::with_task!(&mut task, t => distill::task::Task::settings_mut(t).top_k = Some(k));
    }
    let (teacher, store) = args.paths.resolve(&task, &opts.out)?;
    let file = distill::with_task!(&task, t => {
        let file = record_soft_labels(t, &teacher, &store, shard, &opts)?;
        // Once the last shard is in, say how much the soft labels carry.
        if let Ok(labels) = open_soft_labels(t, &teacher, &store) {
            let d = diagnose(t, &labels);
            if !cli.quiet {
                eprintln!(
                    "teacher on its training rows: accuracy {:.2}%, logit scale {:.2}",
                    100.0 * d.train_accuracy,
                    d.logit_scale
                );
                for at in &d.temperatures {
                    eprintln!(
                        "  T {:>4}: mean top probability {:.3}, entropy {:.3} of ln C, non-target mass {:.3}",
                        at.temperature, at.mean_top_probability, at.mean_entropy, at.mean_non_target_mass
                    );
                }
            }
            if let Some(w) = &d.warning {
                eprintln!("warning: {w}");
            }
        }
        Ok::<_, Error>(file)
    })?;
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
