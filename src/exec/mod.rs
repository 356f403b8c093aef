//! The executor: runs a plan's builds and retags against the build service and the library,
//! in dependency order and in parallel, and reports what happens as events. It never formats
//! text: `report/` does (see DESIGN.md beside this file).

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod events;
mod imp;
mod job;
mod mirror;
mod options;
pub mod pin;
mod retry;
mod runner;
mod sign;
mod summary;
mod tagging;

pub use events::{
    BuiltImage, Counts, Event, EventKind, FailReason, FaultKind, JobKind, Outcome, RetryWhat,
    ServiceFault, SkipReason,
};
pub use imp::execute;
pub use job::{
    Base, BaseImage, ContextSource, Job, JobAction, JobId, JobsError, JobsRequest, KnownImages,
    jobs,
};
pub use mirror::{
    MirrorAction, MirrorClient, MirrorRegistry, MirrorResult, PARALLEL_MIRRORS, RegistryFuture,
    mirror_tag,
};
pub use options::{ExecOptions, PollPolicy, RetryPolicy};
pub use sign::{Signer, kept_signed};
pub use summary::{JobResult, RunSummary};
