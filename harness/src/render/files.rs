//! Writing the file reports: JUnit, KTAP and HTML of one [`Report`], into the run
//! directory always (`report.junit.xml`, `report.ktap`, `report.html`, `report.json`) and to
//! the paths the user named (`--junit`, `--ktap`, `--html`).

use std::path::{Path, PathBuf};

use super::report::Report;

/// The paths the user asked for; `None`: only the run directory gets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub junit: Option<PathBuf>,
    pub ktap: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The file names in a run directory.
pub const JUNIT: &str = "report.junit.xml";
pub const KTAP: &str = "report.ktap";
pub const HTML: &str = "report.html";
pub const JSON: &str = "report.json";

/// Writes every report into `dir` (when there is one) and where `outputs` says; returns the
/// paths written.
pub fn write(report: &Report, dir: Option<&Path>, outputs: &Outputs) -> Result<Vec<PathBuf>, WriteError> {
    let junit = super::junit::render(report);
    let ktap = super::ktap::render(report);
    let html = super::html::render(report);
    let json = serde_json::to_string_pretty(report).expect("reports serialize") + "\n";
    let mut targets: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(d) = dir {
        targets.extend([
            (d.join(JUNIT), junit.as_str()),
            (d.join(KTAP), ktap.as_str()),
            (d.join(HTML), html.as_str()),
            (d.join(JSON), json.as_str()),
        ]);
    }
    for (path, text) in [(&outputs.junit, &junit), (&outputs.ktap, &ktap), (&outputs.html, &html)] {
        if let Some(p) = path {
            targets.push((p.clone(), text.as_str()));
        }
    }
    for (path, text) in &targets {
        std::fs::write(path, text).map_err(|source| WriteError { path: path.clone(), source })?;
    }
    Ok(targets.into_iter().map(|(p, _)| p).collect())
}

/// [`write`] for a verification (`lab verify`, `lab report merge`).
pub fn write_verification(
    v: &crate::verify::report::Verification,
    dir: Option<&Path>,
    outputs: &Outputs,
) -> Result<Vec<PathBuf>, WriteError> {
    write(&super::verification::report(v), dir, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::report::tests::sample;

    #[test]
    fn writes_into_the_run_directory_and_where_asked() {
        let d = tempfile::tempdir().unwrap();
        let extra = d.path().join("out.xml");
        let out = Outputs { junit: Some(extra.clone()), ..Outputs::default() };
        let written = write(&sample(), Some(d.path()), &out).unwrap();
        assert_eq!(written.len(), 5);
        assert_eq!(std::fs::read_to_string(&extra).unwrap(), std::fs::read_to_string(d.path().join(JUNIT)).unwrap());
        let back: Report = serde_json::from_str(&std::fs::read_to_string(d.path().join(JSON)).unwrap()).unwrap();
        assert_eq!(back, sample());
        let err = write(&sample(), Some(&d.path().join("missing")), &Outputs::default()).unwrap_err();
        assert!(err.to_string().contains("missing/report.junit.xml"), "{err}");
    }
}
