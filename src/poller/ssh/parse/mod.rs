//! Pure parsers of the text the collection command prints, one file per source. No I/O: the
//! unit tests feed them captured outputs of several kernels and distributions.

pub mod diskstats;
pub mod filesystems;
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod stat;
pub mod system;
pub mod uptime;

/// Why a source could not be parsed. Holds the source and the line number, never the text: it
/// ends up in logs, and the label is the closed `parse_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{source_name}: line {line} is malformed")]
    Malformed {
        source_name: &'static str,
        line: usize,
    },
    #[error("{0}: a required value is missing")]
    Missing(&'static str),
}

impl ParseError {
    pub fn malformed(source_name: &'static str, line_index: usize) -> Self {
        ParseError::Malformed {
            source_name,
            line: line_index + 1,
        }
    }
}

/// A decimal unsigned integer field, or a `Malformed` error naming the source and line.
pub fn number(text: &str, source_name: &'static str, line_index: usize) -> Result<u64, ParseError> {
    text.parse()
        .map_err(|_| ParseError::malformed(source_name, line_index))
}
