//! A sample's labels rendered once as exposition text, and the per-target interner that shares them.
//!
//! At a million series the exporter cannot afford to escape and join label pairs on every
//! scrape, nor to keep a `Vec` of owned strings per series: a `LabelSet` is the text between the
//! braces (without `target`, which the encoder adds), escaped once when the poller builds the
//! sample. `LabelInterner` lets the ~12 families of one interface, and successive polls of the
//! same target, point at one copy of that text.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// Label pairs rendered as `name="value",name="value"` (values escaped), shared by reference.
///
/// An `Arc<str>`: the length sits in the pointer and the text right after the reference
/// counts, so a scrape reaches it with one memory access. (A thinner `Arc<Box<str>>` saved 8
/// bytes per sample but cost a second dependent cache miss per series: at a million series,
/// that was most of a scrape's time.)
#[derive(Clone)]
pub struct LabelSet(Arc<str>);

impl LabelSet {
    /// Renders label pairs in the order given. Values are escaped here, once.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        // Rendered in a per-thread scratch buffer, then copied once into the `Arc`: one
        // allocation per sample a poll produces, not one per growth step.
        thread_local! {
            static SCRATCH: RefCell<String> = RefCell::new(String::with_capacity(256));
        }
        SCRATCH.with(|scratch| {
            let mut text = scratch.borrow_mut();
            text.clear();
            for (name, value) in pairs {
                if !text.is_empty() {
                    text.push(',');
                }
                text.push_str(name);
                text.push_str("=\"");
                escape_label_value(&mut text, value);
                text.push('"');
            }
            Self::from_text(&text)
        })
    }

    /// Label names zipped with owned values (what `FamilyBuilder::push` gets).
    pub fn from_names_values(names: &[Arc<str>], values: &[String]) -> Self {
        Self::new(
            names
                .iter()
                .map(|n| &**n)
                .zip(values.iter().map(String::as_str)),
        )
    }

    /// The empty set (a scalar family such as uptime): one shared allocation.
    pub fn empty() -> Self {
        static EMPTY: OnceLock<LabelSet> = OnceLock::new();
        EMPTY.get_or_init(|| LabelSet(Arc::from(""))).clone()
    }

    /// A set from text already rendered and escaped by the caller (the encoder adding `le` to
    /// a histogram's labels).
    pub fn from_rendered(text: String) -> Self {
        Self::from_text(&text)
    }

    fn from_text(text: &str) -> Self {
        if text.is_empty() {
            return Self::empty();
        }
        LabelSet(Arc::from(text))
    }

    /// The rendered text, ready to go between braces (after `target="..."`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether two sets share one allocation (what the interner is for).
    pub fn shares_text_with(&self, other: &LabelSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The pairs back, unescaped: for tests and debugging, never on the scrape path.
    pub fn pairs(&self) -> Vec<(String, String)> {
        parse_rendered(&self.0)
    }

    /// The unescaped value of one label, if present.
    pub fn get(&self, name: &str) -> Option<String> {
        self.pairs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The unescaped values in order.
    pub fn values(&self) -> Vec<String> {
        self.pairs().into_iter().map(|(_, v)| v).collect()
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &Self) -> bool {
        self.shares_text_with(other) || self.as_str() == other.as_str()
    }
}

impl Eq for LabelSet {}

// Hash and Borrow<str> agree (both are the text), so the interner can look a set up by text.
impl Hash for LabelSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for LabelSet {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.as_str())
    }
}

/// Whether a label value needs escaping. A byte scan: the characters are all ASCII, and this
/// runs for every label of every sample a poll produces.
pub fn needs_escaping(value: &str) -> bool {
    value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n'))
}

/// Escapes a label value: backslash, double quote and newline (ifAlias and sysDescr can hold
/// all three). The same rule in both exposition formats.
pub fn escape_label_value(out: &mut String, value: &str) {
    // Most values need nothing: copy them whole.
    if !needs_escaping(value) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Splits `a="x",b="y\"z"` back into unescaped pairs.
fn parse_rendered(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        pairs.push((name.to_string(), value));
        rest = after[end..].strip_prefix(',').unwrap_or("");
    }
    pairs
}

/// The label sets one target's latest poll uses, so the next poll reuses their text instead of
/// keeping a fresh copy per sample. Sets no longer used by a poll are forgotten with it.
#[derive(Debug, Default)]
pub struct LabelInterner {
    known: HashSet<LabelSet>,
}

impl LabelInterner {
    /// Replaces every sample's label set by the shared copy of the same text (from this poll
    /// or the previous one), then keeps exactly the sets this poll used.
    pub fn share<'a>(&mut self, label_sets: impl Iterator<Item = &'a mut LabelSet>) {
        let mut used: HashSet<LabelSet> = HashSet::with_capacity(self.known.len());
        for labels in label_sets {
            if labels.is_empty() {
                continue;
            }
            if let Some(shared) = used.get(labels.as_str()) {
                *labels = shared.clone();
            } else if let Some(shared) = self.known.get(labels.as_str()) {
                *labels = shared.clone();
                used.insert(shared.clone());
            } else {
                used.insert(labels.clone());
            }
        }
        self.known = used;
    }

    /// How many distinct label sets the last poll used.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_render_escaped_in_order() {
        let set = LabelSet::new([("interface", "Gi0/1"), ("alias", "a \"b\" \\ c\nd")]);
        assert_eq!(
            set.as_str(),
            "interface=\"Gi0/1\",alias=\"a \\\"b\\\" \\\\ c\\nd\""
        );
        assert_eq!(
            set.pairs(),
            vec![
                ("interface".to_string(), "Gi0/1".to_string()),
                ("alias".to_string(), "a \"b\" \\ c\nd".to_string()),
            ]
        );
        assert_eq!(set.get("alias").as_deref(), Some("a \"b\" \\ c\nd"));
        assert_eq!(set.get("missing"), None);
    }

    #[test]
    fn no_pairs_is_the_shared_empty_set() {
        let a = LabelSet::new([]);
        assert!(a.is_empty());
        assert!(a.shares_text_with(&LabelSet::empty()));
        assert!(a.pairs().is_empty());
    }

    #[test]
    fn interner_shares_text_within_and_across_polls_and_forgets_unused_sets() {
        let mut interner = LabelInterner::default();
        let mut first = [
            LabelSet::new([("interface", "eth0")]),
            LabelSet::new([("interface", "eth0")]),
            LabelSet::new([("interface", "eth1")]),
        ];
        assert!(!first[0].shares_text_with(&first[1]));
        interner.share(first.iter_mut());
        assert!(first[0].shares_text_with(&first[1]));
        assert_eq!(interner.len(), 2);

        let mut second = [LabelSet::new([("interface", "eth0")])];
        interner.share(second.iter_mut());
        assert!(second[0].shares_text_with(&first[0]));
        // eth1 was not used by the second poll: forgotten.
        assert_eq!(interner.len(), 1);
    }
}
