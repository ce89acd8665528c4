//! Serde adapters for the reference's integer booleans.
//!
//! The data model stores booleans as `0`/`1` (reference §14.1). Documents
//! may say `0`/`1` or `false`/`true`; the normalized document always says
//! `0`/`1`, so what GET returns matches the reference.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// Writes a boolean as `0` or `1`.
pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u8(u8::from(*value))
}

/// Reads `0`, `1`, `false` or `true`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(FlagVisitor)
}

/// The default of a flag that is on unless said otherwise.
pub fn on() -> bool {
    true
}

struct FlagVisitor;

impl Visitor<'_> for FlagVisitor {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("0, 1, false or true")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(value), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(de::Unexpected::Signed(value), &self)),
        }
    }
}

/// `status: "active" | "disabled"` read into and written from an
/// `active: bool` field (users, devices, extensions, trunks), so handlers
/// test a boolean instead of comparing strings.
pub mod status {
    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;
    use std::fmt;

    /// Writes `"active"` or `"disabled"`.
    pub fn serialize<S: Serializer>(active: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if *active { "active" } else { "disabled" })
    }

    /// Reads `"active"` (true) or `"disabled"` (false).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(StatusVisitor)
    }

    struct StatusVisitor;

    impl Visitor<'_> for StatusVisitor {
        type Value = bool;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("`active` or `disabled`")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
            match value {
                "active" => Ok(true),
                "disabled" => Ok(false),
                other => Err(E::unknown_variant(other, &["active", "disabled"])),
            }
        }
    }
}
