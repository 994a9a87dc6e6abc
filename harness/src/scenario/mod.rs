//! Scenario files: the typed model, loading with positions, validation, where the kernel
//! files they name are found ([`files`]), and what `lab check` checks ([`preflight`]).

pub mod check;
pub mod debug;
pub mod files;
pub mod kernels;
pub mod load;
pub mod locate;
pub mod model;
pub mod preflight;
mod registry;
pub mod scratch;
pub mod validate;
pub mod variant;

pub use files::{lab_home, KernelFiles};
pub use load::{load, load_str, Diagnostic, LoadError, Loaded};
pub use model::*;
pub use preflight::{check_file, CheckError, Checked};
pub use variant::{Variant, VariantError};
#[cfg(test)]
mod tests;
