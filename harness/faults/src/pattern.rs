//! A report's first line generalised into the `kernel_log` pattern a scenario waits for:
//! what changes from one occurrence to the next (numbers, addresses, offsets, task and
//! device names) becomes a class of characters, the rest stays literal. The pattern is
//! checked to still match the line it came from.

use std::sync::LazyLock;

use regex::Regex;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PatternError {
    #[error("the generalised pattern {pattern:?} is not a valid regex: {source}")]
    Invalid { pattern: String, source: regex::Error },
    #[error("the generalised pattern {pattern:?} no longer matches its line {line:?}")]
    NoMatch { pattern: String, line: String },
}

/// Names a report carries that differ per occurrence: replaced before escaping.
static NAMES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // `waiting for cli-veth to become free`: the device.
        (r"waiting for \S+ to become free", "waiting for @NAME@ to become free"),
        // `task syz-executor.1:16255 blocked`, `[kworker/1:2:87]`, `by task ip/312`.
        (r"task \S+:\d+ ", "task @NAME@ "),
        (r"task \S+/\d+", "task @NAME@"),
        (r"\[[^\]\s]+:\d+\]$", "[@NAME@]"),
        (r"Comm: \S+", "Comm: @NAME@"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("name pattern"), to))
    .collect()
});
static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b").expect("hex"));
static NUM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+").expect("num"));

/// The pattern for `first_line` (a message without prefixes), checked against it.
pub fn generalise(first_line: &str) -> Result<String, PatternError> {
    let mut named = first_line.trim_end().to_string();
    for (re, to) in NAMES.iter() {
        named = re.replace_all(&named, *to).into_owned();
    }
    // Escape, then put the classes in: the markers survive `escape` unchanged.
    let escaped = regex::escape(&named);
    let hex = HEX.replace_all(&escaped, "@HEX@");
    let num = NUM.replace_all(&hex, "@NUM@");
    let pattern = num.replace("@NAME@", r"\S+").replace("@HEX@", r"(?:0x)?[0-9a-f]+").replace("@NUM@", r"\d+");
    let re = Regex::new(&pattern).map_err(|source| PatternError::Invalid { pattern: pattern.clone(), source })?;
    if !re.is_match(first_line) {
        return Err(PatternError::NoMatch { pattern, line: first_line.into() });
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_changes_between_occurrences_is_generalised_and_the_rest_kept() {
        let cases = [
            (
                "unregister_netdevice: waiting for cli-veth to become free. Usage count = 4",
                r"unregister_netdevice: waiting for \S+ to become free\. Usage count = \d+",
            ),
            (
                "WARNING: CPU: 0 PID: 230 at drivers/misc/lkdtm/bugs.c:89 lkdtm_WARNING+0x1b/0x30",
                r"WARNING: CPU: \d+ PID: \d+ at drivers/misc/lkdtm/bugs\.c:\d+ lkdtm_WARNING\+(?:0x)?[0-9a-f]+/(?:0x)?[0-9a-f]+",
            ),
            ("INFO: task syz-executor.1:16255 blocked for more than 143 seconds.", r"INFO: task \S+ blocked for more than \d+ seconds\."),
        ];
        for (line, want) in cases {
            assert_eq!(generalise(line).unwrap(), want);
            assert!(Regex::new(want).unwrap().is_match(line));
        }
    }
}
