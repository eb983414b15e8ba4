//! Workspace snapshots: tar + zstd into object storage, keyed by office and generation,
//! so a late snapshot of an old generation can never be mistaken for a newer one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use serde::{Deserialize, Serialize};

/// The first entry of every snapshot archive.
const MANIFEST: &str = ".nova-snapshot.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub office: String,
    pub generation: i64,
    pub runtime_version: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub key: String,
    /// Compressed size.
    pub bytes: u64,
    /// Uncompressed size of the files archived.
    pub source_bytes: u64,
    pub files: u64,
    pub elapsed: std::time::Duration,
}

/// The most a workspace may hold (uncompressed) to be snapshotted or restored: a bigger
/// one fails with a clear error instead of filling the disk.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;

/// Archives up to this size are uploaded in one request; bigger ones in parts.
const SINGLE_UPLOAD: u64 = 32 << 20;

#[derive(Clone)]
pub struct Snapshots {
    store: Arc<dyn ObjectStore>,
    level: i32,
    max_bytes: u64,
}

impl Snapshots {
    pub fn new(store: Arc<dyn ObjectStore>, level: i32) -> Self {
        Self { store, level, max_bytes: DEFAULT_MAX_BYTES }
    }

    /// The zstd level archives are written at.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Caps what a snapshot may hold (uncompressed, and compressed).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Snapshots kept on the local filesystem under `dir`.
    pub fn local(dir: &Path, level: i32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create snapshot dir {}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot open snapshot dir {}", dir.display()))?;
        Ok(Self::new(Arc::new(store), level))
    }

    /// Snapshots in Cloud Storage: `url` is `gs://bucket` or `gs://bucket/prefix`.
    /// `api_url` overrides the endpoint (a proxy or a stand-in); `credentials` is a
    /// service-account key file (else `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn cloud_storage(
        url: &str,
        api_url: Option<&str>,
        credentials: Option<&Path>,
        level: i32,
    ) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("gs://").with_context(|| format!("`{url}` is not a gs://bucket/prefix URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("`{url}` names no bucket");
        }
        let mut builder = object_store::gcp::GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
        let credentials = credentials
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from));
        if let Some(path) = credentials {
            builder = builder.with_service_account_path(path.display().to_string());
        }
        if let Some(api_url) = api_url {
            builder = builder.with_base_url(api_url).with_client_options(
                object_store::ClientOptions::new().with_allow_http(api_url.starts_with("http://")),
            );
        }
        let store = builder.build().with_context(|| format!("cannot use Cloud Storage bucket `{bucket}`"))?;
        let store: Arc<dyn ObjectStore> = match prefix.trim_matches('/') {
            "" => Arc::new(store),
            prefix => Arc::new(object_store::prefix::PrefixStore::new(store, prefix)),
        };
        Ok(Self::new(store, level))
    }

    pub fn key(office: &str, generation: i64) -> String {
        format!("offices/{office}/{generation:012}.tar.zst")
    }

    /// The generation a snapshot key names.
    pub fn generation_of(key: &str) -> Option<i64> {
        key.rsplit('/').next()?.strip_suffix(".tar.zst")?.parse().ok()
    }

    /// Archives `workspace` (see [`archive`]), uploads it and checks the stored size.
    pub async fn save(&self, office: &str, generation: i64, workspace: &Path) -> anyhow::Result<SnapshotInfo> {
        let started = Instant::now();
        let (workspace, name, level, max_bytes) = (workspace.to_owned(), office.to_owned(), self.level, self.max_bytes);
        let archived = tokio::task::spawn_blocking(move || archive(&workspace, &name, generation, level, max_bytes))
            .await
            .context("snapshot task panicked")??;
        let mut info = self.store_archive(office, generation, archived).await?;
        info.elapsed = started.elapsed();
        Ok(info)
    }

    /// Stores an archive as the office's snapshot for `generation` (the key names the
    /// generation, so it never overwrites a newer one's) and checks the stored size.
    pub async fn store_archive(&self, office: &str, generation: i64, archive: Archive) -> anyhow::Result<SnapshotInfo> {
        let started = Instant::now();
        let key = Self::key(office, generation);
        let path = ObjectPath::from(key.clone());
        self.upload(&path, archive.file, archive.bytes)
            .await
            .with_context(|| format!("cannot upload snapshot {key}"))?;
        let stored = self.store.head(&path).await.with_context(|| format!("cannot verify snapshot {key}"))?;
        if stored.size != archive.bytes {
            bail!("snapshot {key} stored {} bytes, expected {}", stored.size, archive.bytes);
        }
        Ok(SnapshotInfo {
            key,
            bytes: archive.bytes,
            source_bytes: archive.source_bytes,
            files: archive.files,
            elapsed: started.elapsed(),
        })
    }

    async fn upload(&self, path: &ObjectPath, mut archive: std::fs::File, bytes: u64) -> anyhow::Result<()> {
        use std::io::{Seek, SeekFrom};
        archive.seek(SeekFrom::Start(0))?;
        if bytes <= SINGLE_UPLOAD {
            let mut data = Vec::with_capacity(bytes as usize);
            archive.read_to_end(&mut data)?;
            self.store.put(path, PutPayload::from(data)).await?;
            return Ok(());
        }
        let mut upload = object_store::WriteMultipart::new(self.store.put_multipart(path).await?);
        let mut chunk = vec![0u8; 8 << 20];
        loop {
            let read = archive.read(&mut chunk)?;
            if read == 0 {
                break;
            }
            upload.wait_for_capacity(4).await?;
            upload.write(&chunk[..read]);
        }
        upload.finish().await?;
        Ok(())
    }

    /// Replaces `workspace` with the snapshot's contents and returns its manifest (see
    /// [`unarchive`]); a failed restore leaves the old workspace as it was. The archive
    /// is unpacked as it arrives: no copy on disk first, and unpacking overlaps the
    /// download.
    pub async fn restore(&self, key: &str, office: &str, workspace: &Path) -> anyhow::Result<Manifest> {
        use futures::TryStreamExt as _;
        let archive = Arriving::new(self.stream(key).await?.map_err(std::io::Error::other));
        let (workspace, office, max_bytes) = (workspace.to_owned(), office.to_owned(), self.max_bytes);
        tokio::task::spawn_blocking(move || unarchive(archive, &office, &workspace, max_bytes))
            .await
            .context("restore task panicked")?
    }

    /// A snapshot's bytes as they arrive from object storage, refusing one over the cap
    /// before any of it is read.
    pub async fn stream(
        &self,
        key: &str,
    ) -> anyhow::Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>> {
        let fetched =
            self.store.get(&ObjectPath::from(key)).await.with_context(|| format!("cannot fetch snapshot {key}"))?;
        if fetched.meta.size > self.max_bytes {
            bail!(
                "snapshot {key} is {} bytes, more than the {} a snapshot may hold",
                fetched.meta.size,
                self.max_bytes
            );
        }
        Ok(fetched.into_stream())
    }
}

/// Bytes still arriving, read on a blocking thread (to unpack an archive while it
/// downloads). A task gathers the stream's chunks into pieces of about [`PIECE`] bytes,
/// so the reader waits for the stream once a piece: a local store yields 8 KiB chunks,
/// and handing each over to the reader cost more than overlapping saved.
pub struct Arriving {
    pieces: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

/// See [`Arriving`].
const PIECE: usize = 1 << 20;

impl Arriving {
    /// Starts taking `chunks` on the current runtime; read from a blocking thread.
    pub fn new<S>(chunks: S) -> Self
    where
        S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    {
        use futures::StreamExt as _;
        let (sender, pieces) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut chunks = std::pin::pin!(chunks);
            let mut piece = bytes::BytesMut::new();
            loop {
                let (send, last) = match chunks.next().await {
                    Some(Ok(chunk)) => {
                        piece.extend_from_slice(&chunk);
                        if piece.len() < PIECE {
                            continue;
                        }
                        (Ok(piece.split().freeze()), false)
                    }
                    Some(Err(error)) => (Err(error), true),
                    None if piece.is_empty() => return,
                    None => (Ok(piece.split().freeze()), true),
                };
                // The reader gone (it failed, or stopped reading) ends the download too.
                if sender.send(send).await.is_err() || last {
                    return;
                }
            }
        });
        Self { pieces, current: bytes::Bytes::new() }
    }
}

impl Read for Arriving {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.blocking_recv() {
                Some(Ok(piece)) => self.current = piece,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let taken = buf.len().min(self.current.len());
        buf[..taken].copy_from_slice(&self.current.split_to(taken));
        Ok(taken)
    }
}

/// A workspace archived (tar + zstd) into a temporary file, rewound.
pub struct Archive {
    pub file: std::fs::File,
    /// Compressed size.
    pub bytes: u64,
    /// Uncompressed size of the files archived.
    pub source_bytes: u64,
    pub files: u64,
}

/// Archives `workspace` into a temporary file: regular files, directories and symlinks
/// (a socket or FIFO an agent left behind is skipped), at most `max_bytes` of them.
/// Memory stays small whatever the workspace's size. Blocking.
pub fn archive(workspace: &Path, office: &str, generation: i64, level: i32, max_bytes: u64) -> anyhow::Result<Archive> {
    use std::io::{Seek, SeekFrom};
    let manifest = Manifest {
        office: office.to_owned(),
        generation,
        runtime_version: crate::RUNTIME_VERSION.to_owned(),
        created_at: chrono::Utc::now().to_rfc3339(),
    };
    let mut file = tempfile::tempfile().context("cannot create a temporary file for the snapshot")?;
    let packed = pack(workspace, &manifest, level, &mut file, max_bytes)?;
    if packed.skipped > 0 {
        tracing::warn!(office, skipped = packed.skipped, "snapshot skipped sockets, FIFOs or devices");
    }
    let bytes = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok(Archive { file, bytes, source_bytes: packed.bytes, files: packed.files })
}

/// Replaces `workspace` with an archive's contents and returns its manifest. The archive
/// is unpacked beside the workspace first, so a failed restore leaves the old workspace
/// as it was. An archive of another office, one written by a runtime this one cannot
/// read, or one holding more than `max_bytes` is refused. Blocking.
pub fn unarchive(archive: impl Read, office: &str, workspace: &Path, max_bytes: u64) -> anyhow::Result<Manifest> {
    let check = |manifest: &Manifest| -> anyhow::Result<()> {
        if manifest.office != office {
            bail!("snapshot {} belongs to office `{}`, not `{office}`", manifest.generation, manifest.office);
        }
        if !compatible(&manifest.runtime_version, crate::RUNTIME_VERSION) {
            bail!(
                "the snapshot was written by runtime {} and this is {}; restoring it could corrupt the workspace, \
                 so it was left as it is (run a compatible Nova, or wake the office from an empty workspace)",
                manifest.runtime_version,
                crate::RUNTIME_VERSION
            );
        }
        Ok(())
    };
    unpack(archive, workspace, check, max_bytes)
}

/// Whether a runtime can read a snapshot another version wrote: the same major version
/// (the same minor while the major is 0, as semver's pre-1.0 rule has it).
pub fn compatible(snapshot: &str, runtime: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut numbers = v.split(['.', '-', '+']);
        Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
    };
    match (parts(snapshot), parts(runtime)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

/// What [`pack`] archived.
struct Packed {
    bytes: u64,
    files: u64,
    /// Sockets, FIFOs and devices: not workspace content, and not archivable.
    skipped: u64,
}

fn pack(
    workspace: &Path,
    manifest: &Manifest,
    level: i32,
    out: &mut std::fs::File,
    max_bytes: u64,
) -> anyhow::Result<Packed> {
    let encoder = zstd::Encoder::new(out, level)?;
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    let manifest_json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, MANIFEST, manifest_json.as_slice())?;
    let mut packed = Packed { bytes: 0, files: 0, skipped: 0 };
    if workspace.exists() {
        for entry in walk(workspace)? {
            let relative = entry.strip_prefix(workspace)?;
            let kind = std::fs::symlink_metadata(&entry)?.file_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
                packed.skipped += 1;
                continue;
            }
            if kind.is_file() {
                packed.bytes += std::fs::symlink_metadata(&entry)?.len();
                packed.files += 1;
                if packed.bytes > max_bytes {
                    bail!("the workspace holds more than the {max_bytes} bytes a snapshot may hold");
                }
            }
            builder
                .append_path_with_name(&entry, relative)
                .with_context(|| format!("cannot archive {}", entry.display()))?;
        }
    }
    builder.into_inner()?.finish()?;
    Ok(packed)
}

/// Every path below `root`, directories before their contents, in a stable order.
fn walk(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries.into_iter().rev() {
            if std::fs::symlink_metadata(&entry)?.is_dir() {
                stack.push(entry.clone());
            }
            out.push(entry);
        }
    }
    out.sort();
    Ok(out)
}

fn unpack(
    data: impl Read,
    workspace: &Path,
    check: impl Fn(&Manifest) -> anyhow::Result<()>,
    max_bytes: u64,
) -> anyhow::Result<Manifest> {
    let parent = workspace.parent().context("workspace has no parent directory")?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new().prefix(".restore-").tempdir_in(parent)?;
    let mut archive = tar::Archive::new(zstd::Decoder::new(data)?);
    let mut unpacked = 0u64;
    archive.set_preserve_permissions(true);
    let mut manifest = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if path == Path::new(MANIFEST) {
            let mut json = String::new();
            entry.read_to_string(&mut json)?;
            let parsed = serde_json::from_str::<Manifest>(&json).context("snapshot manifest is invalid")?;
            check(&parsed)?;
            manifest = Some(parsed);
            continue;
        }
        if manifest.is_none() {
            bail!("snapshot has no manifest before its files");
        }
        // Files, directories and symlinks only: never a device or a FIFO.
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            continue;
        }
        unpacked += entry.header().size()?;
        if unpacked > max_bytes {
            bail!("the snapshot holds more than the {max_bytes} bytes a workspace may hold");
        }
        // `unpack_in` refuses paths that would escape the staging directory.
        if !entry.unpack_in(staging.path())? {
            bail!("snapshot entry {} escapes the workspace", path.display());
        }
    }
    let manifest = manifest.context("snapshot has no manifest")?;
    if workspace.exists() {
        std::fs::remove_dir_all(workspace).with_context(|| format!("cannot clear {}", workspace.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, workspace)
        .with_context(|| format!("cannot move restored workspace into {}", workspace.display()))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_workspace_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(workspace.join("notes/deep")).unwrap();
        std::fs::write(workspace.join("notes/deep/a.md"), "hello").unwrap();
        std::fs::write(workspace.join("SOUL.md"), "me").unwrap();
        let snapshots = Snapshots::local(&dir.path().join("snaps"), 3).unwrap();

        let info = snapshots.save("maker", 7, &workspace).await.unwrap();
        assert_eq!(info.key, "offices/maker/000000000007.tar.zst");
        assert_eq!(Snapshots::generation_of(&info.key), Some(7));
        assert_eq!((info.files, info.source_bytes), (2, 7));

        std::fs::remove_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("stale.txt"), "old").unwrap();
        let manifest = snapshots.restore(&info.key, "maker", &workspace).await.unwrap();
        assert_eq!((manifest.office.as_str(), manifest.generation), ("maker", 7));
        assert_eq!(std::fs::read_to_string(workspace.join("notes/deep/a.md")).unwrap(), "hello");
        assert!(!workspace.join("stale.txt").exists(), "restore replaces the workspace");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_socket_or_fifo_left_in_the_workspace_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("work.md"), "done").unwrap();
        std::os::unix::fs::symlink("work.md", workspace.join("latest")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(workspace.join("agent.sock")).unwrap();
        let fifo = std::ffi::CString::new(workspace.join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let snapshots = Snapshots::local(&dir.path().join("snaps"), 3).unwrap();
        let info = snapshots.save("maker", 1, &workspace).await.unwrap();
        let restored = dir.path().join("restored");
        snapshots.restore(&info.key, "maker", &restored).await.unwrap();
        assert_eq!(std::fs::read_to_string(restored.join("work.md")).unwrap(), "done");
        assert_eq!(std::fs::read_link(restored.join("latest")).unwrap(), Path::new("work.md"));
        assert!(!restored.join("agent.sock").exists() && !restored.join("pipe").exists());
    }

    #[tokio::test]
    async fn a_workspace_over_the_cap_is_refused_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("big.bin"), vec![7u8; 10_000]).unwrap();
        let roomy = Snapshots::local(&dir.path().join("snaps"), 3).unwrap();
        let info = roomy.save("maker", 1, &workspace).await.unwrap();
        let tight = Snapshots::local(&dir.path().join("snaps"), 3).unwrap().with_max_bytes(5_000);
        let error = tight.save("maker", 2, &workspace).await.unwrap_err();
        assert!(error.to_string().contains("more than the 5000 bytes"), "{error}");
        let restored = dir.path().join("restored");
        std::fs::create_dir_all(&restored).unwrap();
        std::fs::write(restored.join("keep.txt"), "x").unwrap();
        let error = tight.restore(&info.key, "maker", &restored).await.unwrap_err();
        assert!(error.to_string().contains("more than the 5000 bytes"), "{error}");
        assert!(restored.join("keep.txt").exists(), "the workspace was left as it was");
    }

    #[tokio::test]
    async fn a_big_archive_is_uploaded_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        // Random bytes do not compress: the archive is bigger than one upload.
        let mut noise = vec![0u8; (SINGLE_UPLOAD + (1 << 20)) as usize];
        rand::Rng::fill(&mut rand::rng(), &mut noise[..]);
        std::fs::write(workspace.join("noise.bin"), &noise).unwrap();
        let snapshots = Snapshots::new(Arc::new(object_store::memory::InMemory::new()), 1);
        let info = snapshots.save("maker", 1, &workspace).await.unwrap();
        assert!(info.bytes > SINGLE_UPLOAD, "{}", info.bytes);
        let restored = dir.path().join("restored");
        snapshots.restore(&info.key, "maker", &restored).await.unwrap();
        assert_eq!(std::fs::read(restored.join("noise.bin")).unwrap(), noise);
    }

    #[tokio::test]
    async fn a_missing_snapshot_leaves_the_workspace_alone() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("keep.txt"), "x").unwrap();
        let snapshots = Snapshots::local(&dir.path().join("snaps"), 3).unwrap();
        let err = snapshots.restore("offices/maker/000000000001.tar.zst", "maker", &workspace).await.unwrap_err();
        assert!(err.to_string().contains("cannot fetch snapshot"), "{err}");
        assert!(workspace.join("keep.txt").exists());
    }

    #[tokio::test]
    async fn a_corrupt_snapshot_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("keep.txt"), "x").unwrap();
        let store = Arc::new(object_store::memory::InMemory::new());
        store.put(&ObjectPath::from("bad"), PutPayload::from_static(b"not zstd")).await.unwrap();
        let snapshots = Snapshots::new(store, 3);
        assert!(snapshots.restore("bad", "maker", &workspace).await.is_err());
        assert!(workspace.join("keep.txt").exists());
    }

    #[tokio::test]
    async fn a_snapshot_cut_short_is_refused_and_changes_nothing() {
        // Unpacked as it streams in: an archive that ends early fails before the
        // workspace is touched, whatever it had unpacked by then.
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::create_dir_all(&source).unwrap();
        for i in 0..20 {
            std::fs::write(source.join(format!("file{i}.txt")), format!("{i}").repeat(50_000)).unwrap();
        }
        let store = Arc::new(object_store::memory::InMemory::new());
        let snapshots = Snapshots::new(store.clone(), 3);
        let info = snapshots.save("maker", 1, &source).await.unwrap();
        let whole = store.get(&ObjectPath::from(info.key.as_str())).await.unwrap().bytes().await.unwrap();
        store.put(&ObjectPath::from("cut"), PutPayload::from(whole.slice(..whole.len() * 2 / 3))).await.unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("keep.txt"), "x").unwrap();
        assert!(snapshots.restore("cut", "maker", &workspace).await.is_err());
        assert_eq!(std::fs::read_dir(&workspace).unwrap().count(), 1, "only what was there");
        assert!(workspace.join("keep.txt").exists());
    }

    /// A snapshot archive with this manifest and one file, as another runtime would write it.
    async fn stored(store: &Arc<object_store::memory::InMemory>, manifest: &Manifest) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.md"), "theirs").unwrap();
        let mut archive = tempfile::tempfile().unwrap();
        pack(dir.path(), manifest, 3, &mut archive, u64::MAX).unwrap();
        use std::io::{Seek, SeekFrom};
        archive.seek(SeekFrom::Start(0)).unwrap();
        let mut data = Vec::new();
        archive.read_to_end(&mut data).unwrap();
        store.put(&ObjectPath::from("snap"), PutPayload::from(data)).await.unwrap();
        "snap".to_owned()
    }

    #[tokio::test]
    async fn an_incompatible_or_foreign_snapshot_is_not_restored_blindly() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(workspace.join("keep.txt"), "x").unwrap();
        let store = Arc::new(object_store::memory::InMemory::new());
        let snapshots = Snapshots::new(store.clone(), 3);
        let manifest = |office: &str, version: &str| Manifest {
            office: office.into(),
            generation: 3,
            runtime_version: version.into(),
            created_at: "2026-11-22T00:00:00Z".into(),
        };
        let key = stored(&store, &manifest("maker", "9.0.0")).await;
        let error = snapshots.restore(&key, "maker", &workspace).await.unwrap_err();
        assert!(error.to_string().starts_with("the snapshot was written by runtime 9.0.0"), "{error}");
        let key = stored(&store, &manifest("analyst", crate::RUNTIME_VERSION)).await;
        let error = snapshots.restore(&key, "maker", &workspace).await.unwrap_err();
        assert!(error.to_string().contains("belongs to office `analyst`"), "{error}");
        assert!(workspace.join("keep.txt").exists(), "nothing was unpacked");
        assert!(!workspace.join("notes.md").exists());
    }

    #[test]
    fn which_runtimes_read_which_snapshots() {
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"), "before 1.0 a minor version may break the format");
        assert!(compatible("1.2.0", "1.9.3"));
        assert!(!compatible("1.9.0", "2.0.0"));
        assert!(!compatible("garbage", "0.1.0"));
    }
}
