//! The services' JSON, spelled exactly as on the wire (PROTOCOL.md §0.1, §1, §2.2–2.3,
//! §3.1, §3.4), and its conversion to and from the domain types of `service.rs`.
//!
//! Requests are sent with the exact spellings the reference clients use. Replies are read
//! leniently: unknown keys are ignored, absent ones take their zero value, and a few keys are
//! also accepted in other cases (Go's decoder matches keys case-insensitively, so servers
//! written against it may not be consistent).

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::service::{BuildInfo, BuildRequest, Image};

/// The error half of the envelope: `{"error": {"code": 404, "message": "…"}}`; both fields
/// are omit-empty.
#[derive(Debug, Default, Deserialize)]
pub struct EnvelopeError {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
}

/// An enveloped reply whose `data` is kept raw until the status has been checked.
#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<EnvelopeError>,
}

/// The longest message taken from an error body that is not JSON (a proxy's text page).
const MAX_PLAIN_MESSAGE: usize = 300;

/// The message of an error reply, whatever its shape: the services' envelope
/// (`{"error": {"message"}}`), a bare `{"message"}` or `{"error": "..."}` (proxies,
/// gateways), the distribution spec's `{"errors": [{"message"}]}`, or a short plain-text
/// body. An HTML page or an empty body gives none: the status then speaks alone.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |value: &serde_json::Value| value.as_str().map(str::trim).map(str::to_owned);
        let found = value
            .pointer("/error/message")
            .and_then(text)
            .or_else(|| value.get("message").and_then(text))
            .or_else(|| value.get("error").and_then(text))
            .or_else(|| {
                let messages: Vec<String> = value
                    .get("errors")?
                    .as_array()?
                    .iter()
                    .filter_map(|error| error.get("message").and_then(text))
                    .collect();
                (!messages.is_empty()).then(|| messages.join("; "))
            })
            .or_else(|| value.get("detail").and_then(text));
        return found.unwrap_or_default();
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|line| !line.is_empty());
    match line {
        Some(line) if !line.starts_with('<') => {
            let mut end = line.len().min(MAX_PLAIN_MESSAGE);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            let cut = if end < line.len() { "…" } else { "" };
            format!("{}{cut}", &line[..end])
        }
        _ => String::new(),
    }
}

/// B1's body (PROTOCOL.md §2.2).
#[derive(Debug, Serialize)]
pub struct SubmitBody {
    #[serde(rename = "definitionRaw")]
    pub definition_raw: String,
    /// Always present: empty for an ephemeral build.
    #[serde(rename = "libraryRef")]
    pub library_ref: String,
    #[serde(rename = "libraryURL", skip_serializing_if = "Option::is_none")]
    pub library_url: Option<String>,
    #[serde(
        rename = "builderRequirements",
        skip_serializing_if = "Option::is_none"
    )]
    pub builder_requirements: Option<BuilderRequirements>,
    #[serde(rename = "contextDigest", skip_serializing_if = "Option::is_none")]
    pub context_digest: Option<String>,
    #[serde(rename = "workingDir", skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BuilderRequirements {
    pub arch: String,
}

impl SubmitBody {
    /// Builds the body for `request`; `default_library_url` is sent when the request names
    /// no library (SingularityCE sends its current library, PROTOCOL.md §2.2).
    pub fn new(request: &BuildRequest, default_library_url: &str) -> SubmitBody {
        let library_ref = request.library_ref.as_ref().map_or_else(String::new, |r| {
            // The build service expects a hostless ref (PROTOCOL.md §2.2); a host in the
            // manifest's ref names the library, which `libraryURL` already says.
            let mut hostless = r.clone();
            hostless.host = None;
            hostless.to_string()
        });
        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        SubmitBody {
            // Go encodes `[]byte` as standard base64 with padding.
            definition_raw: base64::engine::general_purpose::STANDARD
                .encode(request.definition.as_bytes()),
            library_ref,
            library_url: non_empty(&request.library_url)
                .or_else(|| Some(default_library_url.to_owned()).filter(|u| !u.is_empty())),
            builder_requirements: Some(request.arch.clone())
                .filter(|arch| !arch.is_empty())
                .map(|arch| BuilderRequirements { arch }),
            context_digest: non_empty(&request.context_digest),
            working_dir: non_empty(&request.working_dir),
        }
    }
}

/// B1/B2's `data` (PROTOCOL.md §2.3). Older servers add `submitTime`, `callbackURL`, …;
/// they are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BuildInfoWire {
    #[serde(alias = "ID", alias = "Id")]
    pub id: String,
    #[serde(rename = "isComplete", alias = "IsComplete")]
    pub is_complete: bool,
    #[serde(rename = "imageSize", alias = "ImageSize")]
    pub image_size: Option<i64>,
    #[serde(rename = "imageChecksum", alias = "ImageChecksum")]
    pub image_checksum: Option<String>,
    #[serde(rename = "libraryRef", alias = "LibraryRef")]
    pub library_ref: Option<String>,
    #[serde(rename = "libraryURL", alias = "LibraryURL", alias = "libraryUrl")]
    pub library_url: Option<String>,
}

impl BuildInfoWire {
    /// Returns the domain value; `None` when the reply has no build id.
    pub fn into_domain(self) -> Option<BuildInfo> {
        if self.id.is_empty() {
            return None;
        }
        let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
        Some(BuildInfo {
            id: self.id,
            complete: self.is_complete,
            image_size: self
                .image_size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            image_checksum: non_empty(self.image_checksum),
            library_ref: non_empty(self.library_ref),
            library_url: non_empty(self.library_url),
        })
    }
}

/// B5's body: the build context to announce (PROTOCOL.md §2.5).
#[derive(Debug, Serialize)]
pub struct ContextBody<'a> {
    pub size: u64,
    pub digest: &'a str,
}

/// The library's `Image` (PROTOCOL.md §3.1): only the fields sifbake reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImageWire {
    #[serde(alias = "ID", alias = "Id")]
    pub id: String,
    #[serde(alias = "Hash")]
    pub hash: String,
    #[serde(alias = "Size")]
    pub size: Option<i64>,
    #[serde(alias = "Container")]
    pub container: String,
    #[serde(alias = "Arch")]
    pub arch: Option<String>,
    /// Sylabs' library and its clients (`Image.Uploaded`, scs-library-client models.go).
    #[serde(alias = "Uploaded")]
    pub uploaded: Option<bool>,
    /// What some third-party libraries report instead (`completed`, `broken`, ...).
    #[serde(rename = "uploadState", alias = "UploadState", alias = "upload_state")]
    pub upload_state: Option<String>,
    #[serde(alias = "Signed")]
    pub signed: Option<bool>,
    /// `null` from Go's encoder for a nil slice; the custom reader takes it as empty.
    #[serde(alias = "Fingerprints", deserialize_with = "null_as_empty")]
    pub fingerprints: Vec<String>,
}

/// A list that Go encodes as `null` when it is empty (a nil slice).
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

impl ImageWire {
    /// Returns the domain value; `None` when the reply lacks the ids tags are set with.
    pub fn into_domain(self) -> Option<Image> {
        if self.id.is_empty() || self.container.is_empty() {
            return None;
        }
        Some(Image {
            id: self.id,
            hash: self.hash,
            size: self
                .size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            container_id: self.container,
            arch: self.arch.filter(|arch| !arch.is_empty()),
            // Only a positive word counts: a library that says neither is not trusted
            // with a release tag.
            uploaded: self.uploaded == Some(true)
                || self
                    .upload_state
                    .is_some_and(|state| state.eq_ignore_ascii_case("completed")),
            // A fingerprint is a signature whatever `signed` says (a library that fills
            // one and not the other); upper case, so it compares with the signer's.
            signed: self
                .signed
                .or((!self.fingerprints.is_empty()).then_some(true)),
            fingerprints: self
                .fingerprints
                .into_iter()
                .map(|fingerprint| fingerprint.trim().to_ascii_uppercase())
                .filter(|fingerprint| !fingerprint.is_empty())
                .collect(),
        })
    }
}

/// `POST v1/tags/{containerID}`: Go struct field names, no json tags (PROTOCOL.md §3.4).
#[derive(Debug, Serialize)]
pub struct TagV1<'a> {
    #[serde(rename = "Tag")]
    pub tag: &'a str,
    #[serde(rename = "ImageID")]
    pub image_id: &'a str,
}

/// `POST v2/tags/{containerID}`.
#[derive(Debug, Serialize)]
pub struct TagV2<'a> {
    #[serde(rename = "Arch")]
    pub arch: &'a str,
    #[serde(rename = "Tag")]
    pub tag: &'a str,
    #[serde(rename = "ImageID")]
    pub image_id: &'a str,
}

/// The discovery document's service entry (PROTOCOL.md §1.1); `uri` may be any JSON value,
/// and entries whose `uri` is not a string are skipped, as SingularityCE does.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceEntry {
    #[serde(default)]
    pub uri: Option<serde_json::Value>,
}

impl ServiceEntry {
    /// Returns the service's base URL, if it is a non-empty string.
    pub fn uri(&self) -> Option<&str> {
        self.uri
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|uri| !uri.is_empty())
    }
}

/// `GET /assets/config/config.prod.json`, bare JSON; other keys are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryDocument {
    #[serde(rename = "builderAPI", default)]
    pub builder: Option<ServiceEntry>,
    #[serde(rename = "libraryAPI", default)]
    pub library: Option<ServiceEntry>,
    #[serde(rename = "tokenAPI", default)]
    pub token: Option<ServiceEntry>,
    /// SingularityCE reads `keystoreAPI` and `keyserverAPI` alike (its `keystore` is an
    /// alias of `keyserver`).
    #[serde(rename = "keystoreAPI", alias = "keyserverAPI", default)]
    pub keystore: Option<ServiceEntry>,
}

/// `GET version`'s `data` (PROTOCOL.md §1.2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VersionWire {
    #[serde(alias = "Version")]
    pub version: Option<String>,
    #[serde(rename = "apiVersion", alias = "APIVersion", alias = "ApiVersion")]
    pub api_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::libref::LibraryRef;

    fn request() -> BuildRequest {
        BuildRequest {
            definition: "Bootstrap: docker\nFrom: alpine\n".into(),
            library_ref: None,
            library_url: None,
            arch: "amd64".into(),
            context_digest: None,
            working_dir: None,
        }
    }

    #[test]
    fn submit_body_spells_keys_as_the_build_client() {
        let mut request = request();
        request.library_ref = Some(
            LibraryRef::parse("library://library.example.org/acme/tools/base:inputs-0123,v1")
                .expect("valid ref"),
        );
        request.context_digest = Some(format!("sha256.{}", "a".repeat(64)));
        request.working_dir = Some("/work/repo".into());
        let body = serde_json::to_value(SubmitBody::new(&request, "https://library.example.org"))
            .expect("serialisable");
        assert_eq!(
            body,
            json!({
                "definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXIKRnJvbTogYWxwaW5lCg==",
                "libraryRef": "library://acme/tools/base:inputs-0123,v1",
                "libraryURL": "https://library.example.org",
                "builderRequirements": {"arch": "amd64"},
                "contextDigest": format!("sha256.{}", "a".repeat(64)),
                "workingDir": "/work/repo",
            })
        );
    }

    #[test]
    fn ephemeral_builds_send_an_empty_ref_and_omit_empty_keys() {
        let mut request = request();
        request.library_url = Some("https://other.example".into());
        request.context_digest = Some(String::new());
        let body = serde_json::to_value(SubmitBody::new(&request, "")).expect("serialisable");
        assert_eq!(
            body,
            json!({
                "definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXIKRnJvbTogYWxwaW5lCg==",
                "libraryRef": "",
                "libraryURL": "https://other.example",
                "builderRequirements": {"arch": "amd64"},
            })
        );
        request.library_url = None;
        request.arch = String::new();
        let body = serde_json::to_value(SubmitBody::new(&request, "")).expect("serialisable");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }

    #[test]
    fn build_info_reads_current_and_old_replies() {
        let current: BuildInfoWire = serde_json::from_value(json!({
            "id": "5f0c1a2b3c4d5e6f7a8b9c0d", "isComplete": true, "imageSize": 1234,
            "imageChecksum": "sha256.ab", "libraryRef": "library://u/remote-builds/rb-1",
            "libraryURL": "https://library.sylabs.io", "submitTime": "2021-12-16T03:35:14Z",
            "completeTime": null, "callbackURL": ""
        }))
        .expect("decodes");
        let info = current.into_domain().expect("has an id");
        assert!(info.succeeded());
        assert_eq!(info.image_checksum.as_deref(), Some("sha256.ab"));
        let pending: BuildInfoWire =
            serde_json::from_value(json!({"id": "x", "imageSize": -1, "imageChecksum": ""}))
                .expect("decodes");
        let info = pending.into_domain().expect("has an id");
        assert_eq!(
            (info.complete, info.image_size, info.image_checksum),
            (false, 0, None)
        );
        let anonymous: BuildInfoWire = serde_json::from_value(json!({})).expect("decodes");
        assert_eq!(anonymous.into_domain(), None);
    }

    #[test]
    fn image_reads_the_library_model() {
        let wire: ImageWire = serde_json::from_value(json!({
            "id": "img1", "hash": "sha256.cd", "size": 42, "container": "c1",
            "arch": null, "uploaded": true, "tags": ["latest"],
            "createdAt": "0001-01-01T00:00:00Z"
        }))
        .expect("decodes");
        assert_eq!(
            wire.into_domain(),
            Some(Image {
                id: "img1".into(),
                hash: "sha256.cd".into(),
                size: 42,
                container_id: "c1".into(),
                arch: None,
                uploaded: true,
                ..Image::default()
            })
        );
    }

    #[test]
    fn image_says_who_signed_it() {
        let image = |value: serde_json::Value| {
            let mut base = json!({"id": "img1", "container": "c1"});
            base.as_object_mut()
                .expect("object")
                .extend(value.as_object().expect("object").clone());
            serde_json::from_value::<ImageWire>(base)
                .expect("decodes")
                .into_domain()
                .expect("has ids")
        };
        let signed = image(json!({"signed": true, "fingerprints": ["ab12", "CD34"]}));
        assert_eq!(signed.signed, Some(true));
        assert_eq!(signed.fingerprints, ["AB12", "CD34"]);
        let unsigned = image(json!({"signed": false, "fingerprints": null}));
        assert_eq!(
            (unsigned.signed, unsigned.fingerprints.len()),
            (Some(false), 0)
        );
        let unsaid = image(json!({}));
        assert_eq!((unsaid.signed, unsaid.fingerprints.len()), (None, 0));
        let null = image(json!({"signed": null, "fingerprints": []}));
        assert_eq!(null.signed, None);
        // A fingerprint without `signed` is a signature all the same.
        let go_names = image(json!({"Fingerprints": ["EF56"]}));
        assert_eq!(
            (go_names.signed, go_names.fingerprints),
            (Some(true), vec!["EF56".to_owned()])
        );
    }

    #[test]
    fn an_image_is_complete_only_when_the_library_says_so() {
        let uploaded = |value: serde_json::Value| {
            serde_json::from_value::<ImageWire>(value)
                .expect("decodes")
                .into_domain()
                .expect("has ids")
                .uploaded
        };
        let base = |extra: serde_json::Value| {
            let mut image = json!({"id": "i", "container": "c", "hash": "sha256.0", "size": 0});
            image
                .as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            image
        };
        assert!(uploaded(base(json!({"uploaded": true}))));
        assert!(!uploaded(base(json!({"uploaded": false}))));
        assert!(!uploaded(base(json!({}))));
        assert!(uploaded(base(json!({"uploadState": "completed"}))));
        assert!(uploaded(base(json!({"uploadState": "COMPLETED"}))));
        assert!(!uploaded(base(json!({"uploadState": "broken"}))));
        assert!(!uploaded(base(json!({"uploadState": "initialized"}))));
    }

    #[test]
    fn error_messages_are_read_from_every_usual_shape() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"error": {"code": 403, "message": "no access to acme"}}"#,
                "no access to acme",
            ),
            (r#"{"message": "quota exceeded"}"#, "quota exceeded"),
            (r#"{"error": "upstream timeout"}"#, "upstream timeout"),
            (
                r#"{"errors": [{"code": "DENIED", "message": "denied"}, {"message": "twice"}]}"#,
                "denied; twice",
            ),
            (r#"{"detail": "Not Found"}"#, "Not Found"),
            (r#"{"data": null}"#, ""),
            ("Service Unavailable\nretry later", "Service Unavailable"),
            ("<html><body>502 Bad Gateway</body></html>", ""),
            ("", ""),
        ];
        for (body, message) in cases {
            assert_eq!(error_message(body.as_bytes()), *message, "{body}");
        }
        let long = "x".repeat(1000);
        assert_eq!(
            error_message(long.as_bytes()).chars().count(),
            MAX_PLAIN_MESSAGE + 1
        );
    }

    #[test]
    fn tag_bodies_use_go_field_names() {
        let v1 = serde_json::to_value(TagV1 {
            tag: "latest",
            image_id: "img1",
        })
        .expect("serialisable");
        assert_eq!(v1, json!({"Tag": "latest", "ImageID": "img1"}));
        let v2 = serde_json::to_value(TagV2 {
            arch: "arm64",
            tag: "latest",
            image_id: "img1",
        })
        .expect("serialisable");
        assert_eq!(
            v2,
            json!({"Arch": "arm64", "Tag": "latest", "ImageID": "img1"})
        );
    }

    #[test]
    fn discovery_skips_entries_without_a_string_uri() {
        let document: DiscoveryDocument = serde_json::from_value(json!({
            "builderAPI": {"uri": "https://build.example", "managerUri": "x"},
            "libraryAPI": {"uri": 7},
            "keystoreAPI": {"uri": "https://keys.example"},
            "env": "prod"
        }))
        .expect("decodes");
        assert_eq!(
            document.builder.as_ref().and_then(ServiceEntry::uri),
            Some("https://build.example")
        );
        assert_eq!(document.library.as_ref().and_then(ServiceEntry::uri), None);
        assert!(document.token.is_none());
        assert_eq!(
            document.keystore.as_ref().and_then(ServiceEntry::uri),
            Some("https://keys.example")
        );
        let document: DiscoveryDocument =
            serde_json::from_value(json!({"keyserverAPI": {"uri": "https://keys.example"}}))
                .expect("decodes");
        assert!(document.keystore.is_some());
    }
}
