//! `distill import`: bring in a teacher trained elsewhere (PyTorch or safetensors weights),
//! or, with `--dry-run`, only show how the file's keys line up with the declared architecture.

use super::{Cli, Common};
use distill::error::{Error, Result};
use distill::pipeline::{import_teacher, teacher_path};

/// Arguments of `distill import`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// List matched, missing, mismatched and unused keys (after remapping) with their shapes,
    /// and load nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Imports the teacher into `OUT/teacher.safetensors`, after checking its accuracy.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if args.dry_run {
        let experiment = distill::config::Experiment::load(&args.common.config)?;
        let Some(import) = &experiment.teacher.import else {
            return Err(experiment.bad_value(
                "teacher.import",
                "missing".into(),
                "this experiment trains its teacher; nothing to import",
            ));
        };
        // The data give the image size and the class count.
        let splits = distill::pipeline::prepare(&experiment)?;
        let input = [1, splits.train.height, splits.train.width];
        let model = experiment.teacher.model.init(
            input,
            splits.train.num_classes,
            &distill::device_by_name(&cli.device)?,
        );
        let plan = import.plan(&model)?;
        println!(
            "{} against teacher.model ({}), keys after remapping:",
            import.weights.display(),
            experiment.teacher.model.describe()
        );
        print!("{}", plan.listing());
        return if plan.fits() {
            println!("the file fits: `distill import` (without --dry-run) loads it");
            Ok(())
        } else {
            Err(Error::Weights {
                path: import.weights.clone(),
                message: format!("does not fit teacher.model: {}", plan.summary()),
            })
        };
    }
    let (experiment, splits, opts) = args.common.load(cli, false)?;
    let summary = import_teacher(&experiment, &splits, &opts)?;
    println!(
        "teacher: imported {} tensors from {}; test accuracy {:.2}% on {} images; saved {}",
        summary.tensors,
        summary.source.display(),
        100.0 * summary.test_accuracy,
        summary.test_images,
        teacher_path(&opts.out).display()
    );
    Ok(())
}
