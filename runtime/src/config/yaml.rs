//! The YAML side of the app-config: each file parsed into a tree that keeps where every
//! node was written, trees merged, keys read with their path for errors.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::ConfigError;

/// A key in the merged tree, present or not, with its path for errors.
pub(super) struct Field<'a> {
    pub(super) node: Option<&'a Node>,
    pub(super) path: String,
}

impl<'a> Field<'a> {
    pub(super) fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The mapping's entries; a missing or null key has none.
    pub(super) fn entries(&self) -> Result<Vec<(&'a str, Field<'a>)>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(Vec::new()),
            Some((_, Value::Map(entries))) => Ok(entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        Field {
                            node: Some(v),
                            path: self.child_path(k),
                        },
                    )
                })
                .collect()),
            Some((node, _)) => Err(self.wrong_type(node, "a mapping of keys to values")),
        }
    }

    /// The sequence's items (`key[0]`, `key[1]`, ..); a missing or null key has none.
    pub(super) fn items(&self, expected: &'static str) -> Result<Vec<Field<'a>>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(Vec::new()),
            Some((_, Value::Seq(items))) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    node: Some(node),
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            Some((node, _)) => Err(self.wrong_type(node, expected)),
        }
    }

    /// A list of strings.
    pub(super) fn strings(&self) -> Result<Option<Vec<String>>, ConfigError> {
        self.list(
            "a list of strings, such as [kind, result]",
            |value| match value {
                Value::String(s) => Some(s.clone()),
                _ => None,
            },
        )
    }

    /// A list whose every item `item` reads.
    fn list<T>(
        &self,
        expected: &'static str,
        item: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Seq(items))) => items
                .iter()
                .map(|node| item(&node.value).ok_or_else(|| self.wrong_type(node, expected)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some((node, _)) => Err(self.wrong_type(node, expected)),
        }
    }

    pub(super) fn get(&self, key: &str) -> Result<Field<'a>, ConfigError> {
        let node = match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => None,
            Some((_, Value::Map(entries))) => entries.get(key),
            Some((node, _)) => return Err(self.wrong_type(node, "a mapping of keys to values")),
        };
        Ok(Field {
            node,
            path: self.child_path(key),
        })
    }

    pub(super) fn string(&self) -> Result<Option<String>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((node, _)) => Err(self.wrong_type(
                node,
                "a string (quote it if it looks like a number or boolean)",
            )),
        }
    }

    /// A whole number; one below 0 reads as 0 and one beyond `u64` as `u64::MAX`, so that
    /// whoever uses it reports it out of range (and clamps it) rather than refusing the file.
    pub(super) fn whole_number(&self) -> Result<Option<u64>, ConfigError> {
        const EXPECTED: &str = "a whole number (0 or more)";
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Integer(i))) => {
                Ok(Some(u64::try_from((*i).max(0)).unwrap_or(u64::MAX)))
            }
            // digits beyond what an integer holds arrive as a float
            Some((_, Value::Float(f))) if f.is_finite() && f.fract() == 0.0 => {
                // `as` saturates: negative to 0, beyond the range to u64::MAX
                Ok(Some(*f as u64))
            }
            Some((node, _)) => Err(self.wrong_type(node, EXPECTED)),
        }
    }

    /// A number, integer or decimal; whether it is in range is for its user to say.
    pub(super) fn number(&self) -> Result<Option<f64>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((node, value)) => value
                .number()
                .map(Some)
                .ok_or_else(|| self.wrong_type(node, "a number, such as 0.25")),
        }
    }

    pub(super) fn boolean(&self) -> Result<Option<bool>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((node, _)) => Err(self.wrong_type(node, "a boolean (true or false)")),
        }
    }

    /// A list of numbers (integers or decimals); whether they make sense is for its user
    /// to say.
    pub(super) fn numbers(&self) -> Result<Option<Vec<f64>>, ConfigError> {
        self.list("a list of numbers, such as [0.01, 0.1, 1]", Value::number)
    }

    pub(super) fn wrong_type(&self, node: &Node, expected: &'static str) -> ConfigError {
        ConfigError::WrongType {
            source: node.origin.source.to_string(),
            line: node.origin.line,
            column: node.origin.column,
            key: self.path.clone(),
            expected,
        }
    }
}

pub(super) fn parse(source: &str, yaml: &str) -> Result<Node, ConfigError> {
    let origin_source: Arc<str> = Arc::from(source);
    // The parse recurses once per level of nesting, with frames large enough that 64
    // levels overflow a 2 MiB thread stack in a debug build: it runs on a thread of its own
    // with room for them (start-up only), or here if that thread cannot start.
    let parse = || parse_document(source, yaml);
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("app-config-parse".to_owned())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, parse)
            .ok()
            .map(|thread| thread.join())
    });
    let document = match parsed {
        Some(Ok(parsed)) => parsed,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => parse(),
    }?;
    let mut document = document.unwrap_or_else(Node::empty_map);
    document.set_source(&origin_source);
    match document.value {
        Value::Map(_) => Ok(document),
        Value::Null => Ok(Node::empty_map()),
        _ => Err(ConfigError::WrongType {
            source: source.to_owned(),
            line: document.origin.line,
            column: document.origin.column,
            key: String::new(),
            expected: "a mapping of keys to values",
        }),
    }
}

/// One file's document, within the parser's budget; errors in words that quote nothing.
fn parse_document(source: &str, yaml: &str) -> Result<Option<Node>, ConfigError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_aliases: MAX_ALIASES,
        },
        // `.nan` and `.inf` are read as written; the one list of numbers we take (span-metric
        // boundaries) is range-checked where it is used.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options(yaml, options).map_err(|error| {
        let (line, column) = error
            .location()
            .map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
        ConfigError::Syntax {
            source: source.to_owned(),
            line,
            column,
            reason: syntax_reason(&error),
        }
    })
}

/// Deepest nesting of mappings and sequences in one file.
pub const MAX_DEPTH: usize = 64;
/// The stack of the thread that parses a file: [`MAX_DEPTH`] levels with room to spare.
const PARSE_STACK: usize = 64 << 20;
/// Most YAML nodes (keys, values, items) in one file.
pub const MAX_NODES: usize = 1_000_000;
/// Most aliases (`*name`) in one file; each expansion counts towards [`MAX_NODES`] too.
pub const MAX_ALIASES: usize = 1_000;

/// What a parser error means, in words that never quote the file.
fn syntax_reason(error: &serde_saphyr::Error) -> &'static str {
    use serde_saphyr::budget::BudgetBreach;
    let mut error = error;
    while let serde_saphyr::Error::WithSnippet { error: inner, .. }
    | serde_saphyr::Error::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    match error {
        serde_saphyr::Error::DuplicateMappingKey { .. } => {
            "repeats a key of the same mapping (each key may appear once; remove one of them)"
        }
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "holds more than one YAML document (`---`); use one document per file and list several files"
        }
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => "nests mappings and sequences more than 64 levels deep",
            BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::AliasAnchorRatio { .. } => {
                "uses more than 1000 aliases (`*name`); write the values out"
            }
            _ => "is larger than a config file may be (more than 1,000,000 YAML nodes)",
        },
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => {
            "expands aliases (`*name`) into more nodes than allowed; write the values out"
        }
        serde_saphyr::Error::UnknownAnchor { .. } => {
            "uses an alias (`*name`) with no anchor (`&name`) before it"
        }
        _ => "not valid YAML (check indentation, quoting and `key: value` pairs near this line)",
    }
}

/// A YAML node and where it was written.
#[derive(Clone, Debug)]
pub(super) struct Node {
    value: Value,
    origin: Origin,
}

#[derive(Clone, Debug)]
pub(super) struct Origin {
    source: Arc<str>,
    line: u32,
    column: u32,
}

#[derive(Clone, Debug)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Integer(i128),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(BTreeMap<String, Node>),
}

impl Value {
    /// An integer or a decimal, as a number.
    fn number(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl Node {
    pub(super) fn value(&self) -> &Value {
        &self.value
    }

    /// The file, line and column it was written at.
    pub(super) fn origin(&self) -> (&str, u32, u32) {
        (&self.origin.source, self.origin.line, self.origin.column)
    }

    /// The node at a dotted key path (`billing.taxRate`), if every mapping on the way has
    /// the key.
    pub(super) fn at_path(&self, path: &str) -> Option<&Node> {
        path.split('.')
            .try_fold(self, |node, key| match &node.value {
                Value::Map(entries) => entries.get(key),
                _ => None,
            })
    }

    pub(super) fn empty_map() -> Self {
        Node {
            value: Value::Map(BTreeMap::new()),
            origin: Origin {
                source: Arc::from(""),
                line: 0,
                column: 0,
            },
        }
    }

    /// Merges `later` into `self`: mappings key by key, anything else replaced.
    pub(super) fn merge(&mut self, later: Node) {
        match (&mut self.value, later.value) {
            (Value::Map(entries), Value::Map(later_entries)) => {
                for (key, value) in later_entries {
                    match entries.entry(key) {
                        Entry::Occupied(mut existing) => existing.get_mut().merge(value),
                        Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.origin = later.origin;
            }
        }
    }

    pub(super) fn set_source(&mut self, source: &Arc<str>) {
        self.origin.source = source.clone();
        match &mut self.value {
            Value::Map(entries) => entries
                .values_mut()
                .for_each(|node| node.set_source(source)),
            Value::Seq(items) => items.iter_mut().for_each(|node| node.set_source(source)),
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            origin: Origin {
                source: Arc::from(""),
                line: spanned.referenced.line() as u32,
                column: spanned.referenced.column() as u32,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

pub(super) struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Integer))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // every item with where it was written (the parser bounds the nesting)
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<Key>()? {
            // The parser rejects a key repeated in one mapping before it gets here; two keys
            // that read the same as text (`1` and `"1"`) keep the later value.
            entries.insert(key.0, map.next_value()?);
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: any scalar, as text.
pub(super) struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}
