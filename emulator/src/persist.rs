//! `--data-dir`: the library's records in `library.json`, each image's bytes in
//! `images/<hash>.sif` and the keystore's keys in `keys.json`, so a restarted emulator keeps
//! its library and keys.
//!
//! Builds, build contexts and pending uploads are not persisted: a restart ends them, as a
//! real service restart would end in-flight work.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use crate::error::Error;
use crate::keystore::Keystore;
use crate::library::{Library, LibraryData};

const LIBRARY_FILE: &str = "library.json";
const KEYS_FILE: &str = "keys.json";
const IMAGES_DIR: &str = "images";

/// Writes the library to a data directory.
#[derive(Debug)]
pub struct Persistence {
    dir: PathBuf,
    // Serialises saves, so an older snapshot can never overwrite a newer one.
    lock: tokio::sync::Mutex<()>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::DataDir {
        path: path.to_owned(),
        source,
    }
}

impl Persistence {
    /// Opens (creating if needed) a data directory and loads the library it holds.
    pub async fn open(dir: &Path) -> Result<(Self, Library), Error> {
        let images = dir.join(IMAGES_DIR);
        tokio::fs::create_dir_all(&images)
            .await
            .map_err(io_error(&images))?;
        let file = dir.join(LIBRARY_FILE);
        let data: LibraryData = match tokio::fs::read(&file).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::CorruptState {
                path: file.clone(),
                source,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => LibraryData::default(),
            Err(error) => return Err(io_error(&file)(error)),
        };
        let mut blobs = HashMap::new();
        for image in data.images.values().filter(|image| image.uploaded) {
            if blobs.contains_key(&image.hash) {
                continue;
            }
            let path = blob_path(dir, &image.hash);
            let bytes = tokio::fs::read(&path).await.map_err(io_error(&path))?;
            blobs.insert(image.hash.clone(), Bytes::from(bytes));
        }
        let persistence = Self {
            dir: dir.to_owned(),
            lock: tokio::sync::Mutex::new(()),
        };
        Ok((persistence, Library::from_parts(data, blobs)))
    }

    /// Writes the current library: new image files first, then the records, then removes
    /// files of deleted images.
    pub async fn save(&self, library: &Mutex<Library>) -> Result<(), Error> {
        let _guard = self.lock.lock().await;
        let (json, blobs) = {
            let library = library
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let json = serde_json::to_vec_pretty(library.data()).map_err(|source| {
                Error::CorruptState {
                    path: self.dir.join(LIBRARY_FILE),
                    source,
                }
            })?;
            (json, library.blobs())
        };
        let mut keep = HashSet::new();
        for (hash, bytes) in blobs {
            let path = blob_path(&self.dir, &hash);
            keep.insert(path.clone());
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                continue;
            }
            write_atomically(&path, &bytes).await?;
        }
        write_atomically(&self.dir.join(LIBRARY_FILE), &json).await?;
        let images = self.dir.join(IMAGES_DIR);
        let mut entries = tokio::fs::read_dir(&images)
            .await
            .map_err(io_error(&images))?;
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&images))? {
            let path = entry.path();
            if !keep.contains(&path) {
                tokio::fs::remove_file(&path)
                    .await
                    .map_err(io_error(&path))?;
            }
        }
        Ok(())
    }
}

impl Persistence {
    /// Loads the keystore kept in the data directory (empty when there is none yet).
    pub async fn load_keys(&self) -> Result<Keystore, Error> {
        let file = self.dir.join(KEYS_FILE);
        match tokio::fs::read(&file).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::CorruptState {
                path: file.clone(),
                source,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Keystore::default()),
            Err(error) => Err(io_error(&file)(error)),
        }
    }

    /// Writes the keystore.
    pub async fn save_keys(&self, keystore: &Mutex<Keystore>) -> Result<(), Error> {
        let _guard = self.lock.lock().await;
        let file = self.dir.join(KEYS_FILE);
        let json = {
            let keystore = keystore
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            serde_json::to_vec_pretty(&*keystore).map_err(|source| Error::CorruptState {
                path: file.clone(),
                source,
            })?
        };
        write_atomically(&file, &json).await
    }
}

fn blob_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join(IMAGES_DIR).join(format!("{hash}.sif"))
}

/// Writes to a temporary file and renames it, so a crash never leaves a half-written file.
async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    tokio::fs::write(&temporary, bytes)
        .await
        .map_err(io_error(&temporary))?;
    tokio::fs::rename(&temporary, path)
        .await
        .map_err(io_error(path))
}
