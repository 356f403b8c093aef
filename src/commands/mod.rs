//! One file per subcommand. Each takes the resolved settings and its own arguments, writes
//! through an [`Output`], and returns the exit code.

pub mod build;
pub mod inspect;
pub mod output;
pub mod plan;
pub mod reports;
pub mod services;
pub mod tag;
pub mod validate;

pub use output::Output;
