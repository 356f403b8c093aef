//! The records an upload goes to: entity, collection and container found or created
//! (PROTOCOL.md §3.5, only 404 means missing), and the image record for the file's hash.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::super::http::{AuthScheme, Call, CallBody, endpoint};
use super::super::library_client::LibraryClient;
use super::super::retry::{transient, transient_not_acted_on};
use super::super::service::{Image, Library, ServiceError, ServiceErrorKind};
use super::super::wire::ImageWire;
use super::DESCRIPTION;
use crate::libref::LibraryRef;

impl LibraryClient {
    /// Returns the container's id, creating the entity, collection and container as needed.
    pub(super) async fn find_or_create(
        &self,
        reference: &LibraryRef,
    ) -> Result<String, ServiceError> {
        let (entity, collection, container) = (
            reference.entity.as_str(),
            reference.collection.as_str(),
            reference.container.as_str(),
        );
        let entity_id = self
            .get_or_create(
                &["v1", "entities", entity],
                "entities",
                || json!({"name": entity, "description": DESCRIPTION}),
            )
            .await?;
        let collection_id = self
            .get_or_create(
                &["v1", "collections", entity, collection],
                "collections",
                || json!({"name": collection, "entity": entity_id, "description": DESCRIPTION}),
            )
            .await?;
        self.get_or_create(
            &["v1", "containers", entity, collection, container],
            "containers",
            || json!({"name": container, "collection": collection_id, "description": DESCRIPTION}),
        )
        .await
    }

    /// Reads the `id` at `path`; on 404 creates it with `POST v1/{kind}`. A create that
    /// meets 409 (another writer was quicker) reads again.
    async fn get_or_create(
        &self,
        path: &[&str],
        kind: &str,
        body: impl Fn() -> serde_json::Value,
    ) -> Result<String, ServiceError> {
        let name = path[2..].join("/");
        let doing = format!("reading {kind} {name}");
        if let Some(id) = self.get_id(path, &doing).await? {
            return Ok(id);
        }
        let creating = format!("creating {kind} {name}");
        match self.create(kind, &body(), &creating).await {
            Ok(value) => id_of(&value).ok_or_else(|| self.no_id(&creating)),
            Err(error) if is_conflict(&error) => self
                .get_id(path, &doing)
                .await?
                .ok_or_else(|| self.no_id(&doing)),
            Err(error) => Err(error),
        }
    }

    fn no_id(&self, doing: &str) -> ServiceError {
        self.transport.error(
            ServiceErrorKind::Protocol,
            doing,
            "the reply has no `id`".to_owned(),
        )
    }

    async fn get_id(&self, path: &[&str], doing: &str) -> Result<Option<String>, ServiceError> {
        let url = endpoint(&self.base, path);
        let attempt = || async {
            let response = self
                .transport
                .send(Call {
                    method: Method::GET,
                    url: url.clone(),
                    auth: Some(AuthScheme::Bearer),
                    body: None,
                    doing,
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let reply = self.transport.read_envelope(response, doing).await?;
            let id = reply.data.as_ref().and_then(id_of);
            id.map(Some).ok_or_else(|| self.no_id(doing))
        };
        self.transport.retry.run(attempt, transient).await
    }

    /// `POST v1/{kind}`: retried only when the library cannot have acted on it (a second
    /// create after a timeout would meet 409, which the caller handles anyway).
    async fn create(
        &self,
        kind: &str,
        body: &serde_json::Value,
        doing: &str,
    ) -> Result<serde_json::Value, ServiceError> {
        let url = endpoint(&self.base, &["v1", kind]);
        let bytes = serde_json::to_vec(body).map_err(|error| {
            self.transport
                .error(ServiceErrorKind::Protocol, doing, error.to_string())
        })?;
        let attempt = || async {
            let reply = self
                .transport
                .call(Call {
                    method: Method::POST,
                    url: url.clone(),
                    auth: Some(AuthScheme::Bearer),
                    body: Some(CallBody::UntypedJson(bytes.clone())),
                    doing,
                })
                .await?;
            reply.data.ok_or_else(|| self.no_id(doing))
        };
        self.transport
            .retry
            .run(attempt, transient_not_acted_on)
            .await
    }

    pub(super) async fn create_image(
        &self,
        container: &LibraryRef,
        hash: &str,
        container_id: &str,
    ) -> Result<Image, ServiceError> {
        let doing = format!("creating image {}:{hash}", container.path());
        let body = json!({"hash": hash, "container": container_id, "description": DESCRIPTION});
        let value = match self.create("images", &body, &doing).await {
            Ok(value) => value,
            Err(error) if is_conflict(&error) => {
                // The file is in the container already, recorded for another architecture.
                if let Some(image) = self.find_image(container, hash, "").await? {
                    return Ok(image);
                }
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        serde_json::from_value::<ImageWire>(value)
            .ok()
            .and_then(ImageWire::into_domain)
            .ok_or_else(|| {
                self.transport.error(
                    ServiceErrorKind::Protocol,
                    &doing,
                    "the created image has no `id` or `container`".to_owned(),
                )
            })
    }
}

/// The `id` of a reply's `data`.
fn id_of(data: &serde_json::Value) -> Option<String> {
    ["id", "ID", "Id"]
        .iter()
        .find_map(|key| data.get(key))
        .and_then(serde_json::Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn is_conflict(error: &ServiceError) -> bool {
    matches!(error.kind, ServiceErrorKind::Status { code: 409, .. })
}
