//! The build service: submissions, emulated builds, log streams and build contexts.

mod convert;
mod model;
mod routes;
mod runner;
mod ws;

pub use convert::convert_def_file;
pub use model::BuildRegistry;
pub use routes::{announce_context, cancel, delete_context, status, submit};
pub use ws::stream;
