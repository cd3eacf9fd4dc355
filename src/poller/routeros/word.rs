//! The RouterOS API wire format: length-prefixed words, sentences ended by an empty word, and
//! the reply sentences (`!re`, `!done`, `!trap`, `!fatal`) with their attributes and tag.
//!
//! Pure functions over bytes, shared by the poller and the simulator, so both ends of every
//! test speak through the same codec and the fuzzer can drive it without a socket.

use std::fmt;

/// Longest word accepted from a peer. RouterOS words are attribute values (names, comments,
/// counters); 1 MiB is far above any real one and bounds what a hostile router can make us hold.
pub const MAX_WORD_BYTES: usize = 1024 * 1024;

/// Most words one sentence may carry (a `/interface` row has about 40 attributes).
pub const MAX_SENTENCE_WORDS: usize = 4096;

/// A framing error: the peer does not speak the API (or is hostile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordError {
    /// A first length byte above 0xF0: undefined (0xF1-0xF7) or control bytes (0xF8-0xFF).
    ReservedLengthByte(u8),
    /// A word longer than [`MAX_WORD_BYTES`].
    WordTooLong(usize),
    /// A sentence with more than [`MAX_SENTENCE_WORDS`] words.
    TooManyWords,
}

impl fmt::Display for WordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WordError::ReservedLengthByte(byte) => {
                write!(f, "reserved length byte 0x{byte:02X}")
            }
            WordError::WordTooLong(len) => {
                write!(f, "a {len}-byte word (the limit is {MAX_WORD_BYTES})")
            }
            WordError::TooManyWords => {
                write!(f, "a sentence of more than {MAX_SENTENCE_WORDS} words")
            }
        }
    }
}

impl std::error::Error for WordError {}

/// Appends the length prefix of a `len`-byte word: 1 to 5 bytes, big-endian, the high bits of
/// the first byte telling how many follow.
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    let len32 = u32::try_from(len).expect("a RouterOS word is shorter than 4 GiB");
    match len32 {
        0..=0x7F => out.push(len32 as u8),
        0x80..=0x3FFF => out.extend_from_slice(&((len32 | 0x8000) as u16).to_be_bytes()),
        0x4000..=0x1F_FFFF => out.extend_from_slice(&(len32 | 0xC0_0000).to_be_bytes()[1..]),
        0x20_0000..=0x0FFF_FFFF => out.extend_from_slice(&(len32 | 0xE000_0000).to_be_bytes()),
        _ => {
            out.push(0xF0);
            out.extend_from_slice(&len32.to_be_bytes());
        }
    }
}

/// Decodes a length prefix at the start of `bytes`: `Ok(None)` when more bytes are needed,
/// else the word length and how many bytes the prefix took.
pub fn decode_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, WordError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let (prefix_len, mask): (usize, u32) = match first {
        0x00..=0x7F => (1, 0x7F),
        0x80..=0xBF => (2, 0x3FFF),
        0xC0..=0xDF => (3, 0x1F_FFFF),
        0xE0..=0xEF => (4, 0x0FFF_FFFF),
        0xF0 => (5, u32::MAX),
        reserved => return Err(WordError::ReservedLengthByte(reserved)),
    };
    if bytes.len() < prefix_len {
        return Ok(None);
    }
    let value = if prefix_len == 5 {
        u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
    } else {
        let mut value = 0u32;
        for &byte in &bytes[..prefix_len] {
            value = (value << 8) | u32::from(byte);
        }
        value & mask
    };
    Ok(Some((value as usize, prefix_len)))
}

/// Appends one word with its prefix.
pub fn encode_word(word: &[u8], out: &mut Vec<u8>) {
    encode_length(word.len(), out);
    out.extend_from_slice(word);
}

/// A whole sentence: its words, then the empty word that ends it.
pub fn encode_sentence<W: AsRef<[u8]>>(words: &[W]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.iter().map(|w| w.as_ref().len() + 2).sum::<usize>() + 1);
    for word in words {
        encode_word(word.as_ref(), &mut out);
    }
    out.push(0);
    out
}

/// Takes the first complete sentence off the front of `buffer`: `Ok(None)` when it is not all
/// there yet (the buffer is left as it was). An empty sentence (a lone empty word) is returned
/// as an empty list; callers skip it. Only the length prefixes are scanned until the sentence
/// is complete, so a sentence arriving in many reads is copied once, not once per read.
pub fn take_sentence(buffer: &mut Vec<u8>) -> Result<Option<Vec<Vec<u8>>>, WordError> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    loop {
        let Some((len, prefix)) = decode_length(&buffer[at..])? else {
            return Ok(None);
        };
        if len > MAX_WORD_BYTES {
            return Err(WordError::WordTooLong(len));
        }
        let start = at + prefix;
        if buffer.len() < start + len {
            return Ok(None);
        }
        at = start + len;
        if len == 0 {
            let words = spans.iter().map(|&(s, e)| buffer[s..e].to_vec()).collect();
            buffer.drain(..at);
            return Ok(Some(words));
        }
        if spans.len() == MAX_SENTENCE_WORDS {
            return Err(WordError::TooManyWords);
        }
        spans.push((start, at));
    }
}

/// What kind of reply a sentence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// One row of data.
    Re,
    /// The command finished (a count-only print carries the count in `ret`).
    Done,
    /// The command failed; a `!done` follows.
    Trap,
    /// The router is closing the connection.
    Fatal,
    /// `!empty` (RouterOS 7.18+: a print that matched nothing, before its `!done`).
    Empty,
}

/// One reply sentence, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// The `.tag` of the command this answers, if it had one.
    pub tag: Option<String>,
    /// `=name=value` words in order. Names and values are read as UTF-8, invalid bytes replaced
    /// (RouterOS stores names in the router's code page).
    pub attributes: Vec<(String, String)>,
    /// `!fatal`'s reason, which comes as a bare word rather than an attribute.
    pub fatal_message: Option<String>,
}

/// A sentence that is not a reply the client understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The first word is not `!re`, `!done`, `!trap`, `!fatal` or `!empty`.
    UnknownReplyWord(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::UnknownReplyWord(word) => write!(f, "unknown reply word {word:?}"),
        }
    }
}

impl std::error::Error for ReplyError {}

impl Reply {
    /// Decodes a sentence's words (see [`take_sentence`]).
    pub fn parse(words: &[Vec<u8>]) -> Result<Reply, ReplyError> {
        let first = words.first().map(|w| lossy(w)).unwrap_or_default();
        let kind = match first.as_str() {
            "!re" => ReplyKind::Re,
            "!done" => ReplyKind::Done,
            "!trap" => ReplyKind::Trap,
            "!fatal" => ReplyKind::Fatal,
            "!empty" => ReplyKind::Empty,
            _ => return Err(ReplyError::UnknownReplyWord(truncated(&first))),
        };
        let mut reply = Reply {
            kind,
            tag: None,
            attributes: Vec::new(),
            fatal_message: None,
        };
        for word in &words[1..] {
            let word = lossy(word);
            if let Some(tag) = word.strip_prefix(".tag=") {
                reply.tag = Some(tag.to_string());
            } else if let Some((name, value)) = attribute(&word) {
                reply.attributes.push((name.to_string(), value.to_string()));
            } else if kind == ReplyKind::Fatal && reply.fatal_message.is_none() {
                reply.fatal_message = Some(word);
            }
            // Other words (API attributes such as `.section=`) carry nothing we read.
        }
        Ok(reply)
    }

    /// The value of attribute `name`, if the reply has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `=name=value` to (name, value); the value may itself contain `=`.
fn attribute(word: &str) -> Option<(&str, &str)> {
    let rest = word.strip_prefix('=')?;
    let (name, value) = rest.split_once('=')?;
    (!name.is_empty()).then_some((name, value))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Error text never quotes more than 64 characters of what a peer sent.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A command to send: a path, `=attribute=value` words, `?query` words and a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub path: String,
    pub attributes: Vec<(String, String)>,
    pub queries: Vec<String>,
    pub tag: Option<String>,
}

impl Command {
    pub fn new(path: &str) -> Command {
        Command {
            path: path.to_string(),
            attributes: Vec::new(),
            queries: Vec::new(),
            tag: None,
        }
    }

    /// Adds `=name=value`.
    pub fn attribute(mut self, name: &str, value: &str) -> Command {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a query word, written without its leading `?` (`status=bound`).
    pub fn query(mut self, query: &str) -> Command {
        self.queries.push(query.to_string());
        self
    }

    pub fn tagged(mut self, tag: &str) -> Command {
        self.tag = Some(tag.to_string());
        self
    }

    /// The command's words, in the order RouterOS expects (path first).
    pub fn words(&self) -> Vec<String> {
        let mut words = Vec::with_capacity(2 + self.attributes.len() + self.queries.len());
        words.push(self.path.clone());
        words.extend(self.attributes.iter().map(|(n, v)| format!("={n}={v}")));
        words.extend(self.queries.iter().map(|q| format!("?{q}")));
        if let Some(tag) = &self.tag {
            words.push(format!(".tag={tag}"));
        }
        words
    }

    /// The command as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        encode_sentence(&self.words())
    }

    /// Decodes a command sentence, as the simulator receives it.
    pub fn parse(words: &[Vec<u8>]) -> Option<Command> {
        let path = lossy(words.first()?);
        if !path.starts_with('/') {
            return None;
        }
        let mut command = Command::new(&path);
        for word in &words[1..] {
            let word = lossy(word);
            if let Some(tag) = word.strip_prefix(".tag=") {
                command.tag = Some(tag.to_string());
            } else if let Some(query) = word.strip_prefix('?') {
                command.queries.push(query.to_string());
            } else if let Some((name, value)) = attribute(&word) {
                command
                    .attributes
                    .push((name.to_string(), value.to_string()));
            } else if let Some(name) = word.strip_prefix('=') {
                // `=count-only=` without a value parses above; `=stats` has no second `=`.
                command.attributes.push((name.to_string(), String::new()));
            }
        }
        Some(command)
    }

    /// The value of attribute `name`, if the command has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds a reply sentence (the simulator's side): `!re`/`!done`/`!trap` words plus attributes.
pub fn encode_reply(kind: &str, attributes: &[(&str, &str)], tag: Option<&str>) -> Vec<u8> {
    let mut words: Vec<String> = Vec::with_capacity(attributes.len() + 2);
    words.push(kind.to_string());
    words.extend(attributes.iter().map(|(n, v)| format!("={n}={v}")));
    if let Some(tag) = tag {
        words.push(format!(".tag={tag}"));
    }
    encode_sentence(&words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode_length(len, &mut out);
        out
    }

    #[test]
    fn length_prefixes_of_every_size_class_match_the_documented_bytes() {
        assert_eq!(prefix(0), [0x00]);
        assert_eq!(prefix(0x7F), [0x7F]);
        assert_eq!(prefix(0x80), [0x80, 0x80]);
        assert_eq!(prefix(0x3FFF), [0xBF, 0xFF]);
        assert_eq!(prefix(0x4000), [0xC0, 0x40, 0x00]);
        assert_eq!(prefix(0x1F_FFFF), [0xDF, 0xFF, 0xFF]);
        assert_eq!(prefix(0x20_0000), [0xE0, 0x20, 0x00, 0x00]);
        assert_eq!(prefix(0x0FFF_FFFF), [0xEF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(prefix(0x1000_0000), [0xF0, 0x10, 0x00, 0x00, 0x00]);
        assert_eq!(prefix(0xFFFF_FFFF), [0xF0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn every_boundary_length_decodes_back_to_itself() {
        for len in [
            0,
            1,
            0x7F,
            0x80,
            0x3FFF,
            0x4000,
            0x1F_FFFF,
            0x20_0000,
            0x0FFF_FFFF,
            0x1000_0000,
            0xFFFF_FFFF,
        ] {
            let bytes = prefix(len);
            assert_eq!(
                decode_length(&bytes),
                Ok(Some((len, bytes.len()))),
                "{len:#x}"
            );
            // Every shorter slice asks for more bytes instead of guessing.
            for cut in 0..bytes.len() {
                assert_eq!(
                    decode_length(&bytes[..cut]),
                    Ok(None),
                    "{len:#x} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn reserved_control_bytes_are_refused() {
        for byte in 0xF1..=0xFF {
            assert_eq!(
                decode_length(&[byte, 0, 0, 0, 0]),
                Err(WordError::ReservedLengthByte(byte))
            );
        }
    }

    #[test]
    fn sentences_come_off_a_stream_whole_and_in_order() {
        let mut stream = encode_sentence(&["!re", "=name=ether1", ".tag=3"]);
        let long = "x".repeat(0x4000);
        stream.extend(encode_sentence(&["!done", &format!("=ret={long}")]));
        let full = stream.clone();
        // Fed one byte at a time, nothing comes out before a sentence is complete.
        let mut buffer = Vec::new();
        let mut sentences = Vec::new();
        for byte in full {
            buffer.push(byte);
            while let Some(sentence) = take_sentence(&mut buffer).unwrap() {
                sentences.push(sentence);
            }
        }
        assert!(buffer.is_empty());
        assert_eq!(sentences.len(), 2);
        let first = Reply::parse(&sentences[0]).unwrap();
        assert_eq!(first.kind, ReplyKind::Re);
        assert_eq!(first.tag.as_deref(), Some("3"));
        assert_eq!(first.get("name"), Some("ether1"));
        let second = Reply::parse(&sentences[1]).unwrap();
        assert_eq!(second.kind, ReplyKind::Done);
        assert_eq!(second.get("ret").map(str::len), Some(0x4000));
    }

    #[test]
    fn oversized_words_and_sentences_are_refused_before_they_are_buffered() {
        let mut buffer = Vec::new();
        encode_length(MAX_WORD_BYTES + 1, &mut buffer);
        assert_eq!(
            take_sentence(&mut buffer),
            Err(WordError::WordTooLong(MAX_WORD_BYTES + 1))
        );
        let words = vec!["=a=b"; MAX_SENTENCE_WORDS + 1];
        let mut buffer = encode_sentence(&words);
        assert_eq!(take_sentence(&mut buffer), Err(WordError::TooManyWords));
    }

    #[test]
    fn replies_of_each_kind_decode_with_their_attributes() {
        let parse = |words: &[&str]| {
            Reply::parse(
                &words
                    .iter()
                    .map(|w| w.as_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
        };
        let trap = parse(&["!trap", "=category=2", "=message=no such command", ".tag=7"]).unwrap();
        assert_eq!(trap.kind, ReplyKind::Trap);
        assert_eq!(trap.get("message"), Some("no such command"));
        assert_eq!(trap.get("category"), Some("2"));
        assert_eq!(trap.tag.as_deref(), Some("7"));
        let fatal = parse(&["!fatal", "session terminated on request"]).unwrap();
        assert_eq!(fatal.kind, ReplyKind::Fatal);
        assert_eq!(
            fatal.fatal_message.as_deref(),
            Some("session terminated on request")
        );
        let done = parse(&["!done", "=ret=42"]).unwrap();
        assert_eq!((done.kind, done.get("ret")), (ReplyKind::Done, Some("42")));
        // A value may contain '=' itself; only the first one after the name splits.
        let row = parse(&["!re", "=comment=a=b=c"]).unwrap();
        assert_eq!(row.get("comment"), Some("a=b=c"));
        assert_eq!(parse(&["!empty"]).unwrap().kind, ReplyKind::Empty);
        assert_eq!(
            parse(&["hello"]),
            Err(ReplyError::UnknownReplyWord("hello".into()))
        );
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn commands_round_trip_through_their_words() {
        let command = Command::new("/ip/dhcp-server/lease/print")
            .attribute("count-only", "")
            .query("status=bound")
            .tagged("4");
        assert_eq!(
            command.words(),
            [
                "/ip/dhcp-server/lease/print",
                "=count-only=",
                "?status=bound",
                ".tag=4"
            ]
        );
        let mut bytes = command.encode();
        let words = take_sentence(&mut bytes).unwrap().unwrap();
        assert_eq!(Command::parse(&words), Some(command));
        let bare = vec![b"/interface/print".to_vec(), b"=stats".to_vec()];
        assert_eq!(Command::parse(&bare).unwrap().get("stats"), Some(""));
        assert_eq!(Command::parse(&[b"!re".to_vec()]), None);
    }
}
