//! Maps a YAML path (`topology.links[1].ends[0].netns`) to its line and column.
//!
//! Validation works on typed data, which has no positions; this index, built from the same
//! text by the parser's event stream, gives each reported path back its place in the file.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Every mapping key and sequence item of a document, by path.
#[derive(Debug, Default)]
pub struct Locator {
    positions: HashMap<String, Position>,
}

enum Frame {
    Map { key: Option<String>, path: String },
    Seq { index: usize, path: String },
}

impl Locator {
    /// Indexes `text`; a text that does not parse yields what was indexed before the error
    /// (the deserializer reports the syntax error itself).
    pub fn new(text: &str) -> Self {
        let mut positions = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let here = Position { line: span.start.line(), column: span.start.col() + 1 };
            let is_node = matches!(event, Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(..));
            // Where this node sits: a key of a map, a value of a map, or an item of a sequence.
            let mut node_path = None;
            if is_node {
                match stack.last_mut() {
                    Some(Frame::Map { key, path }) if key.is_none() => {
                        // A key: only scalar keys are addressable.
                        let name = match &event {
                            Event::Scalar(v, ..) => v.to_string(),
                            _ => String::from("?"),
                        };
                        let full = child(path, &name);
                        positions.entry(full).or_insert(here);
                        *key = Some(name);
                        continue;
                    }
                    Some(Frame::Map { key, path }) => {
                        node_path = Some(child(path, key.take().as_deref().unwrap_or("?")));
                    }
                    Some(Frame::Seq { index, path }) => {
                        let full = format!("{path}[{index}]");
                        positions.entry(full.clone()).or_insert(here);
                        *index += 1;
                        node_path = Some(full);
                    }
                    None => node_path = Some(String::new()),
                }
            }
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map { key: None, path: node_path.unwrap_or_default() }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0, path: node_path.unwrap_or_default() }),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        Locator { positions }
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "name: x\ntopology:\n  links:\n    - ends:\n        - { name: a, netns: cli }\n        - name: b\n          netns: gw\n";

    #[test]
    fn finds_keys_and_items() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.find("name"), Some(Position { line: 1, column: 1 }));
        assert_eq!(loc.find("topology.links[0]"), Some(Position { line: 4, column: 7 }));
        assert_eq!(loc.find("topology.links[0].ends[0].netns").map(|p| p.line), Some(5));
        assert_eq!(loc.find("topology.links[0].ends[1].netns"), Some(Position { line: 7, column: 11 }));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.find("topology.links[0].ends[1].mtu").map(|p| p.line), Some(6));
        assert_eq!(loc.find("nowhere"), None);
    }
}
