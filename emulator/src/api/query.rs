//! Query strings: parsing, typed access with Harvest's 422 on bad values, and the filter set of
//! a list endpoint.

use super::error::ApiError;
use crate::time;

/// Parameters that steer paging or carry credentials: never copied into `links`.
const NOT_FILTERS: &[&str] = &[
    "page",
    "per_page",
    "cursor",
    "ref",
    "access_token",
    "account_id",
];

/// The decoded query string, in the order given (the last of repeated keys wins).
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query {
            pairs: raw
                .map(|r| {
                    url::form_urlencoded::parse(r.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::invalid(format!("{key} must be true or false"))),
            })
            .transpose()
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::invalid(format!("{key} must be an integer")))
            })
            .transpose()
    }

    /// A date parameter (`YYYY-MM-DD` or `YYYYMMDD`), as a day number.
    pub fn date(&self, key: &str) -> Result<Option<i32>, ApiError> {
        self.get(key)
            .map(|v| {
                time::parse_date(v)
                    .ok_or_else(|| ApiError::invalid(format!("{key} is not a valid date")))
            })
            .transpose()
    }

    /// A datetime parameter (ISO 8601), as epoch seconds.
    pub fn datetime(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| {
                time::parse_datetime(v)
                    .ok_or_else(|| ApiError::invalid(format!("{key} is not a valid date and time")))
            })
            .transpose()
    }

    /// The caller's filters to carry into pagination links (sorted later with the paging keys).
    pub fn link_params(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.pairs {
            if NOT_FILTERS.contains(&k.as_str()) {
                continue;
            }
            out.retain(|(ok, _)| ok != k);
            out.push((k.clone(), v.clone()));
        }
        out
    }

    /// A canonical text of the filters, the cache key of a selection.
    pub fn filter_key(&self) -> String {
        let mut params = self.link_params();
        params.sort();
        params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The filters a list request asked for, parsed from the parameters its endpoint supports.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub updated_since: Option<i64>,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub is_active: Option<bool>,
    pub is_billed: Option<bool>,
    pub is_running: Option<bool>,
    pub client_id: Option<i64>,
    pub project_id: Option<i64>,
    pub user_id: Option<i64>,
    pub task_id: Option<i64>,
    pub external_reference_id: Option<String>,
    pub state: Option<String>,
}

impl Filters {
    /// Parses the parameters in `supported`; others are ignored, as Harvest ignores them.
    pub fn parse(q: &Query, supported: &[&str]) -> Result<Filters, ApiError> {
        let has = |k: &str| supported.contains(&k);
        let mut f = Filters::default();
        if has("updated_since") {
            f.updated_since = q.datetime("updated_since")?;
        }
        if has("from") {
            f.from = q.date("from")?;
            f.to = q.date("to")?;
        }
        if has("is_active") {
            f.is_active = q.bool("is_active")?;
        }
        if has("is_billed") {
            f.is_billed = q.bool("is_billed")?;
        }
        if has("is_running") {
            f.is_running = q.bool("is_running")?;
        }
        if has("client_id") {
            f.client_id = q.int("client_id")?;
        }
        if has("project_id") {
            f.project_id = q.int("project_id")?;
        }
        if has("user_id") {
            f.user_id = q.int("user_id")?;
        }
        if has("task_id") {
            f.task_id = q.int("task_id")?;
        }
        if has("external_reference_id") {
            f.external_reference_id = q.get("external_reference_id").map(str::to_string);
        }
        if has("state") {
            f.state = q.get("state").map(str::to_string);
        }
        Ok(f)
    }

    /// `updated_since`: strictly later (Harvest returns nothing for an exact match).
    pub fn since(&self, updated_at: i64) -> bool {
        self.updated_since.is_none_or(|s| updated_at > s)
    }

    /// `from`/`to` on a date, both inclusive.
    pub fn in_range(&self, day: i32) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }

    /// `from`/`to` on an optional date: undated records match only an open range.
    pub fn in_range_opt(&self, day: Option<i32>) -> bool {
        match day {
            Some(d) => self.in_range(d),
            None => self.from.is_none() && self.to.is_none(),
        }
    }

    /// `is_active`.
    pub fn active(&self, is_active: bool) -> bool {
        self.is_active.is_none_or(|a| a == is_active)
    }
}

/// Equality on an optional filter.
pub fn matches<T: PartialEq>(filter: Option<T>, value: T) -> bool {
    filter.is_none_or(|f| f == value)
}
