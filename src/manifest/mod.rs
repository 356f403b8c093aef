//! The manifest, `sifbake.yaml`: its schema, loading, and the checks that need no network.

mod files;
mod json_schema;
#[cfg(test)]
mod keys_tests;
mod labels;
mod load;
mod mirrors;
mod model;
mod schema;
mod sign;
mod suggest;
mod tag_expr;
mod tag_rule;
mod tag_rule_map;
mod target;
mod yaml;

pub use files::{PathProblem, glob_matcher, is_glob, join_relative};
pub use json_schema::{SCHEMA_PATH, json_schema};
pub use load::{LoadRequest, SUPPORTED_VERSION, default_tag_rules, load, parse_duration};
pub use model::{
    DEFAULT_ARCH, DEFAULT_TIMEOUT, KNOWN_ARCHES, Manifest, Publish, PublishPolicy, Target,
};
pub use sign::SignSpec;
pub use suggest::did_you_mean;
pub use tag_expr::{Piece, format_date, parse as parse_expressions};
pub use tag_rule::{
    Condition, DEFAULT_SHA_LENGTH, EVENT_NAMES, SEMVER_PLACEHOLDERS, TagRule, TagRuleKind,
};
