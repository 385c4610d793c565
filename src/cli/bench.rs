//! `distill bench`: times training steps, recording, epochs and inference on synthetic data.

use super::Cli;
use distill::bench::{BenchOptions, WORKLOADS, run};
use distill::error::Result;
use std::path::PathBuf;

/// Arguments of `distill bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Write the results as JSON: `{"threads": N, "workloads": [{"name", "median_ms",
    /// "samples_per_s", ...}], ...}`.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Few repetitions on small sets: checks that everything runs (not a measurement).
    #[arg(long)]
    quick: bool,
    /// Only the workloads whose names contain one of these (comma-separated), e.g.
    /// `--only mlp,record`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip the fp32 FMA peak probe (and the GFLOP/s-of-peak figures).
    #[arg(long)]
    no_peak: bool,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    /// Instead of the workloads: time decoding this image folder (one sub-folder per class)
    /// into distill's cache, writing the cache, and reading it back.
    #[arg(long, value_name = "DIR")]
    decode: Option<PathBuf>,
    /// With --decode: the size images are brought to, `H,W`.
    #[arg(long, value_delimiter = ',', default_values_t = [32usize, 32])]
    image_size: Vec<usize>,
}

/// Runs the benchmark, prints one line per workload, writes the JSON.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if args.list {
        for w in WORKLOADS {
            println!("{w}");
        }
        return Ok(());
    }
    if let Some(dir) = &args.decode {
        return decode(cli, args, dir);
    }
    let device = distill::device_by_name(&cli.device)?;
    let opts = BenchOptions {
        quick: args.quick,
        only: args.only.clone(),
        probe_peak: !args.no_peak,
        progress: !cli.quiet,
        scratch: None,
    };
    let report = run(&opts, &device)?;
    if cli.quiet {
        for w in &report.workloads {
            println!("{}", distill::bench::describe(w));
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("report serialises");
        distill::fsutil::write_atomic(path, text.as_bytes())?;
        if !cli.quiet {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `distill bench --decode DIR`.
fn decode(cli: &Cli, args: &Args, dir: &std::path::Path) -> Result<()> {
    use distill::data::photos::{FolderSpec, time_decoding};
    let [h, w] = match args.image_size.as_slice() {
        [h, w] if *h > 0 && *w > 0 => [*h, *w],
        other => {
            return Err(distill::error::Error::Argument {
                arg: "--image-size".into(),
                value: format!("{other:?}"),
                reason: "takes H,W: two positive numbers".into(),
            });
        }
    };
    let spec = FolderSpec {
        channels: 3,
        size: [h, w],
        resize: distill::vocab::Resize::CenterCrop,
        on_bad_image: distill::config::BadImagePolicy::Fail,
        cache: false,
        cache_dir: None,
        memory_limit: None,
    };
    let scratch = tempfile_dir()?;
    let t = time_decoding(dir, &spec, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let t = t?;
    let rate = |s: f64| t.images as f64 / s.max(1e-9);
    println!(
        "decode {} images of {} to {h}x{w} RGB on {} threads: {:.2} s ({:.0} images/s); \
         write cache {:.3} s; read cache {:.3} s ({:.0} images/s, {} bytes)",
        t.images,
        dir.display(),
        rayon::current_num_threads(),
        t.decode_s,
        rate(t.decode_s),
        t.write_cache_s,
        t.read_cache_s,
        rate(t.read_cache_s),
        t.cache_bytes
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&t).expect("times serialise");
        distill::fsutil::write_atomic(path, text.as_bytes())?;
        if !cli.quiet {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// A fresh scratch folder under the system's temp folder.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("distill-bench-decode-{}", std::process::id()));
    distill::fsutil::create_dir_all(&dir)?;
    Ok(dir)
}
