//! `--json`: the events themselves, one JSON object per line.

use crate::event::Event;

pub fn line(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_else(|e| format!("{{\"event\":\"render_error\",\"message\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;

    #[test]
    fn round_trips() {
        let e = Event::Verdict { outcome: Outcome::NotMet, summary: "x".into(), notes: vec![] };
        let text = line(&e);
        assert!(text.starts_with("{\"event\":\"verdict\""), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
    }
}
