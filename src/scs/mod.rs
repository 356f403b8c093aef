//! The Sylabs services: the build service and the library, behind traits so the executor can
//! be driven by the HTTP clients, the emulator or a test double; and the build context.

mod context;
mod service;

pub use context::pack_context;
pub use service::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, Image, Library, ServiceError,
    ServiceErrorKind,
};
