//! Serde helpers that write byte fields of a checkpoint as base64 strings (standard alphabet,
//! padded) instead of JSON lists of numbers, which take about 3.6 characters per byte and are
//! slow to write and parse. Use with `#[serde(with = "...")]` on the field:
//!
//! - [`one`] for `Vec<u8>`,
//! - [`option`] for `Option<Vec<u8>>`,
//! - [`list`] for `Vec<Vec<u8>>`,
//! - [`map`] for `BTreeMap<K, Vec<u8>>`.
//!
//! Reading anything other than a valid base64 string where bytes are expected is a
//! deserialisation error (never a panic).

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// Borrowed bytes that serialise as one base64 string.
struct Encoded<'a>(&'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(self.0))
    }
}

/// Bytes read from one base64 string.
struct Decoded(Vec<u8>);

impl<'de> Deserialize<'de> for Decoded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decoded;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decoded, E> {
                STANDARD.decode(v).map(Decoded).map_err(|e| E::custom(format!("invalid base64: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// `Vec<u8>` as one base64 string.
pub mod one {
    use super::*;

    /// Writes `bytes` as a base64 string.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        Encoded(bytes).serialize(s)
    }

    /// Reads a base64 string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Decoded::deserialize(d).map(|b| b.0)
    }
}

/// `Option<Vec<u8>>` as a base64 string or `null`.
pub mod option {
    use super::*;

    /// Writes the bytes as a base64 string, `None` as null.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&Encoded(b)),
            None => s.serialize_none(),
        }
    }

    /// Reads a base64 string or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Decoded>::deserialize(d)?.map(|b| b.0))
    }
}

/// `Vec<Vec<u8>>` as a list of base64 strings.
pub mod list {
    use super::*;

    /// Writes each element as a base64 string.
    pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(|b| Encoded(b)))
    }

    /// Reads a list of base64 strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<Decoded>::deserialize(d)?.into_iter().map(|b| b.0).collect())
    }
}

/// `BTreeMap<K, Vec<u8>>` as a map of base64 strings.
pub mod map {
    use super::*;

    /// Writes each value as a base64 string.
    pub fn serialize<K: Serialize, S: Serializer>(m: &BTreeMap<K, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, Encoded(v))))
    }

    /// Reads a map whose values are base64 strings.
    pub fn deserialize<'de, K, D>(d: D) -> Result<BTreeMap<K, Vec<u8>>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        D: Deserializer<'de>,
    {
        Ok(BTreeMap::<K, Decoded>::deserialize(d)?.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fields {
        #[serde(with = "one")]
        a: Vec<u8>,
        #[serde(with = "list")]
        b: Vec<Vec<u8>>,
        #[serde(with = "map")]
        c: BTreeMap<usize, Vec<u8>>,
        #[serde(with = "option")]
        d: Option<Vec<u8>>,
        #[serde(with = "option")]
        e: Option<Vec<u8>>,
    }

    #[test]
    fn bytes_round_trip_as_base64_strings() {
        let f = Fields {
            a: (0..=255).collect(),
            b: vec![vec![], vec![0xff, 0, 1]],
            c: BTreeMap::from([(0, b"x".to_vec()), (7, vec![])]),
            d: Some(vec![1]),
            e: None,
        };
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains(r#""b":["","/wAB"]"#), "{text}");
        assert!(text.contains(r#""c":{"0":"eA==","7":""},"d":"AQ==","e":null"#), "{text}");
        assert_eq!(serde_json::from_str::<Fields>(&text).unwrap(), f);
    }

    #[test]
    fn number_lists_and_bad_base64_are_errors() {
        let old = r#"{"a":[1,2],"b":[],"c":{},"d":null,"e":null}"#;
        let e = serde_json::from_str::<Fields>(old).unwrap_err().to_string();
        assert!(e.contains("expected a base64 string"), "{e}");
        let bad = r#"{"a":"!!","b":[],"c":{},"d":null,"e":null}"#;
        let e = serde_json::from_str::<Fields>(bad).unwrap_err().to_string();
        assert!(e.contains("invalid base64"), "{e}");
    }
}
