//! Did-you-mean: the keys of a config that look like misspellings of the fields it should have.
//! Used for the WARN of an unknown key and for the "a typo?" of a missing field. Only keys are
//! ever looked at or shown, never values (any value could be a secret).

use std::fmt;

use super::connection_specification;

/// Top-level keys a config may have besides spec.json's properties: the credentials of
/// configs written before `credentials` existed, which [`super::Config::from_json`] still reads.
pub(super) const LEGACY_KEYS: &[&str] = &[
    "api_token",
    "auth_type",
    "client_id",
    "client_secret",
    "refresh_token",
];

/// A top-level key of a config that neither spec.json nor the legacy shapes know: ignored,
/// which is what a misspelled optional field (`replication_end_dat`) would silently be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// The known field it most looks like, when it looks like one.
    pub closest: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the config has an unknown field {:?}", Shown(&self.key))?;
        match &self.closest {
            Some(known) => write!(f, ": did you mean {known}? It is ignored as written"),
            None => f.write_str(", which is ignored"),
        }
    }
}

/// A key as messages show it: at most 40 characters, so a pasted document used as a key does
/// not flood the log.
struct Shown<'a>(&'a str);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.0.chars().take(40).collect();
        write!(f, "{short:?}")
    }
}

/// The top-level keys of a config that no field has, each with the known field it most looks
/// like. Only keys are looked at, never values.
pub fn unknown_keys(value: &serde_json::Value) -> Vec<UnknownKey> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    let spec = connection_specification();
    let known: Vec<&str> = spec["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let known: Vec<&str> = known
        .into_iter()
        .chain(LEGACY_KEYS.iter().copied())
        .collect();
    object
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .map(|key| UnknownKey {
            key: key.clone(),
            closest: closest(key, known.iter().copied()).map(String::from),
        })
        .collect()
}

/// The candidate nearest to `word` by edit distance, ignoring case (a swap of two neighbours
/// counts once), if it is near enough to be a misspelling: at most 3 edits, and at most a
/// third of the longer name.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != word)
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 3 && *d * 3 <= word.chars().count().max(c.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The edit distance between two keys, ignoring case.
fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(&a.to_lowercase(), &b.to_lowercase())
}

/// A key of `object` (other than `name` itself) that looks like a misspelling of `name`, at
/// most 40 characters of it.
pub(super) fn near_miss(
    object: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<String> {
    object
        .keys()
        .filter(|k| closest(k, std::iter::once(name)).is_some())
        .min_by_key(|k| distance(k, name))
        .map(|k| k.chars().take(40).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::config::tests::{base_config, patched};
    use crate::config::Config;

    #[test]
    fn unknown_top_level_keys_are_named_with_the_closest_field() {
        let doc = patched(json!({
            "replication_end_dat": "2021-01-01T00:00:00Z",
            "api_ulr": "https://secret.example/v2",
            "PAGE_SIZE": 10,
            "something_else_entirely": true
        }));
        let unknown = unknown_keys(&doc);
        let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "the config has an unknown field \"PAGE_SIZE\": did you mean page_size? It is ignored as written",
                "the config has an unknown field \"api_ulr\": did you mean api_url? It is ignored as written",
                "the config has an unknown field \"replication_end_dat\": did you mean replication_end_date? It is ignored as written",
                "the config has an unknown field \"something_else_entirely\", which is ignored",
            ]
        );
        // Only keys are named, never a value.
        assert!(
            shown.iter().all(|s| !s.contains("secret.example")),
            "{shown:?}"
        );
    }

    #[test]
    fn every_field_of_the_spec_and_the_legacy_credentials_are_known() {
        let spec = connection_specification();
        let mut doc = serde_json::Map::new();
        for key in spec["properties"].as_object().unwrap().keys() {
            doc.insert(key.clone(), json!(null));
        }
        for key in LEGACY_KEYS {
            doc.insert(key.to_string(), json!(null));
        }
        // The hidden advanced fields are there too, so none of them will ever warn.
        assert!(doc.contains_key("retry_base_delay_seconds") && doc.contains_key("api_url"));
        assert_eq!(unknown_keys(&Value::Object(doc)), []);
        let legacy = json!({"account_id": "1", "replication_start_date": "2020-01-01T00:00:00Z",
            "api_token": "t"});
        assert_eq!(unknown_keys(&legacy), []);
        Config::from_json(&legacy).unwrap();
        assert!(unknown_keys(&base_config()).is_empty());
    }

    #[test]
    fn a_long_unknown_key_is_shortened() {
        let long = "x".repeat(100);
        let shown = unknown_keys(&patched(json!({ long: 1 })))[0].to_string();
        assert!(
            shown.contains(&"x".repeat(40)) && !shown.contains(&"x".repeat(41)),
            "{shown}"
        );
    }
}
