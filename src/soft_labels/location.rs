//! Where a soft-label store lives: a local folder, or a prefix on object storage
//! (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`) reached through the
//! `object_store` crate, with credentials from the usual environment variables (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`; e.g. `AWS_ENDPOINT` and `AWS_ALLOW_HTTP=true` for an S3-compatible
//! server of your own). `file://PATH` is the local folder `PATH`.
//!
//! A shard on object storage is written once, whole, and never overwritten:
//! - it is recorded into a local staging file first (`OUT/.staging/`), checksummed as on disk;
//! - a shard up to [`MULTIPART_THRESHOLD`] bytes goes up in one PUT with `If-None-Match: *`
//!   (object_store's `PutMode::Create`);
//! - a larger one goes up as a multipart upload to a temporary key under `_incoming/`, then is
//!   copied onto its name with a conditional copy (`copy_if_not_exists`; on S3 a multipart copy
//!   completed with `If-None-Match: *`), and the temporary key is deleted;
//! - when the name is taken, the shard there is read: the same checksum is success (another
//!   worker, or an earlier try, recorded the same shard), any other shard is an error that
//!   names both checksums. Nothing is overwritten.
//!
//! Objects are read whole, one shard at a time.

use crate::error::{Error, Result};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// File extension of a shard.
pub const SHARD_EXTENSION: &str = "dsl";

/// Shards larger than this go up as multipart uploads (S3's single PUT tops out at 5 GiB; smaller
/// parts retry cheaper).
pub const MULTIPART_THRESHOLD: usize = 64 << 20;

/// Part size of a multipart upload (S3 needs at least 5 MiB but for the last part).
pub const PART_SIZE: usize = 16 << 20;

/// Parts uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Where a store is.
#[derive(Clone)]
pub enum StoreLocation {
    /// A local folder of shard files.
    Local(PathBuf),
    /// A prefix on object storage.
    Object(Arc<ObjectLocation>),
}

/// A prefix on object storage, with the runtime that drives its requests.
pub struct ObjectLocation {
    /// The URL as given, without a trailing `/`.
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    runtime: tokio::runtime::Runtime,
    multipart_threshold: AtomicUsize,
}

/// One shard object of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardObject {
    /// File (object) name, e.g. `shard-00000-of-00004.dsl`.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What [`ObjectLocation::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The shard was uploaded.
    Uploaded,
    /// The same shard (same checksum) was already there; nothing was written.
    AlreadyThere,
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Local(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Object(o) => write!(f, "{}", o.url),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(dir: PathBuf) -> Self {
        StoreLocation::Local(dir)
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(dir: &PathBuf) -> Self {
        StoreLocation::Local(dir.clone())
    }
}

impl From<&StoreLocation> for StoreLocation {
    fn from(location: &StoreLocation) -> Self {
        location.clone()
    }
}

impl From<&Path> for StoreLocation {
    fn from(dir: &Path) -> Self {
        StoreLocation::Local(dir.to_path_buf())
    }
}

fn store_error(url: &str, message: impl Into<String>) -> Error {
    Error::SoftLabels {
        path: PathBuf::from(url),
        message: message.into(),
    }
}

impl StoreLocation {
    /// A local folder, or a `scheme://bucket/prefix` URL (`s3`, `gs`, `az`, `file`), with
    /// credentials and settings from the environment.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_with_options(text, &[])
    }

    /// [`parse`](Self::parse), with object-store settings (e.g. `("aws_endpoint",
    /// "http://127.0.0.1:9000")`; the keys of object_store's `AmazonS3ConfigKey`,
    /// `GoogleConfigKey` and `AzureConfigKey`) applied over those of the environment.
    pub fn parse_with_options(text: &str, options: &[(&str, &str)]) -> Result<Self> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(StoreLocation::Local(PathBuf::from(text)));
        };
        if scheme == "file" {
            return Ok(StoreLocation::Local(PathBuf::from(rest)));
        }
        let rest = rest.trim_end_matches('/');
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(store_error(
                text,
                "no bucket in the store URL; expected scheme://bucket/prefix",
            ));
        }
        let base = format!("{scheme}://{bucket}");
        let bad_key = |key: &str, e: object_store::Error| {
            store_error(text, format!("unknown object-store setting {key:?}: {e}"))
        };
        let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(&base)
                    .with_copy_if_not_exists(object_store::aws::S3CopyIfNotExists::Multipart);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|e| bad_key(k, e))?, *v);
                }
                b.build().map(|s| Arc::new(s) as _)
            }
            "gs" => {
                let mut b =
                    object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(&base);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|e| bad_key(k, e))?, *v);
                }
                b.build().map(|s| Arc::new(s) as _)
            }
            "az" | "abfs" | "abfss" | "azure" | "adl" => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(&base);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|e| bad_key(k, e))?, *v);
                }
                b.build().map(|s| Arc::new(s) as _)
            }
            other => {
                return Err(store_error(
                    text,
                    format!(
                        "unsupported store URL scheme {other:?}; use a folder, file://, s3://, gs:// or az://"
                    ),
                ));
            }
        };
        let store =
            built.map_err(|e| store_error(text, format!("cannot open the object store: {e}")))?;
        let prefix = ObjectPath::parse(prefix)
            .map_err(|e| store_error(text, format!("bad prefix {prefix:?}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(text, e))?;
        Ok(StoreLocation::Object(Arc::new(ObjectLocation {
            url: format!("{scheme}://{rest}"),
            store,
            prefix,
            runtime,
            multipart_threshold: AtomicUsize::new(MULTIPART_THRESHOLD),
        })))
    }

    /// Whether the store is on object storage.
    pub fn is_object(&self) -> bool {
        matches!(self, StoreLocation::Object(_))
    }

    /// How errors name shard `name` of this store.
    pub fn shard_path(&self, name: &str) -> PathBuf {
        match self {
            StoreLocation::Local(dir) => dir.join(name),
            StoreLocation::Object(o) => PathBuf::from(format!("{}/{name}", o.url)),
        }
    }

    /// The path errors name for the store itself.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// The shard files of the store, by name. A local folder that does not exist is an error;
    /// an empty prefix gives none.
    pub fn list_shards(&self) -> Result<Vec<ShardObject>> {
        let mut out = match self {
            StoreLocation::Local(dir) => {
                let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == SHARD_EXTENSION))
                    .filter_map(|e| {
                        let bytes = e.metadata().ok()?.len();
                        Some(ShardObject {
                            name: e.file_name().to_string_lossy().into_owned(),
                            bytes,
                        })
                    })
                    .collect()
            }
            StoreLocation::Object(o) => o.list()?,
        };
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The bytes of shard `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        match self {
            StoreLocation::Local(dir) => crate::fsutil::read(&dir.join(name)),
            StoreLocation::Object(o) => o.read(name, None),
        }
    }

    /// The first `len` bytes of shard `name` (fewer if it is shorter).
    pub fn read_head(&self, name: &str, len: usize) -> Result<Vec<u8>> {
        match self {
            StoreLocation::Local(dir) => {
                use std::io::Read;
                let path = dir.join(name);
                let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                let mut out = Vec::with_capacity(len.min(1 << 20));
                file.take(len as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::io(&path, e))?;
                Ok(out)
            }
            StoreLocation::Object(o) => o.read(name, Some(len)),
        }
    }
}

impl ObjectLocation {
    /// The store's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets the size above which shards go up as multipart uploads (tests use a small one to
    /// reach the multipart path with small shards).
    pub fn set_multipart_threshold(&self, bytes: usize) {
        self.multipart_threshold.store(bytes, Ordering::Relaxed);
    }

    fn key(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    fn err(&self, name: &str, message: impl Into<String>) -> Error {
        store_error(&format!("{}/{name}", self.url), message)
    }

    fn list(&self) -> Result<Vec<ShardObject>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix))
            .map_err(|e| store_error(&self.url, format!("cannot list the store: {e}")))?;
        Ok(listed
            .objects
            .into_iter()
            .filter(|m| m.location.extension() == Some(SHARD_EXTENSION))
            .filter_map(|m| {
                Some(ShardObject {
                    name: m.location.filename()?.to_string(),
                    bytes: m.size,
                })
            })
            .collect())
    }

    fn read(&self, name: &str, head: Option<usize>) -> Result<Vec<u8>> {
        let key = self.key(name);
        let got = self.runtime.block_on(async {
            match head {
                None => self.store.get(&key).await?.bytes().await,
                Some(len) => {
                    let size = self.store.head(&key).await?.size;
                    self.store.get_range(&key, 0..size.min(len as u64)).await
                }
            }
        });
        got.map(|b| b.to_vec())
            .map_err(|e| self.err(name, format!("cannot read: {e}")))
    }

    /// The bytes of shard `name`, or `None` when there is no object of that name.
    pub fn read_if_exists(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(name);
        let got = self
            .runtime
            .block_on(async { self.store.get(&key).await?.bytes().await });
        match got {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(name, format!("cannot read: {e}"))),
        }
    }

    /// Uploads the finished shard file `local` as `name`, never overwriting another object
    /// (see the module documentation). `same_as_there` tells, from the bytes already at `name`,
    /// whether they are this shard.
    pub fn publish(
        &self,
        local: &Path,
        name: &str,
        same_as_there: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Published> {
        let size = std::fs::metadata(local)
            .map_err(|e| Error::io(local, e))?
            .len() as usize;
        let key = self.key(name);
        let outcome = if size <= self.multipart_threshold.load(Ordering::Relaxed) {
            let bytes = crate::fsutil::read(local)?;
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            self.runtime
                .block_on(self.store.put_opts(&key, PutPayload::from(bytes), opts))
                .map(|_| ())
        } else {
            self.multipart_then_copy(local, name, &key)?
        };
        match outcome {
            Ok(()) => Ok(Published::Uploaded),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let there = self.read(name, None)?;
                if same_as_there(&there) {
                    Ok(Published::AlreadyThere)
                } else {
                    Err(self.err(
                        name,
                        "another shard is already there (a different checksum): a shard is \
                         written once and never overwritten; delete it, or record into another \
                         prefix",
                    ))
                }
            }
            Err(object_store::Error::NotImplemented { operation, .. }) => Err(self.err(
                name,
                format!(
                    "this object store cannot write conditionally ({operation}); distill needs \
                     it so that two workers never overwrite each other's shard"
                ),
            )),
            Err(e) => Err(self.err(name, format!("cannot write: {e}"))),
        }
    }

    /// A multipart upload of `local` to a temporary key, then a conditional copy onto `key`;
    /// the temporary key is deleted either way. The outer error is a failure of the upload, the
    /// inner result that of the copy.
    fn multipart_then_copy(
        &self,
        local: &Path,
        name: &str,
        key: &ObjectPath,
    ) -> Result<std::result::Result<(), object_store::Error>> {
        use std::io::Read;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = self
            .prefix
            .clone()
            .join("_incoming")
            .join(format!("{name}.{}.{nonce}", std::process::id()));
        let mut file = std::fs::File::open(local).map_err(|e| Error::io(local, e))?;
        let uploaded: std::result::Result<(), Error> = self.runtime.block_on(async {
            let upload = self
                .store
                .put_multipart(&tmp)
                .await
                .map_err(|e| self.err(name, format!("cannot start the upload: {e}")))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = file.read(&mut buf).map_err(|e| Error::io(local, e))?;
                if n == 0 {
                    break;
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.err(name, format!("upload failed: {e}")))?;
                writer.write(&buf[..n]);
            }
            writer
                .finish()
                .await
                .map_err(|e| self.err(name, format!("upload failed: {e}")))?;
            Ok(())
        });
        let copied = uploaded.map(|()| {
            self.runtime
                .block_on(self.store.copy_if_not_exists(&tmp, key))
        });
        let _ = self.runtime.block_on(self.store.delete(&tmp));
        copied
    }
}
