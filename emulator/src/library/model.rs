//! The library's stored records and the JSON views clients receive.
//!
//! Records are what `--data-dir` persists. Views follow the Go client's models
//! (PROTOCOL.md §3.1): exact key spellings, RFC 3339 times, ids as strings, empty lists as
//! `[]` rather than `null`, and the computed name fields clients display.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::timefmt::rfc3339_from_unix;

/// A stored entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// A stored collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionRecord {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The owning entity's id.
    pub entity_id: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// A stored container with its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The owning collection's id.
    pub collection_id: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Legacy tags (v1 API): tag -> image id.
    pub image_tags: BTreeMap<String, String>,
    /// Arch tags (v2 API): arch -> tag -> image id.
    pub arch_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Downloads served from this container.
    pub download_count: u64,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The id.
    pub id: String,
    /// `sha256.<hex>` of the SIF file.
    pub hash: String,
    /// The description.
    pub description: String,
    /// The owning container's id.
    pub container_id: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Size in bytes once uploaded.
    pub size: u64,
    /// Whether the file has been uploaded.
    pub uploaded: bool,
    /// Architecture, from the SIF header or the v2 tag that named it.
    pub arch: Option<String>,
    /// Whether the uploaded SIF holds a signature object (the library scans each upload).
    /// Defaulted so records persisted before signing existed still load.
    #[serde(default)]
    pub signed: bool,
    /// The signers' fingerprints the signature objects name, upper-case hex.
    #[serde(default)]
    pub fingerprints: Vec<String>,
}

/// Names of an object's ancestors, for the computed view fields.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    /// Entity id.
    pub entity_id: String,
    /// Entity name.
    pub entity_name: String,
    /// Collection id.
    pub collection_id: String,
    /// Collection name.
    pub collection_name: String,
}

/// The view of an entity.
pub fn entity_view(entity: &EntityRecord, collections: &[String], size: u64) -> Value {
    json!({
        "id": entity.id,
        "name": entity.name,
        "description": entity.description,
        "collections": collections,
        "size": size,
        "quota": 0,
        "defaultPrivate": false,
        "customData": "",
        "deleted": false,
        "createdBy": "",
        "createdAt": rfc3339_from_unix(entity.created_at),
    })
}

/// The view of a collection.
pub fn collection_view(
    collection: &CollectionRecord,
    entity_name: &str,
    containers: &[String],
    size: u64,
) -> Value {
    json!({
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "entity": collection.entity_id,
        "entityName": entity_name,
        "containers": containers,
        "size": size,
        "private": false,
        "customData": "",
        "deleted": false,
        "createdBy": "",
        "createdAt": rfc3339_from_unix(collection.created_at),
    })
}

/// The view of a container.
pub fn container_view(
    container: &ContainerRecord,
    lineage: &Lineage,
    images: &[String],
    size: u64,
) -> Value {
    json!({
        "id": container.id,
        "name": container.name,
        "description": container.description,
        "fullDescription": "",
        "collection": container.collection_id,
        "collectionName": lineage.collection_name,
        "entity": lineage.entity_id,
        "entityName": lineage.entity_name,
        "images": images,
        "imageTags": container.image_tags,
        "archTags": container.arch_tags,
        "size": size,
        "downloadCount": container.download_count,
        "stars": 0,
        "private": false,
        "readOnly": false,
        "customData": "",
        "deleted": false,
        "createdBy": "",
        "createdAt": rfc3339_from_unix(container.created_at),
    })
}

/// The view of an image.
pub fn image_view(
    image: &ImageRecord,
    container: &ContainerRecord,
    lineage: &Lineage,
    tags: &[String],
) -> Value {
    json!({
        "id": image.id,
        "hash": image.hash,
        "description": image.description,
        "container": image.container_id,
        "containerName": container.name,
        "containerDescription": container.description,
        "containerStars": 0,
        "containerDownloads": container.download_count,
        "collection": lineage.collection_id,
        "collectionName": lineage.collection_name,
        "entity": lineage.entity_id,
        "entityName": lineage.entity_name,
        "size": image.size,
        "uploaded": image.uploaded,
        "signed": image.signed,
        "encrypted": false,
        "arch": image.arch,
        "fingerprints": image.fingerprints,
        "tags": tags,
        "customData": "",
        "deleted": false,
        "createdBy": "",
        "createdAt": rfc3339_from_unix(image.created_at),
    })
}
