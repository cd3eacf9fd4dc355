//! Finds the YAML path (`targets[1].address`) of a line and column, to name where a parse error is.
//!
//! serde-saphyr reports where an error is as a line and column; people fix configs by key, so
//! we replay the document's events and name the deepest node that starts at or before there.

use serde_saphyr::granit_parser::{Event, Parser};

enum Segment {
    Key(String),
    Index(usize),
}

enum Frame {
    Sequence {
        next_index: usize,
    },
    /// `key` is the key whose value comes next, `None` while a key is expected.
    Mapping {
        key: Option<String>,
    },
}

/// Position as serde-saphyr reports it: 1-based line and 1-based column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineColumn {
    pub line: u64,
    pub column: u64,
}

/// The path of the node at `position`, or `None` when the document does not parse up to
/// there (a syntax error: the line and column are then the best we have).
pub fn path_at(yaml: &str, position: LineColumn) -> Option<String> {
    let mut walker = PathWalker::default();
    let mut best: Option<String> = None;
    for event in Parser::new_from_str(yaml) {
        let (event, span) = event.ok()?;
        let start = LineColumn {
            line: span.start.line() as u64,
            // granit columns are 0-based, serde-saphyr's 1-based.
            column: span.start.col() as u64 + 1,
        };
        if start > position {
            return best;
        }
        if let Some(path) = walker.visit(&event) {
            best = Some(path);
        }
    }
    best
}

#[derive(Default)]
struct PathWalker {
    stack: Vec<Frame>,
    /// The path of the container each frame belongs to (same length as `stack`).
    segments: Vec<Segment>,
}

impl PathWalker {
    /// Feeds one event; returns the path of the node it starts, if it starts one.
    fn visit(&mut self, event: &Event<'_>) -> Option<String> {
        match event {
            Event::Scalar(value, ..) => Some(self.scalar(value)),
            Event::Alias(_) => Some(self.scalar("*alias")),
            Event::SequenceStart(..) => Some(self.open(Frame::Sequence { next_index: 0 })),
            Event::MappingStart(..) => Some(self.open(Frame::Mapping { key: None })),
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
                self.segments.pop();
                self.value_done();
                None
            }
            _ => None,
        }
    }

    fn scalar(&mut self, value: &str) -> String {
        if let Some(Frame::Mapping { key: key @ None }) = self.stack.last_mut() {
            *key = Some(value.to_string());
            return self.render(None);
        }
        let path = self.render(None);
        self.value_done();
        path
    }

    fn open(&mut self, frame: Frame) -> String {
        // A collection used as a mapping key is rare; name it by its position only.
        let segment = self
            .current_segment()
            .unwrap_or(Segment::Key("?".to_string()));
        // The root collection has no path of its own.
        let path = if self.stack.is_empty() {
            String::new()
        } else {
            self.render(Some(&segment))
        };
        self.stack.push(frame);
        self.segments.push(segment);
        path
    }

    /// The segment the next value would take inside the innermost container.
    fn current_segment(&self) -> Option<Segment> {
        match self.stack.last()? {
            Frame::Sequence { next_index } => Some(Segment::Index(*next_index)),
            Frame::Mapping { key } => key.clone().map(Segment::Key),
        }
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Sequence { next_index }) => *next_index += 1,
            Some(Frame::Mapping { key }) => *key = None,
            None => {}
        }
    }

    /// Renders the container path plus either `extra` or the current segment.
    fn render(&self, extra: Option<&Segment>) -> String {
        let current = self.current_segment();
        let last = extra.or(current.as_ref());
        // The root mapping's own segment is skipped: it has no name.
        let mut path = String::new();
        for segment in self.segments.iter().skip(1).chain(last) {
            match segment {
                Segment::Key(key) if path.is_empty() => path.push_str(key),
                Segment::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Segment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, column: u64) -> LineColumn {
        LineColumn { line, column }
    }

    const YAML: &str = "global:\n  interval: 30s\ntargets:\n  - {name: a, address: b}\n  - name: c\n    adress: d\n";

    #[test]
    fn names_keys_and_values() {
        assert_eq!(path_at(YAML, at(2, 3)).as_deref(), Some("global.interval"));
        assert_eq!(path_at(YAML, at(2, 13)).as_deref(), Some("global.interval"));
        assert_eq!(
            path_at(YAML, at(4, 15)).as_deref(),
            Some("targets[0].address")
        );
        assert_eq!(
            path_at(YAML, at(6, 5)).as_deref(),
            Some("targets[1].adress")
        );
    }

    #[test]
    fn gives_up_on_syntax_errors() {
        assert_eq!(path_at("targets: [\n", at(1, 11)), None);
    }
}
