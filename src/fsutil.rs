//! Atomic file writes: write to a temporary sibling, then rename, so that a crash or an error
//! never leaves a half-written output behind.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Creates `dir` and its parents.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` to `path` atomically: a temporary sibling, flushed to disk, renamed onto
/// `path`, then the folder flushed so that the rename survives a power cut. The temporary file
/// is removed on every failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        use std::io::Write;
        let mut file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        file.write_all(bytes).map_err(|e| Error::io(tmp, e))?;
        file.sync_all().map_err(|e| Error::io(tmp, e))
    })
}

/// Runs `write` against a temporary path, then renames the result onto `path` and flushes the
/// folder. The temporary file (or folder) is removed if `write` or the rename fails.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all(parent)?;
    }
    let tmp = temp_path(path);
    let done = write(&tmp)
        .and_then(|()| sync_tree(&tmp))
        .and_then(|()| rename(&tmp, path));
    if done.is_err() {
        remove_temp(&tmp);
    }
    done?;
    sync_parent(path);
    Ok(())
}

/// Flushes a file, or every file of a folder and the folder itself, to disk.
pub fn sync_tree(path: &Path) -> Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            sync_tree(&entry.path())?;
        }
    }
    // Folders are flushed where the platform allows opening them; files always.
    match std::fs::File::open(path) {
        Ok(f) => match f.sync_all() {
            Ok(()) => Ok(()),
            Err(_) if path.is_dir() => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        },
        Err(_) if path.is_dir() => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Removes a temporary file or folder, ignoring what is not there.
fn remove_temp(tmp: &Path) {
    if tmp.is_dir() {
        let _ = std::fs::remove_dir_all(tmp);
    } else {
        let _ = std::fs::remove_file(tmp);
    }
}

/// Renames `from` onto `to`.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))
}

/// Flushes the folder holding `path` (its entries: a rename into it), where the platform can.
/// Best effort: a file system that cannot flush a folder is not an error.
pub fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

/// Whether `name` is a temporary name [`temp_path`] gives, and the process id in it.
fn temp_pid(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(".tmp")?;
    let (_, pid) = stem.rsplit_once('.')?;
    pid.parse().ok()
}

/// Whether process `pid` is running and is a program like this one (Linux: `/proc/PID` is a
/// process, not a thread, with this process's command name); elsewhere only this process is
/// known to be. A reused pid of another program does not keep a stray file alive.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let dir = Path::new("/proc").join(pid.to_string());
    let (Ok(comm), Ok(own), Ok(status)) = (
        std::fs::read_to_string(dir.join("comm")),
        std::fs::read_to_string("/proc/self/comm"),
        std::fs::read_to_string(dir.join("status")),
    ) else {
        return false;
    };
    let tgid = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse::<u32>().ok());
    comm == own && tgid == Some(pid)
}

/// The output folders this process holds locked, with their lock files.
static HELD: std::sync::Mutex<Vec<(PathBuf, std::fs::File)>> = std::sync::Mutex::new(Vec::new());

/// Whether this process holds the lock of the output folder `dir` ([`lock_output`]).
pub fn holds_output_lock(dir: &Path) -> bool {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    HELD.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|(d, _)| *d == canonical)
}

/// Locks the output folder `dir` for this process (`dir/.distill.lock`, an advisory lock the
/// system releases when the process ends, however it ends), so that two runs never write one
/// folder at once. The lock is held until the process exits.
pub fn lock_output(dir: &Path) -> Result<()> {
    create_dir_all(dir)?;
    let path = dir.join(".distill.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            HELD.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((canonical, file));
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another distill process is writing this output folder; wait for it to finish or give another --out",
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Removes the temporary siblings of `path` ([`temp_path`]) whose process is no longer running.
pub fn sweep_temps_of(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = entry_name.strip_prefix(&prefix)
            && let Some(pid) = rest
                .strip_suffix(".tmp")
                .and_then(|p| p.parse::<u32>().ok())
            && !alive(pid)
        {
            remove_temp(&entry.path());
            removed.push(entry.path());
        }
    }
    removed
}

/// Removes the temporary files and folders that killed processes left under `dir` (down to
/// `depth` levels), those whose process is no longer running; every one of them when this
/// process holds the folder's lock (no other distill process can be writing there). Returns
/// what was removed.
pub fn sweep_temps(dir: &Path, depth: usize) -> Vec<PathBuf> {
    sweep_temps_in(dir, depth, holds_output_lock(dir))
}

fn sweep_temps_in(dir: &Path, depth: usize, any: bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match temp_pid(&name) {
            Some(pid) if pid != std::process::id() && (any || !alive(pid)) => {
                remove_temp(&path);
                removed.push(path);
            }
            Some(_) => {}
            None if depth > 0 && path.is_dir() => {
                removed.extend(sweep_temps_in(&path, depth - 1, any))
            }
            None => {}
        }
    }
    removed
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file's contents as UTF-8 (a leading byte-order mark dropped), or an error naming the
/// line and byte offset of the first invalid sequence.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    match std::str::from_utf8(body) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Error::Data {
                path: path.to_path_buf(),
                message: format!(
                    "line {line}: not valid UTF-8 (byte 0x{:02x} at offset {at}); re-encode the file as UTF-8",
                    body[at]
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_rename_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails, and the temporary file goes with it.
        let target = dir.path().join("out.onnx");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_atomic(&target, b"bytes").is_err());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["out.onnx".to_string()]);
    }

    #[test]
    fn sweeping_removes_temporaries_of_dead_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("soft_labels");
        std::fs::create_dir(&sub).unwrap();
        // Process ids above the kernel's maximum (4194304) are never running.
        let dead_file = sub.join("shard-00000-of-00001.dsl.4294967295.tmp");
        let dead_dir = dir.path().join("epoch-0003.4294967294.tmp");
        let live = dir
            .path()
            .join(format!("report.md.{}.tmp", std::process::id()));
        std::fs::write(&dead_file, b"half").unwrap();
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(&live, b"being written").unwrap();
        std::fs::write(dir.path().join("teacher.safetensors"), b"kept").unwrap();
        let mut removed = sweep_temps(dir.path(), 2);
        removed.sort();
        assert_eq!(removed, vec![dead_dir.clone(), dead_file.clone()]);
        assert!(!dead_file.exists() && !dead_dir.exists());
        assert!(live.exists() && dir.path().join("teacher.safetensors").exists());
    }
}
