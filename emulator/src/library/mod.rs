//! The container library: entities, collections, containers, images, tags, uploads and
//! downloads (PROTOCOL.md §3).

mod download;
mod libref;
mod model;
mod routes;
mod store;
mod upload;
mod views;

pub use download::{download, legacy_upload, serve_bytes};
pub use libref::{LibraryRef, parse_destination, parse_source};
pub use routes::{
    create_collection, create_container, create_entity, create_image, delete_image, get_collection,
    get_container, get_entity, get_image, get_tags_v1, get_tags_v2, oci_redirect, search,
    set_tag_v1, set_tag_v2,
};
pub use store::{Library, LibraryData, now_unix};
pub use upload::{
    abort_multipart, complete_multipart, complete_single, presign_part, start_multipart,
    start_single,
};
