//! The Kubernetes Indexed Job of `deploy/k8s/record-job.yaml`: valid against the Kubernetes
//! schema (`kubernetes-validate --strict`, PyPI, offline; `.ci/run` installs it and sets
//! `DISTILL_REQUIRE_TOOLS=1`), and in line with the `distill record` it runs. The job's
//! contract itself (N recorders, one killed and rerun) is tested in `s3.rs`.

use std::path::Path;
use std::process::Command;

fn manifest() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s/record-job.yaml"),
    )
    .unwrap()
}

/// The value after `key: ` on the first line that has it.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key}"))
        .trim()
}

#[test]
fn the_record_job_is_a_valid_indexed_job() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s/record-job.yaml");
    match Command::new("kubernetes-validate")
        .args(["--strict", path.to_str().unwrap()])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                std::env::var_os("DISTILL_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "DISTILL_REQUIRE_TOOLS=1 but kubernetes-validate cannot run: {e}"
            );
            eprintln!(
                "\n*** SKIPPED the schema check of record-job.yaml: kubernetes-validate: {e}. \
                 Install it with `pip install kubernetes-validate`; CI does. ***\n"
            );
        }
    }
}

#[test]
fn the_record_job_runs_one_shard_per_index_with_the_flags_distill_record_has() {
    let m = manifest();
    assert_eq!(field(&m, "kind"), "Job");
    assert_eq!(field(&m, "completionMode"), "Indexed");
    let n = field(&m, "completions");
    assert_eq!(field(&m, "parallelism"), n);
    let shards = m
        .split("name: SHARDS")
        .nth(1)
        .map(|rest| field(rest, "value").trim_matches('"').to_string())
        .unwrap();
    assert_eq!(shards, n, "SHARDS must equal completions");
    assert!(m.contains(r#"--shard "$JOB_COMPLETION_INDEX/$SHARDS""#));
    let help = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["record", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--out", "--teacher", "--store", "--shard"] {
        assert!(m.contains(flag) && help.contains(flag), "{flag}");
    }
}
