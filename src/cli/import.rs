//! `distill import`: bring in a teacher trained elsewhere (PyTorch or safetensors weights),
//! or, with `--dry-run`, only show how the file's keys line up with the declared architecture.

use super::{Cli, Common};
use distill::error::{Error, Result};
use distill::pipeline::teacher_path;
use distill::task::image::{ImageTask, import_teacher};
use distill::task::{AnyTask, Task};
use distill::vocab::Role;

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
        let task = ImageTask::new(experiment.clone())?;
        let model = task.build(Role::Teacher, &distill::device_by_name(&cli.device)?)?;
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
    let (task, opts) = args.common.load(cli, false, false)?;
    let AnyTask::Image(task) = task else {
        return Err(Error::Argument {
            arg: "config".into(),
            value: args.common.config.display().to_string(),
            reason: format!(
                "a {} experiment: teachers are imported for image experiments ([teacher.import])",
                task.kind().name()
            ),
        });
    };
    let summary = import_teacher(&task, &opts)?;
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
