//! Reading a scenario file into a validated [`Scenario`], or every diagnostic that stops it.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use super::check::Problem;
use super::locate::Locator;
use super::model::Scenario;
use super::validate::validate;

/// One thing the user has to fix, with where to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// YAML path of the offending field (`steps[2].mtu_churn.links[0]`), empty for syntax.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n");
    out.push_str(&format!("\n{} problem(s) found", diags.len()));
    out
}

/// A scenario with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub text: String,
}

/// Reads, parses and validates `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
    let scenario = load_str(&text, path)?;
    Ok(Loaded { scenario, path: path.to_path_buf(), text })
}

/// Parses and validates scenario text; `file` is only used in diagnostics.
pub fn load_str(text: &str, file: &Path) -> Result<Scenario, LoadError> {
    let locator = Locator::new(text);
    let scenario = parse(text, file, &locator).map_err(|d| LoadError::Invalid(vec![d]))?;
    let problems = validate(&scenario);
    if problems.is_empty() {
        return Ok(scenario);
    }
    Err(LoadError::Invalid(placed(&locator, file, problems)))
}

/// `problems` with the line and column of their field in the text `locator` indexed.
pub(crate) fn placed(locator: &Locator, file: &Path, problems: Vec<Problem>) -> Vec<Diagnostic> {
    problems
        .into_iter()
        .map(|p| {
            let pos = locator.find(&p.field);
            Diagnostic {
                file: file.to_path_buf(),
                line: pos.map_or(1, |p| p.line),
                column: pos.map_or(1, |p| p.column),
                field: p.field,
                message: p.message,
            }
        })
        .collect()
}

/// Deserializes with the YAML crate, keeping the path of the field a type error was in.
fn parse(text: &str, file: &Path, locator: &Locator) -> Result<Scenario, Diagnostic> {
    let path = RefCell::new(String::new());
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            *path.borrow_mut() = clean_path(&e.path().to_string());
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let field = path.into_inner();
        let (line, column) = match e.location() {
            Some(loc) => (loc.line() as usize, loc.column() as usize),
            None => locator.find(&field).map_or((1, 1), |p| (p.line, p.column)),
        };
        Diagnostic { file: file.to_path_buf(), line, column, field, message: plain_message(&e) }
    })
}

/// serde_path_to_error writes `.` for the root and `?` for unknown segments.
fn clean_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

/// The YAML crate's message without its own snippet and position (we print ours).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    // Drop a trailing " at line N column M" the crate may add.
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}
