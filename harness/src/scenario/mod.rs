//! Scenario files: the typed model, loading with positions, and validation.

pub mod check;
pub mod load;
pub mod locate;
pub mod model;
mod registry;
pub mod validate;
pub mod variant;

pub use load::{load, load_str, Diagnostic, LoadError, Loaded};
pub use model::*;
pub use variant::{resolve_variant, Variant, VariantError};
#[cfg(test)]
mod tests;
