//! Where the posters' images live: one object per size, keyed `{size}/{hash}.{ext}`, through
//! the `object_store` crate: a folder on local disk (the embedded default), memory, or an S3
//! or S3-compatible bucket (with the `s3` feature).
//!
//! An object is written whole or not at all (a local file is renamed into place, an S3 object
//! appears when its upload completes), and the key names the content, so writing one again
//! writes the same bytes: uploads need no lock.

use crate::process::Processed;
use crate::sizes::PosterSize;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// The usual S3 settings, for a bucket named by `s3://bucket[/prefix]`.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// The endpoint of an S3-compatible server (`http://127.0.0.1:9000`); unset, AWS.
    pub endpoint: Option<String>,
    /// The region; unset, `us-east-1`.
    pub region: Option<String>,
    /// The access key.
    pub access_key_id: Option<String>,
    /// Its secret.
    pub secret_access_key: Option<String>,
    /// Whether an `http://` endpoint is allowed.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// The store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer, or refused (a 503 for clients).
    #[error("the image store is unavailable: {0}")]
    Unavailable(String),
    /// The store's address or settings are wrong (at start).
    #[error("the image store cannot be opened: {0}")]
    Config(String),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Some or all of a stored image.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The bytes of `range`.
    pub bytes: Bytes,
    /// The bytes this is of the whole image.
    pub range: Range<u64>,
    /// The whole image's length.
    pub size: u64,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Posters whose images were deleted.
    pub deleted: usize,
    /// Posters no movie refers to, kept for the grace period.
    pub waiting: usize,
    /// Posters in use.
    pub kept: usize,
}

/// The posters' images.
#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<dyn ObjectStore>,
    describe: String,
    /// Copies of the images served most, for the process that serves them.
    cache: Option<Arc<crate::cache::ImageCache>>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl ImageStore {
    /// The store `url` names: unset, `DATA_DIR/images`; a path or `file:///path`; `memory:`;
    /// `s3://bucket[/prefix]` with `s3`'s settings.
    pub fn open(url: Option<&str>, data_dir: &Path, s3: &S3Settings) -> Result<Self, StoreError> {
        match url {
            None => Self::local(&data_dir.join("images")),
            Some("memory:") => Ok(Self {
                inner: Arc::new(object_store::memory::InMemory::new()),
                describe: "memory".into(),
                cache: None,
            }),
            Some(url) if url.starts_with("s3://") => Self::s3(url, s3),
            Some(url) => Self::local(Path::new(url.strip_prefix("file://").unwrap_or(url))),
        }
    }

    /// A folder on local disk, made if missing.
    pub fn local(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("{}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(store),
            describe: format!("local {}", dir.display()),
            cache: None,
        })
    }

    #[cfg(feature = "s3")]
    fn s3(url: &str, settings: &S3Settings) -> Result<Self, StoreError> {
        use object_store::aws::AmazonS3Builder;
        use object_store::{BackoffConfig, ClientOptions, RetryConfig};
        use std::time::Duration;
        let rest = url.trim_start_matches("s3://");
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut builder = AmazonS3Builder::new()
            // Before `with_allow_http`, which is one of these options.
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(20)),
            )
            .with_bucket_name(bucket)
            .with_region(settings.region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(settings.allow_http)
            // A request waits seconds, not the crate's three minutes of retries: an upload
            // or an image the store cannot give is a 503 the client may retry.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 2,
                retry_timeout: Duration::from_secs(5),
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        let prefix = prefix.trim_matches('/');
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Self {
            inner,
            describe: format!("s3 {url}"),
            cache: None,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn s3(url: &str, _settings: &S3Settings) -> Result<Self, StoreError> {
        Err(StoreError::Config(format!(
            "{url}: this build has no S3 support (build with `--features s3`)"
        )))
    }

    /// The same store, keeping copies of the images it gives, up to `budget` bytes, each for
    /// at most a minute (see `cache.rs`): for the process that serves them.
    pub fn with_cache(mut self, budget: usize) -> Self {
        self.cache = Some(Arc::new(crate::cache::ImageCache::new(budget)));
        self
    }

    /// The key of one size of a poster.
    pub fn key(size: PosterSize, hash: &str, ext: &str) -> Key {
        Key::from(format!("{}/{hash}.{ext}", size.name()))
    }

    /// Stores every size of a poster (the same bytes again when it is there already, which
    /// also tells a running sweep it is in use).
    pub async fn put(&self, poster: &Processed, ext: &str) -> Result<(), StoreError> {
        let puts: Vec<_> = poster
            .sizes
            .iter()
            .map(|(size, bytes)| {
                let (inner, key) = (self.inner.clone(), Self::key(*size, &poster.hash, ext));
                let payload = PutPayload::from_bytes(bytes.clone());
                async move { inner.put(&key, payload).await.map(|_| ()) }
            })
            .collect();
        futures::future::try_join_all(puts).await?;
        Ok(())
    }

    /// Whether every size of `hash` is stored.
    pub async fn has_all(&self, hash: &str, ext: &str) -> Result<bool, StoreError> {
        for size in PosterSize::ALL {
            if self.len(size, hash, ext).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The length of one stored size, `None` when it is not stored.
    pub async fn len(
        &self,
        size: PosterSize,
        hash: &str,
        ext: &str,
    ) -> Result<Option<u64>, StoreError> {
        let key = Self::key(size, hash, ext);
        if let Some(bytes) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(Some(bytes.len() as u64));
        }
        match self.inner.head(&key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One stored size, or the bytes `range` of it (a range past its end is cut at the end;
    /// see [`Self::len`] to check one first). `None` when it is not stored.
    pub async fn get(
        &self,
        size: PosterSize,
        hash: &str,
        ext: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Blob>, StoreError> {
        let key = Self::key(size, hash, ext);
        if let Some(bytes) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            let len = bytes.len() as u64;
            let range = range.map_or(0..len, |r| r.start.min(len)..r.end.min(len));
            let part = bytes.slice(range.start as usize..range.end as usize);
            return Ok(Some(Blob {
                bytes: part,
                range,
                size: len,
            }));
        }
        let whole = range.is_none();
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.inner.get_opts(&key, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (range, size) = (result.range.clone(), result.meta.size);
        let bytes = match result.bytes().await {
            Ok(bytes) => bytes,
            // Deleted between the open and the read.
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if let Some(cache) = self.cache.as_ref().filter(|_| whole) {
            cache.put(&key, &bytes);
        }
        Ok(Some(Blob { bytes, range, size }))
    }

    /// Deletes the images of every poster not in `referenced` whose newest image is older
    /// than `older_than`. Safe beside uploads and other sweeps: a poster written again after
    /// the listing is left alone (each image is looked at again right before it goes), and a
    /// delete of what another sweep deleted is no error.
    pub async fn sweep(
        &self,
        referenced: &HashSet<String>,
        older_than: DateTime<Utc>,
    ) -> Result<Swept, StoreError> {
        // hash -> (its keys, its newest write)
        let mut posters: BTreeMap<String, (Vec<Key>, DateTime<Utc>)> = BTreeMap::new();
        let mut listing = self.inner.list(None);
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let Some(hash) = meta
                .location
                .filename()
                .and_then(|name| name.split_once('.'))
                .map(|(hash, _)| hash.to_owned())
            else {
                continue;
            };
            let entry = posters
                .entry(hash)
                .or_insert_with(|| (Vec::new(), meta.last_modified));
            entry.0.push(meta.location);
            entry.1 = entry.1.max(meta.last_modified);
        }
        let mut swept = Swept::default();
        for (hash, (keys, newest)) in posters {
            if referenced.contains(&hash) {
                swept.kept += 1;
            } else if newest >= older_than || !self.untouched_since(&keys, older_than).await? {
                swept.waiting += 1;
            } else {
                for key in &keys {
                    match self.inner.delete(key).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                tracing::info!(poster.hash = %hash, images = keys.len(), "swept an unused poster");
                swept.deleted += 1;
            }
        }
        Ok(swept)
    }

    /// Whether none of `keys` was written since `since` (an upload of the same poster during
    /// the sweep writes them again).
    async fn untouched_since(
        &self,
        keys: &[Key],
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for key in keys {
            match self.inner.head(key).await {
                Ok(meta) if meta.last_modified >= since => return Ok(false),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}
