//! The executor: runs a plan's builds and retags against the build service and the library,
//! in dependency order and in parallel, and reports what happens as events. It never formats
//! text: `report/` does (see DESIGN.md beside this file).

pub mod pin;
