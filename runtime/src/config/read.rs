//! Typed reads of any app-config key ([`Config::get`](super::Config::get)): the merged tree
//! read through serde, with errors that say where (file, line, column, key path) and what
//! was expected, never the value.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::ConfigError;
use super::yaml::{Node, Value};

/// Reads the node at `path` (the dotted key path, for errors) as a `T`.
pub(super) fn read<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, ConfigError> {
    T::deserialize(Reader { node, path }).map_err(|error| error.into_config_error(path))
}

/// A node being read, and its key path.
#[derive(Clone, Copy)]
struct Reader<'de, 'p> {
    node: &'de Node,
    path: &'p str,
}

/// Why a read failed: where, once known (the innermost node's), and what was wrong.
#[derive(Debug)]
pub(super) struct ReadError {
    at: Option<(String, u32, u32, String)>,
    expected: String,
}

impl ReadError {
    fn new(expected: impl Into<String>) -> ReadError {
        ReadError {
            at: None,
            expected: expected.into(),
        }
    }

    /// Places an error that has no place yet at `reader`'s node.
    fn at(mut self, reader: Reader<'_, '_>) -> ReadError {
        if self.at.is_none() {
            let (source, line, column) = reader.node.origin();
            self.at = Some((source.to_owned(), line, column, reader.path.to_owned()));
        }
        self
    }

    fn into_config_error(self, path: &str) -> ConfigError {
        let (source, line, column, key) = self
            .at
            .unwrap_or_else(|| (String::new(), 0, 0, path.to_owned()));
        ConfigError::Invalid {
            source,
            line,
            column,
            key,
            reason: self.expected,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expected)
    }
}

impl std::error::Error for ReadError {}

/// Every message says what was expected and never what was found: a value may be a secret.
impl de::Error for ReadError {
    fn custom<M: fmt::Display>(message: M) -> ReadError {
        // serde's own messages about fields name keys, not values; anything else (a type's
        // own parse error) may quote the value, so it is not passed on
        let message = message.to_string();
        if ["missing field", "unknown field", "duplicate field"]
            .iter()
            .any(|start| message.starts_with(start))
        {
            ReadError::new(format!("is invalid: {message}"))
        } else {
            ReadError::new("is not a valid value of its type")
        }
    }

    fn invalid_type(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> ReadError {
        ReadError::new(format!("must be {expected}"))
    }

    fn invalid_value(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> ReadError {
        ReadError::new(format!("must be {expected}"))
    }

    fn invalid_length(length: usize, expected: &dyn de::Expected) -> ReadError {
        ReadError::new(format!("has {length} items, but must be {expected}"))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> ReadError {
        ReadError::new(format!("must be one of: {}", expected.join(", ")))
    }
}

impl<'de> de::Deserializer<'de> for Reader<'de, '_> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let result = match self.node.value() {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Integer(i) => match i64::try_from(*i) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_i128(*i),
            },
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(Items {
                items: items.iter().enumerate(),
                path: self.path,
            }),
            Value::Map(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                path: self.path,
                value: None,
            }),
        };
        result.map_err(|error| error.at(self))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.node.value() {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|error| error.at(self))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.node.value() {
            // a unit variant: `level: debug`
            Value::String(s) => {
                visitor.visit_enum(IntoDeserializer::<ReadError>::into_deserializer(s.as_str()))
            }
            // a variant with content: `limit: { perMinute: 10 }`
            Value::Map(entries) if entries.len() == 1 => {
                visitor.visit_enum(de::value::MapAccessDeserializer::new(Entries {
                    entries: entries.iter(),
                    path: self.path,
                    value: None,
                }))
            }
            _ => Err(ReadError::new(
                "must be a variant name, or a mapping of one variant name to its content",
            )),
        }
        .map_err(|error| error.at(self))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|error| error.at(self))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A sequence's items, each with its path (`key[0]`, `key[1]`, ..).
struct Items<'p, I> {
    items: I,
    path: &'p str,
}

impl<'de, I: Iterator<Item = (usize, &'de Node)>> de::SeqAccess<'de> for Items<'_, I> {
    type Error = ReadError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        let Some((index, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.path);
        seed.deserialize(Reader { node, path: &path }).map(Some)
    }
}

/// A mapping's entries, each value with its path (`key.child`).
struct Entries<'de, 'p, I> {
    entries: I,
    path: &'p str,
    value: Option<(&'de String, &'de Node)>,
}

impl<'de, I: Iterator<Item = (&'de String, &'de Node)>> de::MapAccess<'de> for Entries<'de, '_, I> {
    type Error = ReadError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, node));
        seed.deserialize(IntoDeserializer::<ReadError>::into_deserializer(
            key.as_str(),
        ))
        .map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ReadError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| ReadError::new("a value after its key"))?;
        let path = if self.path.is_empty() {
            key.clone()
        } else {
            format!("{}.{key}", self.path)
        };
        seed.deserialize(Reader { node, path: &path })
    }
}
