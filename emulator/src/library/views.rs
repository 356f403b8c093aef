//! JSON views of library records, and search, computed from the stored records.

use serde_json::{Value, json};

use super::model::{
    CollectionRecord, ContainerRecord, EntityRecord, ImageRecord, collection_view, container_view,
    entity_view, image_view,
};
use super::store::Library;

impl Library {
    /// Returns the view of an entity.
    pub fn entity_json(&self, entity: &EntityRecord) -> Value {
        let collections: Vec<String> = self
            .data
            .collections
            .values()
            .filter(|c| c.entity_id == entity.id)
            .map(|c| c.id.clone())
            .collect();
        let size = collections.iter().map(|id| self.collection_size(id)).sum();
        entity_view(entity, &collections, size)
    }

    /// Returns the view of a collection.
    pub fn collection_json(&self, collection: &CollectionRecord) -> Value {
        let containers: Vec<String> = self
            .data
            .containers
            .values()
            .filter(|c| c.collection_id == collection.id)
            .map(|c| c.id.clone())
            .collect();
        let lineage = self.lineage_of_collection(&collection.id);
        collection_view(
            collection,
            &lineage.entity_name,
            &containers,
            self.collection_size(&collection.id),
        )
    }

    /// Returns the view of a container.
    pub fn container_json(&self, container: &ContainerRecord) -> Value {
        let images: Vec<&ImageRecord> = self.images_of(&container.id).collect();
        let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
        let size = images.iter().map(|i| i.size).sum();
        let lineage = self.lineage_of_collection(&container.collection_id);
        container_view(container, &lineage, &ids, size)
    }

    /// Returns the view of an image.
    pub fn image_json(&self, image: &ImageRecord) -> Value {
        let Some(container) = self.data.containers.get(&image.container_id) else {
            return json!({"id": image.id, "hash": image.hash});
        };
        let lineage = self.lineage_of_collection(&container.collection_id);
        image_view(
            image,
            container,
            &lineage,
            &self.tags_of(container, &image.id),
        )
    }

    fn collection_size(&self, collection_id: &str) -> u64 {
        self.data
            .containers
            .values()
            .filter(|c| c.collection_id == collection_id)
            .flat_map(|c| self.images_of(&c.id))
            .map(|i| i.size)
            .sum()
    }

    /// Searches names containing `value` (case-insensitive); images are those of matching
    /// containers.
    ///
    /// With `arches` or `signed`, only images are searched, filtered by both: the client
    /// documents the scope ("if 'arch' and/or 'signed' are specified, the search is limited
    /// in scope only to the Image collection", scs-library-client `client/search.go`), and
    /// its `api/server/openapi.yml` the filters. `signed` is what the upload's SIF holds.
    pub fn search(&self, value: &str, arches: &[String], signed: Option<bool>) -> Value {
        let needle = value.to_ascii_lowercase();
        let matches = |name: &str| name.to_ascii_lowercase().contains(&needle);
        let images_only = !arches.is_empty() || signed.is_some();
        let entities: Vec<Value> = self
            .data
            .entities
            .values()
            .filter(|e| !images_only && matches(&e.name))
            .map(|e| self.entity_json(e))
            .collect();
        let collections: Vec<Value> = self
            .data
            .collections
            .values()
            .filter(|c| !images_only && matches(&c.name))
            .map(|c| self.collection_json(c))
            .collect();
        let containers: Vec<&ContainerRecord> = self
            .data
            .containers
            .values()
            .filter(|c| matches(&c.name))
            .collect();
        let images: Vec<Value> = containers
            .iter()
            .flat_map(|c| self.images_of(&c.id))
            .filter(|i| i.uploaded)
            .filter(|i| arches.is_empty() || i.arch.as_ref().is_some_and(|a| arches.contains(a)))
            .filter(|i| signed.is_none_or(|signed| i.signed == signed))
            .map(|i| self.image_json(i))
            .collect();
        let containers: Vec<Value> = containers
            .iter()
            .filter(|_| !images_only)
            .map(|c| self.container_json(c))
            .collect();
        json!({
            "entity": entities,
            "collection": collections,
            "container": containers,
            "image": images,
        })
    }
}
