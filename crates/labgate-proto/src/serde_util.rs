//! Serde helpers shared by the wire types.

/// Tells an absent field (leave unchanged) from an explicit `null` (clear) in PATCH bodies:
/// with `#[serde(default, with = "…")]`, absent is `None`, `null` is `Some(None)` and a value
/// is `Some(Some(v))`. Plain `Option<Option<T>>` would read `null` as `None`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// Writes a secret into the serialised answer, the one place it must appear in the clear, so
/// the value itself can stay a `SecretString` (zeroized on drop, redacted in `Debug`) until then.
pub(crate) mod exposed_secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose_secret())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
        SecretString::deserialize(deserializer)
    }
}

/// [`exposed_secret`] for an optional value.
pub(crate) mod exposed_secret_opt {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        secret: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_some(secret.expose_secret()),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<SecretString>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Patch {
        #[serde(default, with = "super::double_option")]
        description: Option<Option<String>>,
    }

    #[test]
    fn absent_null_and_value_stay_distinct() {
        let read = |s: &str| serde_json::from_str::<Patch>(s).unwrap().description;
        assert_eq!(read("{}"), None);
        assert_eq!(read(r#"{"description":null}"#), Some(None));
        assert_eq!(read(r#"{"description":"x"}"#), Some(Some("x".to_owned())));
        let cleared = Patch {
            description: Some(None),
        };
        assert_eq!(
            serde_json::to_string(&cleared).unwrap(),
            r#"{"description":null}"#
        );
    }
}
