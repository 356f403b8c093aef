//! Library endpoints for entities, collections, containers, images, tags, search and
//! deletion (PROTOCOL.md §3.2). Uploads are in `upload.rs`, downloads in `download.rs`.
//!
//! Request bodies are decoded without looking at `Content-Type` and with every field
//! optional, because Go clients send no content type and whole structs of zero values.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::libref::{LibraryRef, parse_source};
use crate::envelope::{self, ApiError, parse_json};
use crate::state::AppState;

/// `?arch=` as clients send it; `arch` is always present, possibly empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArchQuery {
    /// The requested architecture; empty means any.
    pub arch: String,
}

/// A create body: only the keys the emulator reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateBody {
    name: Option<String>,
    description: Option<String>,
    entity: Option<String>,
    collection: Option<String>,
    container: Option<String>,
    hash: Option<String>,
}

impl CreateBody {
    fn description(&self) -> &str {
        self.description.as_deref().unwrap_or_default()
    }
}

fn required<'a>(value: &'a Option<String>, key: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("`{key}` is required")))
}

/// `GET v1/entities/{entity}`.
pub async fn get_entity(
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<Response, ApiError> {
    let library = state.library();
    let record = library
        .entity_by_name(&entity)
        .ok_or_else(|| ApiError::not_found(format!("entity {entity} not found")))?;
    Ok(envelope::data(library.entity_json(record)))
}

/// `POST v1/entities`.
pub async fn create_entity(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse_json(&body)?;
    let name = required(&body.name, "name")?;
    let view = {
        let mut library = state.library();
        let record = library.create_entity(&state.ids, name, body.description())?;
        library.entity_json(&record)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// `GET v1/collections/{entity}/{collection}`.
pub async fn get_collection(
    State(state): State<AppState>,
    Path((entity, collection)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let library = state.library();
    let record = library
        .collection_by_names(&entity, &collection)
        .ok_or_else(|| {
            ApiError::not_found(format!("collection {entity}/{collection} not found"))
        })?;
    Ok(envelope::data(library.collection_json(record)))
}

/// `POST v1/collections` (`entity` is the entity's id).
pub async fn create_collection(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse_json(&body)?;
    let name = required(&body.name, "name")?;
    let entity = required(&body.entity, "entity")?;
    let view = {
        let mut library = state.library();
        let record = library.create_collection(&state.ids, name, entity, body.description())?;
        library.collection_json(&record)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// `GET v1/containers/{entity}/{collection}/{container}`.
pub async fn get_container(
    State(state): State<AppState>,
    Path((entity, collection, container)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let library = state.library();
    let record = library
        .container_by_names(&entity, &collection, &container)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "container {entity}/{collection}/{container} not found"
            ))
        })?;
    Ok(envelope::data(library.container_json(record)))
}

/// `POST v1/containers` (`collection` is the collection's id).
pub async fn create_container(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse_json(&body)?;
    let name = required(&body.name, "name")?;
    let collection = required(&body.collection, "collection")?;
    let view = {
        let mut library = state.library();
        let record = library.create_container(&state.ids, name, collection, body.description())?;
        library.container_json(&record)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// Parses the `{e}/{c}/{n}:{tag-or-hash}` tail of an image route.
pub fn image_path(path: &str) -> Result<LibraryRef, ApiError> {
    parse_source(path).map_err(|message| ApiError::not_found(format!("no such image: {message}")))
}

/// `GET v1/images/{e}/{c}/{n}:{tag-or-hash}?arch=`.
pub async fn get_image(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(query): Query<ArchQuery>,
) -> Result<Response, ApiError> {
    let reference = image_path(&path)?;
    let library = state.library();
    let image = library.resolve(&reference, &query.arch)?;
    Ok(envelope::data(library.image_json(image)))
}

/// `POST v1/images` (`container` is the container's id).
pub async fn create_image(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse_json(&body)?;
    let hash = required(&body.hash, "hash")?;
    let container = required(&body.container, "container")?;
    let view = {
        let mut library = state.library();
        let record = library.create_image(&state.ids, hash, container, body.description())?;
        library.image_json(&record)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// `DELETE v1/images/{e}/{c}/{n}:{tag}?arch=`: removes the image the tag resolves to.
pub async fn delete_image(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(query): Query<ArchQuery>,
) -> Result<Response, ApiError> {
    let reference = image_path(&path)?;
    let view = {
        let mut library = state.library();
        let image_id = library.resolve(&reference, &query.arch)?.id.clone();
        let view = library
            .image(&image_id)
            .map(|image| library.image_json(image));
        library.delete_image(&image_id)?;
        view
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// A tag body: the Go client's capitalised keys, lower-case spellings accepted too.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TagBody {
    #[serde(rename = "Tag", alias = "tag")]
    tag: Option<String>,
    #[serde(rename = "ImageID", alias = "imageID", alias = "imageId")]
    image_id: Option<String>,
    #[serde(rename = "Arch", alias = "arch")]
    arch: Option<String>,
}

/// `GET v1/tags/{containerID}`: `{tag: imageID}`, exactly 200.
pub async fn get_tags_v1(
    State(state): State<AppState>,
    Path(container_id): Path<String>,
) -> Result<Response, ApiError> {
    let library = state.library();
    Ok(envelope::data(library.tags_v1(&container_id)?))
}

/// `POST v1/tags/{containerID}` `{"Tag", "ImageID"}`: exactly 200, replies the new map.
pub async fn set_tag_v1(
    State(state): State<AppState>,
    Path(container_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: TagBody = parse_json(&body)?;
    let tag = required(&body.tag, "Tag")?;
    let view = {
        let mut library = state.library();
        library.set_tag(
            &container_id,
            None,
            tag,
            body.image_id.as_deref().unwrap_or_default(),
        )?;
        serde_json::to_value(library.tags_v1(&container_id)?).unwrap_or(Value::Null)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// `GET v2/tags/{containerID}`: `{arch: {tag: imageID}}`, exactly 200.
pub async fn get_tags_v2(
    State(state): State<AppState>,
    Path(container_id): Path<String>,
) -> Result<Response, ApiError> {
    let library = state.library();
    Ok(envelope::data(library.tags_v2(&container_id)?))
}

/// `POST v2/tags/{containerID}` `{"Arch", "Tag", "ImageID"}`: exactly 200.
pub async fn set_tag_v2(
    State(state): State<AppState>,
    Path(container_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: TagBody = parse_json(&body)?;
    let tag = required(&body.tag, "Tag")?;
    let arch = required(&body.arch, "Arch")?;
    let view = {
        let mut library = state.library();
        library.set_tag(
            &container_id,
            Some(arch),
            tag,
            body.image_id.as_deref().unwrap_or_default(),
        )?;
        serde_json::to_value(library.tags_v2(&container_id)?).unwrap_or(Value::Null)
    };
    state.persist().await?;
    Ok(envelope::data(view))
}

/// `GET v1/search?value=..&arch=..&signed=..`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    value: String,
    arch: String,
    signed: String,
}

/// `GET v1/search`: names containing `value` (at least 3 characters), only images when
/// `arch` or `signed` filters them.
pub async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    if query.value.chars().count() < 3 {
        return Err(ApiError::bad_request(
            "search value must have at least 3 characters",
        ));
    }
    let arches: Vec<String> = query
        .arch
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let signed = match query.signed.as_str() {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        other => {
            return Err(ApiError::bad_request(format!(
                "signed must be true or false, not `{other}`"
            )));
        }
    };
    Ok(envelope::data(state.library().search(
        &query.value,
        &arches,
        signed,
    )))
}

/// `GET v1/oci-redirect`: always 404, which keeps clients on the native library flow
/// (PROTOCOL.md §5.12).
pub async fn oci_redirect() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OCI registry redirection is not supported",
    )
    .into_response()
}
