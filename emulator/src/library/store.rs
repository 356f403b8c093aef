//! The library's data: entities, collections, containers, images, tags and image bytes.
//!
//! All lookups and mutations happen here under one lock held by the caller; HTTP handlers in
//! `routes.rs`, `upload.rs` and `download.rs` only translate. Errors are [`ApiError`]s
//! because every one of them is answered to a client.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::libref::{LibraryRef, is_image_hash, is_valid_name, is_valid_tag};
use super::model::{CollectionRecord, ContainerRecord, EntityRecord, ImageRecord, Lineage};
use crate::envelope::ApiError;
use crate::ids::{IdGenerator, hex};
use crate::sif;

/// What `--data-dir` persists as `library.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LibraryData {
    /// Entities by id.
    pub entities: BTreeMap<String, EntityRecord>,
    /// Collections by id.
    pub collections: BTreeMap<String, CollectionRecord>,
    /// Containers by id.
    pub containers: BTreeMap<String, ContainerRecord>,
    /// Images by id.
    pub images: BTreeMap<String, ImageRecord>,
}

/// The library: records plus the bytes of uploaded images, keyed by image hash.
#[derive(Debug, Default)]
pub struct Library {
    pub(super) data: LibraryData,
    blobs: HashMap<String, Bytes>,
}

/// Returns the current Unix time in seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Returns `sha256.<hex>` of `bytes`.
pub fn image_hash(bytes: &[u8]) -> String {
    format!("sha256.{}", hex(&Sha256::digest(bytes)))
}

impl Library {
    /// Restores a library from persisted records and blobs.
    pub fn from_parts(data: LibraryData, blobs: HashMap<String, Bytes>) -> Self {
        Self { data, blobs }
    }

    /// Returns the records, for persisting.
    pub fn data(&self) -> &LibraryData {
        &self.data
    }

    /// Returns every stored image file, for persisting.
    pub fn blobs(&self) -> Vec<(String, Bytes)> {
        self.blobs
            .iter()
            .map(|(hash, bytes)| (hash.clone(), bytes.clone()))
            .collect()
    }

    /// Returns the bytes of an uploaded image.
    pub fn blob(&self, hash: &str) -> Option<Bytes> {
        self.blobs.get(hash).cloned()
    }

    // ----- lookups -------------------------------------------------------------------------

    /// Finds an entity by name.
    pub fn entity_by_name(&self, name: &str) -> Option<&EntityRecord> {
        self.data.entities.values().find(|e| e.name == name)
    }

    /// Finds a collection by entity and collection name.
    pub fn collection_by_names(&self, entity: &str, collection: &str) -> Option<&CollectionRecord> {
        let entity = self.entity_by_name(entity)?;
        self.data
            .collections
            .values()
            .find(|c| c.entity_id == entity.id && c.name == collection)
    }

    /// Finds a container by its three names.
    pub fn container_by_names(
        &self,
        entity: &str,
        collection: &str,
        container: &str,
    ) -> Option<&ContainerRecord> {
        let collection = self.collection_by_names(entity, collection)?;
        self.data
            .containers
            .values()
            .find(|c| c.collection_id == collection.id && c.name == container)
    }

    /// Finds an image by id.
    pub fn image(&self, id: &str) -> Option<&ImageRecord> {
        self.data.images.get(id)
    }

    /// Finds a container by id.
    pub fn container(&self, id: &str) -> Option<&ContainerRecord> {
        self.data.containers.get(id)
    }

    /// Resolves `entity/collection/container:tag-or-hash` for `arch` (empty = any).
    ///
    /// A tag is looked up in the arch tags for `arch`, then in the legacy tags if the image
    /// there fits `arch`. A hash resolves only to an image whose arch is unknown or equal to
    /// `arch`, as real SCS does (PROTOCOL.md §5.13).
    pub fn resolve(&self, reference: &LibraryRef, arch: &str) -> Result<&ImageRecord, ApiError> {
        let missing = || {
            ApiError::not_found(format!(
                "image {}:{} (arch {}) not found",
                reference.path(),
                reference.tag(),
                if arch.is_empty() { "any" } else { arch }
            ))
        };
        let container = self
            .container_by_names(
                &reference.entity,
                &reference.collection,
                &reference.container,
            )
            .ok_or_else(missing)?;
        let tag = reference.tag();
        let fits = |image: &&ImageRecord| {
            arch.is_empty() || image.arch.as_deref().is_none_or(|a| a == arch)
        };
        if is_image_hash(tag) {
            return self
                .data
                .images
                .values()
                .filter(|image| image.container_id == container.id && image.hash == tag)
                .find(fits)
                .ok_or_else(missing);
        }
        let by_arch = (!arch.is_empty())
            .then(|| container.arch_tags.get(arch).and_then(|tags| tags.get(tag)))
            .flatten();
        let id = by_arch
            .or_else(|| {
                container
                    .image_tags
                    .get(tag)
                    .filter(|id| self.data.images.get(*id).as_ref().is_some_and(fits))
            })
            .ok_or_else(missing)?;
        self.data.images.get(id).ok_or_else(missing)
    }

    pub(super) fn lineage_of_collection(&self, collection_id: &str) -> Lineage {
        let collection = self.data.collections.get(collection_id);
        let entity = collection.and_then(|c| self.data.entities.get(&c.entity_id));
        Lineage {
            entity_id: entity.map(|e| e.id.clone()).unwrap_or_default(),
            entity_name: entity.map(|e| e.name.clone()).unwrap_or_default(),
            collection_id: collection.map(|c| c.id.clone()).unwrap_or_default(),
            collection_name: collection.map(|c| c.name.clone()).unwrap_or_default(),
        }
    }

    /// Returns the tags that point at `image_id`, sorted.
    pub(super) fn tags_of(&self, container: &ContainerRecord, image_id: &str) -> Vec<String> {
        let mut tags: Vec<String> = container
            .image_tags
            .iter()
            .chain(container.arch_tags.values().flatten())
            .filter(|(_, id)| *id == image_id)
            .map(|(tag, _)| tag.clone())
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }

    /// Returns the images of a container.
    pub(super) fn images_of<'a>(
        &'a self,
        container_id: &'a str,
    ) -> impl Iterator<Item = &'a ImageRecord> {
        self.data
            .images
            .values()
            .filter(move |image| image.container_id == container_id)
    }

    // ----- creation ------------------------------------------------------------------------

    /// Creates an entity; 409 if the name is taken.
    pub fn create_entity(
        &mut self,
        ids: &IdGenerator,
        name: &str,
        description: &str,
    ) -> Result<EntityRecord, ApiError> {
        check_name("entity", name)?;
        if self.entity_by_name(name).is_some() {
            return Err(ApiError::conflict(format!("entity {name} already exists")));
        }
        let record = EntityRecord {
            id: ids.next_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_unix(),
        };
        self.data.entities.insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Creates a collection in an entity given by id.
    pub fn create_collection(
        &mut self,
        ids: &IdGenerator,
        name: &str,
        entity_id: &str,
        description: &str,
    ) -> Result<CollectionRecord, ApiError> {
        check_name("collection", name)?;
        let entity =
            self.data.entities.get(entity_id).ok_or_else(|| {
                ApiError::bad_request(format!("entity `{entity_id}` does not exist"))
            })?;
        if self.collection_by_names(&entity.name, name).is_some() {
            return Err(ApiError::conflict(format!(
                "collection {}/{name} already exists",
                entity.name
            )));
        }
        let record = CollectionRecord {
            id: ids.next_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            entity_id: entity_id.to_owned(),
            created_at: now_unix(),
        };
        self.data
            .collections
            .insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Creates a container in a collection given by id.
    pub fn create_container(
        &mut self,
        ids: &IdGenerator,
        name: &str,
        collection_id: &str,
        description: &str,
    ) -> Result<ContainerRecord, ApiError> {
        check_name("container", name)?;
        if !self.data.collections.contains_key(collection_id) {
            return Err(ApiError::bad_request(format!(
                "collection `{collection_id}` does not exist"
            )));
        }
        let taken = self
            .data
            .containers
            .values()
            .any(|c| c.collection_id == collection_id && c.name == name);
        if taken {
            return Err(ApiError::conflict(format!(
                "container {name} already exists"
            )));
        }
        let record = ContainerRecord {
            id: ids.next_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            collection_id: collection_id.to_owned(),
            created_at: now_unix(),
            image_tags: BTreeMap::new(),
            arch_tags: BTreeMap::new(),
            download_count: 0,
        };
        self.data
            .containers
            .insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Creates an image record (not yet uploaded) in a container given by id.
    pub fn create_image(
        &mut self,
        ids: &IdGenerator,
        hash: &str,
        container_id: &str,
        description: &str,
    ) -> Result<ImageRecord, ApiError> {
        if !hash.starts_with("sha256.") || !is_image_hash(hash) {
            return Err(ApiError::bad_request(format!(
                "image hash `{hash}` is not sha256.<64 lowercase hex>"
            )));
        }
        if !self.data.containers.contains_key(container_id) {
            return Err(ApiError::bad_request(format!(
                "container `{container_id}` does not exist"
            )));
        }
        if self.images_of(container_id).any(|image| image.hash == hash) {
            return Err(ApiError::conflict(format!(
                "image {hash} already exists in this container"
            )));
        }
        let record = ImageRecord {
            id: ids.next_id(),
            hash: hash.to_owned(),
            description: description.to_owned(),
            container_id: container_id.to_owned(),
            created_at: now_unix(),
            size: 0,
            uploaded: false,
            arch: None,
            signed: false,
            fingerprints: Vec::new(),
        };
        self.data.images.insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Stores the uploaded bytes of an image after checking them against its hash.
    ///
    /// The image's architecture is read from the SIF header when it has one, and whether it
    /// is signed (and by whom) from its signature objects.
    pub fn complete_upload(&mut self, image_id: &str, bytes: Bytes) -> Result<(), ApiError> {
        let image = self
            .data
            .images
            .get_mut(image_id)
            .ok_or_else(|| ApiError::not_found(format!("image {image_id} not found")))?;
        let actual = image_hash(&bytes);
        if actual != image.hash {
            return Err(ApiError::bad_request(format!(
                "uploaded file has hash {actual}, but image {image_id} is {}",
                image.hash
            )));
        }
        image.size = bytes.len() as u64;
        image.uploaded = true;
        let info = sif::read(&bytes);
        if let Some(arch) = info.as_ref().and_then(|info| info.arch) {
            image.arch = Some(arch.to_owned());
        }
        image.signed = info.as_ref().is_some_and(|info| info.signed);
        image.fingerprints = info.map(|info| info.signers).unwrap_or_default();
        self.blobs.insert(actual, bytes);
        Ok(())
    }

    // ----- tags ----------------------------------------------------------------------------

    /// Returns the v1 tag map of a container.
    pub fn tags_v1(&self, container_id: &str) -> Result<&BTreeMap<String, String>, ApiError> {
        self.container(container_id)
            .map(|c| &c.image_tags)
            .ok_or_else(|| ApiError::not_found(format!("container {container_id} not found")))
    }

    /// Returns the v2 arch tag map of a container.
    pub fn tags_v2(
        &self,
        container_id: &str,
    ) -> Result<&BTreeMap<String, BTreeMap<String, String>>, ApiError> {
        self.container(container_id)
            .map(|c| &c.arch_tags)
            .ok_or_else(|| ApiError::not_found(format!("container {container_id} not found")))
    }

    /// Points `tag` at `image_id` (or removes it when `image_id` is empty, as hinkskalle
    /// does). With an arch the v2 arch tag is set; the legacy tag is set in both cases so
    /// v1 clients see the newest image.
    pub fn set_tag(
        &mut self,
        container_id: &str,
        arch: Option<&str>,
        tag: &str,
        image_id: &str,
    ) -> Result<(), ApiError> {
        if !is_valid_name(tag) {
            return Err(ApiError::bad_request(format!("`{tag}` is not a valid tag")));
        }
        let arch = arch.filter(|a| !a.is_empty());
        if !image_id.is_empty() {
            let image = self.data.images.get(image_id).ok_or_else(|| {
                ApiError::bad_request(format!("image `{image_id}` does not exist"))
            })?;
            if image.container_id != container_id {
                return Err(ApiError::bad_request(format!(
                    "image `{image_id}` is not in container `{container_id}`"
                )));
            }
        }
        let container =
            self.data.containers.get_mut(container_id).ok_or_else(|| {
                ApiError::not_found(format!("container {container_id} not found"))
            })?;
        if image_id.is_empty() {
            container.image_tags.remove(tag);
            if let Some(tags) = arch.and_then(|arch| container.arch_tags.get_mut(arch)) {
                tags.remove(tag);
            }
            return Ok(());
        }
        container
            .image_tags
            .insert(tag.to_owned(), image_id.to_owned());
        let image_arch = self.data.images.get(image_id).and_then(|i| i.arch.clone());
        let tag_arch = arch.map(str::to_owned).or(image_arch);
        if let Some(tag_arch) = tag_arch {
            container
                .arch_tags
                .entry(tag_arch.clone())
                .or_default()
                .insert(tag.to_owned(), image_id.to_owned());
            if let Some(image) = self.data.images.get_mut(image_id) {
                image.arch.get_or_insert(tag_arch);
            }
        }
        Ok(())
    }

    // ----- downloads, deletion, search -----------------------------------------------------

    /// Counts a download of an image.
    pub fn count_download(&mut self, image_id: &str) {
        let container_id = self
            .data
            .images
            .get(image_id)
            .map(|i| i.container_id.clone());
        if let Some(container) = container_id.and_then(|id| self.data.containers.get_mut(&id)) {
            container.download_count += 1;
        }
    }

    /// Deletes an image, its tags, and its bytes if no other image shares them.
    pub fn delete_image(&mut self, image_id: &str) -> Result<ImageRecord, ApiError> {
        let image = self
            .data
            .images
            .remove(image_id)
            .ok_or_else(|| ApiError::not_found(format!("image {image_id} not found")))?;
        if let Some(container) = self.data.containers.get_mut(&image.container_id) {
            container.image_tags.retain(|_, id| *id != image_id);
            for tags in container.arch_tags.values_mut() {
                tags.retain(|_, id| *id != image_id);
            }
            container.arch_tags.retain(|_, tags| !tags.is_empty());
        }
        if !self.data.images.values().any(|i| i.hash == image.hash) {
            self.blobs.remove(&image.hash);
        }
        Ok(image)
    }

    // ----- publishing build results --------------------------------------------------------

    /// Stores a built image under `reference` for `arch`, creating what is missing, and
    /// points each of the reference's tags at it (arch tag and legacy tag). Returns the
    /// image's hash.
    pub fn publish(
        &mut self,
        ids: &IdGenerator,
        reference: &LibraryRef,
        arch: &str,
        bytes: Bytes,
    ) -> Result<String, ApiError> {
        let hash = image_hash(&bytes);
        let entity_id = match self.entity_by_name(&reference.entity) {
            Some(entity) => entity.id.clone(),
            None => {
                self.create_entity(ids, &reference.entity, "No description")?
                    .id
            }
        };
        let collection_id = match self.collection_by_names(&reference.entity, &reference.collection)
        {
            Some(collection) => collection.id.clone(),
            None => {
                self.create_collection(ids, &reference.collection, &entity_id, "No description")?
                    .id
            }
        };
        let existing = self
            .container_by_names(
                &reference.entity,
                &reference.collection,
                &reference.container,
            )
            .map(|c| c.id.clone());
        let container_id = match existing {
            Some(id) => id,
            None => {
                self.create_container(ids, &reference.container, &collection_id, "No description")?
                    .id
            }
        };
        let existing_image = self
            .images_of(&container_id)
            .find(|image| image.hash == hash)
            .map(|image| image.id.clone());
        let image_id = match existing_image {
            Some(id) => id,
            None => {
                self.create_image(ids, &hash, &container_id, "Emulated build")?
                    .id
            }
        };
        self.complete_upload(&image_id, bytes)?;
        for tag in &reference.tags {
            if is_valid_tag(tag) && !is_image_hash(tag) {
                self.set_tag(&container_id, Some(arch), tag, &image_id)?;
            }
        }
        Ok(hash)
    }
}

fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{kind} name `{name}` must be lowercase letters and digits with single . _ - separators"
        )))
    }
}
