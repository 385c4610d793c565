//! Soft-label stores on a real S3-compatible server: `moto_server` (PyPI `moto[server]`),
//! started on a free loopback port for each test. `.ci/run` installs it and sets
//! `DISTILL_REQUIRE_TOOLS=1`, so that in CI a missing server fails the tests instead of skipping
//! them. Elsewhere, without `moto_server` on the PATH, each test says loudly that it skipped.
//!
//! What is checked: shards go up once and are never overwritten (a different shard under the
//! same name is refused, the same shard is accepted as already there); the multipart path
//! (upload to a temporary key, then a conditional copy) leaves nothing behind; and the issue's
//! contract for a cluster job: N concurrent `distill record --shard i/N` processes writing to
//! `s3://`, one of them killed mid-way and run again, give a store that `distill store verify`
//! accepts and that trains the same student, bit for bit, as a single-process local recording.

use crate::common;
use distill::soft_labels::{
    Published, ShardHeader, StoreLocation, load_store, shard_file_name, shard_range, write_shard,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `moto_server` on a free port of 127.0.0.1, killed on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts the server, or returns `None` (after saying so loudly) when `moto_server` is not
    /// installed and `DISTILL_REQUIRE_TOOLS` is not set.
    fn start(test: &str) -> Option<S3Server> {
        let required = std::env::var_os("DISTILL_REQUIRE_TOOLS").is_some_and(|v| v == "1");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !required,
                    "DISTILL_REQUIRE_TOOLS=1 but moto_server cannot start: {e}"
                );
                eprintln!(
                    "\n*** SKIPPED {test}: no S3-compatible server (moto_server: {e}). \
                     Install it with `pip install 'moto[server]'`; CI does. ***\n"
                );
                return None;
            }
        };
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// One unsigned HTTP request (moto answers them); the whole reply.
    fn raw(&self, method: &str, path: &str) -> String {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }

    /// Creates a bucket.
    fn bucket(&self, name: &str) {
        let reply = self.raw("PUT", &format!("/{name}"));
        assert!(reply.starts_with("HTTP/1.1 200"), "create bucket: {reply}");
    }

    /// The settings that point object_store at this server.
    fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "testing".into()),
            ("aws_secret_access_key", "testing".into()),
            ("aws_region", "us-east-1".into()),
        ]
    }

    /// The same settings as environment variables, for `distill` processes.
    fn envs(&self) -> Vec<(&'static str, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| {
                let key = match k {
                    "aws_endpoint" => "AWS_ENDPOINT",
                    "aws_allow_http" => "AWS_ALLOW_HTTP",
                    "aws_access_key_id" => "AWS_ACCESS_KEY_ID",
                    "aws_secret_access_key" => "AWS_SECRET_ACCESS_KEY",
                    _ => "AWS_REGION",
                };
                (key, v)
            })
            .collect()
    }

    fn location(&self, url: &str) -> StoreLocation {
        let options = self.options();
        let borrowed: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        StoreLocation::parse_with_options(url, &borrowed).unwrap()
    }
}

fn header(index: usize, count: usize, total: usize, classes: usize, teacher: &str) -> ShardHeader {
    let (start, end) = shard_range(total, index, count);
    ShardHeader {
        num_samples: total,
        num_classes: classes,
        shard_index: index,
        num_shards: count,
        start,
        end,
        dtype: "f16".into(),
        top_k: None,
        provenance: distill::soft_labels::Provenance {
            teacher_hash: teacher.into(),
            dataset_fingerprint: "data".into(),
            preprocessing: "none".into(),
            views: None,
        },
        sha256: String::new(),
    }
}

fn logits(rows: usize, classes: usize, seed: u32) -> Vec<f32> {
    (0..rows * classes)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2000) as f32 / 100.0)
        .collect()
}

/// Writes shard `index` of `count` locally and publishes it to `store`.
fn publish(
    store: &StoreLocation,
    dir: &Path,
    h: &ShardHeader,
    values: &[f32],
) -> distill::error::Result<Published> {
    let local = write_shard(dir, h, values)?;
    let ours = std::fs::read(&local).unwrap();
    let StoreLocation::Object(o) = store else {
        panic!("not an object store")
    };
    o.publish(
        &local,
        &shard_file_name(h.shard_index, h.num_shards),
        &|there| there == ours.as_slice(),
    )
}

#[test]
fn shards_on_s3_are_written_once_read_back_exactly_and_never_overwritten() {
    let Some(server) = S3Server::start("s3::shards_on_s3_are_written_once") else {
        return;
    };
    server.bucket("once");
    let store = server.location("s3://once/runs/store");
    let local = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let (total, classes) = (101, 7);
    for i in 0..3 {
        let h = header(i, 3, total, classes, "teacher-a");
        let (s, e) = (h.start, h.end);
        let values = logits(e - s, classes, i as u32);
        write_shard(local.path(), &h, &values).unwrap();
        assert_eq!(
            publish(&store, staging.path(), &h, &values).unwrap(),
            Published::Uploaded
        );
    }
    let remote = load_store(&store, None).unwrap();
    let on_disk = load_store(&StoreLocation::from(local.path()), None).unwrap();
    assert_eq!(remote.logits, on_disk.logits);
    assert_eq!(remote.bytes, on_disk.bytes);
    assert_eq!(remote.shards, 3);

    // The same shard again (a restarted worker): accepted, nothing written.
    let h = header(1, 3, total, classes, "teacher-a");
    let values = logits(h.end - h.start, classes, 1);
    assert_eq!(
        publish(&store, staging.path(), &h, &values).unwrap(),
        Published::AlreadyThere
    );
    // Another shard under the same name: refused, and the one there is kept.
    let other = logits(h.end - h.start, classes, 99);
    let e = publish(&store, staging.path(), &h, &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("never overwritten"), "{e}");
    assert!(
        e.contains("s3://once/runs/store/shard-00001-of-00003.dsl"),
        "{e}"
    );
    assert_eq!(load_store(&store, None).unwrap().logits, on_disk.logits);

    // A shard of another teacher under the prefix: verify names it.
    let mixed = server.location("s3://once/mixed");
    for i in 0..3 {
        let teacher = if i == 2 { "teacher-b" } else { "teacher-a" };
        let h = header(i, 3, total, classes, teacher);
        let values = logits(h.end - h.start, classes, i as u32);
        publish(&mixed, staging.path(), &h, &values).unwrap();
    }
    let e = load_store(&mixed, None).unwrap_err().to_string();
    assert!(
        e.contains("shard-00002-of-00003.dsl") && e.contains("teacher"),
        "{e}"
    );
}

#[test]
fn a_large_shard_goes_up_in_parts_then_by_a_conditional_copy_and_leaves_nothing_behind() {
    let Some(server) = S3Server::start("s3::a_large_shard_goes_up_in_parts") else {
        return;
    };
    server.bucket("parts");
    let store = server.location("s3://parts/big");
    let StoreLocation::Object(o) = &store else {
        unreachable!()
    };
    // 2,000 rows × 1,500 classes × 2 bytes = 6 MB: two parts of the 5 MiB minimum and more.
    o.set_multipart_threshold(1 << 20);
    let (total, classes) = (2000, 1500);
    let h = header(0, 1, total, classes, "teacher-a");
    let values = logits(total, classes, 3);
    let staging = tempfile::tempdir().unwrap();
    assert_eq!(
        publish(&store, staging.path(), &h, &values).unwrap(),
        Published::Uploaded
    );
    let local = tempfile::tempdir().unwrap();
    write_shard(local.path(), &h, &values).unwrap();
    assert_eq!(
        load_store(&store, None).unwrap().logits,
        load_store(&StoreLocation::from(local.path()), None)
            .unwrap()
            .logits
    );
    // Again: the conditional copy finds the shard there; the same bytes are accepted.
    assert_eq!(
        publish(&store, staging.path(), &h, &values).unwrap(),
        Published::AlreadyThere
    );
    let other = logits(total, classes, 4);
    assert!(
        publish(&store, staging.path(), &h, &other)
            .unwrap_err()
            .to_string()
            .contains("never overwritten")
    );
    // No temporary key is left under `_incoming/`.
    let listed = list_all_keys(&server, "parts");
    assert_eq!(
        listed,
        vec!["big/shard-00000-of-00001.dsl".to_string()],
        "{listed:?}"
    );
}

/// Every key in `bucket` (ListObjectsV2).
fn list_all_keys(server: &S3Server, bucket: &str) -> Vec<String> {
    server
        .raw("GET", &format!("/{bucket}?list-type=2"))
        .split("<Key>")
        .skip(1)
        .map(|s| s.split("</Key>").next().unwrap().to_string())
        .collect()
}

/// Deletes `key` from `bucket`.
fn delete_key(server: &S3Server, bucket: &str, key: &str) {
    server.raw("DELETE", &format!("/{bucket}/{key}"));
}

/// The `*.tmp` files under `dir`, at any depth.
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

fn distill(args: &[&str], envs: &[(&'static str, String)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn n_recorders_on_s3_one_killed_and_rerun_give_the_store_and_student_of_one_local_recorder() {
    let Some(server) = S3Server::start("s3::n_recorders_on_s3") else {
        return;
    };
    server.bucket("cluster");
    let envs = server.envs();
    // More training rows than the other tests, so that a recorder can be killed mid-way.
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 3000, 60);
    let config = dir.path().join("experiment.toml");
    std::fs::write(
        &config,
        common::experiment_text(&[("hidden = [64]", "hidden = [512, 512]")]),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    ok(&distill(&["train", c, "--out", o, "-q"], &envs));
    // The reference: one local process.
    let local = dir.path().join("local-store");
    let l = local.to_str().unwrap();
    ok(&distill(
        &[
            "record", c, "--out", o, "--store", l, "--shard", "0/1", "-q",
        ],
        &envs,
    ));

    // N = 3 workers, as the Indexed Job's pods would be (each its own output folder).
    let url = "s3://cluster/fmnist/soft_labels";
    let spawn = |i: usize| {
        let worker_out = dir.path().join(format!("worker-{i}"));
        std::fs::create_dir_all(&worker_out).unwrap();
        std::fs::copy(
            out.join("teacher.safetensors"),
            worker_out.join("teacher.safetensors"),
        )
        .unwrap();
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .args([
                "record",
                c,
                "--out",
                worker_out.to_str().unwrap(),
                "--teacher",
                out.join("teacher.safetensors").to_str().unwrap(),
                "--store",
                url,
                "--shard",
                &format!("{i}/3"),
                "-q",
            ])
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let others: Vec<Child> = [0, 2].into_iter().map(spawn).collect();
    // Worker 1 dies (SIGKILL, no cleanup) in the middle of its recording: once its shard's
    // temporary file is in its staging folder, before the upload. Should a try finish before
    // it is seen, its shard is deleted from the bucket and worker 1 tried again.
    let staging = dir.path().join("worker-1").join(".staging");
    let mut killed_mid_way = false;
    for _ in 0..20 {
        let mut worker = spawn(1);
        loop {
            if !temporaries(&staging).is_empty() {
                let _ = worker.kill();
                let _ = worker.wait();
                killed_mid_way = true;
                break;
            }
            if worker.try_wait().unwrap().is_some() {
                delete_key(
                    &server,
                    "cluster",
                    "fmnist/soft_labels/shard-00001-of-00003.dsl",
                );
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if killed_mid_way {
            break;
        }
    }
    assert!(killed_mid_way, "worker 1 was never caught mid-way");
    assert!(
        !list_all_keys(&server, "cluster")
            .contains(&"fmnist/soft_labels/shard-00001-of-00003.dsl".to_string()),
        "killed before its upload"
    );
    for child in others {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The Job restarts the failed index: the same command, to the same prefix.
    let rerun = spawn(1).wait_with_output().unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    // The killed worker's stray temporary file is gone.
    assert_eq!(temporaries(&staging), Vec::<std::path::PathBuf>::new());
    // A worker started again after its shard landed does nothing, and says so.
    let again = spawn(0).wait_with_output().unwrap();
    assert!(again.status.success());

    let verified = ok(&distill(&["store", "verify", url], &envs));
    assert!(
        verified.contains("OK") && verified.contains("3 shards"),
        "{verified}"
    );
    let listed = ok(&distill(&["store", "ls", url], &envs));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.contains("shard-00002-of-00003.dsl"), "{listed}");

    let keys = list_all_keys(&server, "cluster");
    assert_eq!(keys.len(), 3, "only the three shards are there: {keys:?}");

    let remote = load_store(&server.location(url), None).unwrap();
    let reference = load_store(&StoreLocation::from(local.as_path()), None).unwrap();
    assert_eq!(remote.logits, reference.logits);
    assert_eq!(remote.provenance, reference.provenance);

    // Students trained from either store are the same, bit for bit.
    let student = |store: &str, name: &str| {
        let student_out = dir.path().join(name);
        std::fs::create_dir_all(&student_out).unwrap();
        ok(&distill(
            &[
                "student",
                c,
                "--out",
                student_out.to_str().unwrap(),
                "--teacher",
                out.join("teacher.safetensors").to_str().unwrap(),
                "--store",
                store,
                "-q",
            ],
            &envs,
        ));
        distill::artefact::tensors_sha256(&student_out.join("student_kd-seed1.safetensors"))
            .unwrap()
    };
    assert_eq!(student(url, "from-s3"), student(l, "from-local"));

    // A store URL of a scheme distill does not know is one clear error.
    let bad = distill(&["store", "verify", "ftp://host/x"], &envs);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unsupported store URL scheme"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
