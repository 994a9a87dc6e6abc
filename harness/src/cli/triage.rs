//! `lab triage FILE|-`: the kernel faults in a console log, `dmesg` output, a `journalctl -k`
//! export (short or JSON), a syslog file or a run directory (its `console.log`), each with
//! class, title, time and report; `--json` one object per fault per line; `--expect` the
//! `expect:` block a scenario would use to wait for that signature. The format read is said
//! on standard error. Exit 0: no fault found, 1: faults found, 2: unreadable input.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Failure;
use lab_faults::{pattern, scan_log, Fault};

/// Name the kernel faults in a log from a real node (or a lab run), and turn one into a
/// scenario's expectation.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A console log, `dmesg` output, `journalctl -k` export (`-o short-precise`, `-o json`,
    /// ...), syslog file, a lab run directory, or `-` for standard input.
    pub input: PathBuf,
    /// One JSON object per fault per line (class, title, first_line, line_number, time,
    /// lines, fatal).
    #[arg(long)]
    pub json: bool,
    /// Print the `expect:` block that waits for each fault's first line, generalised.
    #[arg(long)]
    pub expect: bool,
}

pub fn main(args: Args) -> Result<u8, Failure> {
    let text = read(&args.input).map_err(Failure::usage)?;
    let (format, found) = scan_log(&text);
    eprintln!("lab triage: read {} as a {}", args.input.display(), format.name());
    let out = if args.json {
        found.iter().map(|f| serde_json::to_string(f).expect("faults serialize") + "\n").collect()
    } else if args.expect {
        expect_block(&found).map_err(Failure::usage)?
    } else {
        text_report(&found)
    };
    // A reader that stops early (`| head`) is no error of the triage.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    Ok(if found.is_empty() { super::exit::MET } else { 1 })
}

fn read(input: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if input == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).context("reading standard input")?;
    } else {
        let path = if input.is_dir() { input.join("console.log") } else { input.to_path_buf() };
        bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    }
    // Consoles carry stray bytes (a line cut by a reset); they must not stop the triage.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn text_report(found: &[Fault]) -> String {
    let mut out = String::new();
    if found.is_empty() {
        out.push_str("no kernel fault found\n");
    }
    for f in found {
        let when = f.time.map(|t| format!(" at {t:.6} s")).unwrap_or_default();
        let class = serde_json::to_value(f.class).expect("class serializes");
        let fatal = if f.fatal { ", fatal" } else { "" };
        out += &format!("■ {} ({}{fatal}), line {}{when}\n", f.title, class.as_str().unwrap_or("?"), f.line_number);
        for l in &f.lines {
            out += &format!("    | {l}\n");
        }
    }
    out
}

fn expect_block(found: &[Fault]) -> anyhow::Result<String> {
    if found.is_empty() {
        return Ok("# no kernel fault found: nothing to expect\n".into());
    }
    let mut out = String::from("expect:\n");
    for (i, f) in found.iter().enumerate() {
        let p = pattern::generalise(&f.first_line)?;
        out += &format!("  # {} (line {}): {}\n", f.title, f.line_number, f.first_line);
        out += &format!("  - id: fault-{}\n    kernel_log:\n", i + 1);
        out += &format!("      pattern: '{}'\n", p.replace('\'', "''"));
        out += "    after: <the step that provokes it>\n    within: 30s\n    must: appear\n";
    }
    Ok(out)
}
