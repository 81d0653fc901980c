//! What Harvest holds, as the tests judge the connector by it: the emulator's records read
//! through its API page by page, every stream in the shape a full sync from the config's start
//! date must deliver (children with `parent_id`, derived rows built here from their source
//! records, report rows per window of the grid), keyed as a destination keys them. Never
//! another run of the connector.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use harvest_emulator::{Emulator, ACCOUNT_ID, PERSONAL_ACCESS_TOKEN};
use reqwest::blocking::Client;
use serde_json::{json, Map, Value};
use source_harvest::streams::{ChildRecords, Derived, Kind, Rows, StreamDef, STREAMS};

use crate::resilience::{record_key, Keyed};

/// The emulator's API as the tests list it: every page, no `updated_since`.
pub struct Api {
    http: Client,
    /// The API's base URL (`http://127.0.0.1:…/v2`).
    pub base: String,
}

impl Api {
    /// A client of `emu`'s API, with the emulator's token.
    pub fn new(emu: &Emulator) -> Api {
        Api {
            http: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: emu.api_url(),
        }
    }

    /// GETs `url`, which must answer 200 with JSON.
    pub fn get(&self, url: &str) -> Value {
        self.get_or_422(url, false)
    }

    /// GETs `url`; with `none_on_422`, a 422 (a parent that cannot have any, as
    /// [`ChildRecords::Shared`] says) is `null`.
    fn get_or_422(&self, url: &str, none_on_422: bool) -> Value {
        let r = self
            .http
            .get(url)
            .header("User-Agent", "source-harvest tests (tests@example.com)")
            .bearer_auth(PERSONAL_ACCESS_TOKEN)
            .header("Harvest-Account-Id", ACCOUNT_ID)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status();
        let body = r.text().expect("a body");
        if none_on_422 && status == 422 {
            return Value::Null;
        }
        assert_eq!(status, 200, "GET {url}: {body:.300}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Every record of a list (pages of 2000), following `links.next`.
    pub fn all(&self, path_and_query: &str, key: &str) -> Vec<Value> {
        self.all_of(path_and_query, key, false)
    }

    /// [`Api::all`], a 422 read as no records when `none_on_422`.
    pub fn all_of(&self, path_and_query: &str, key: &str, none_on_422: bool) -> Vec<Value> {
        let join = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut out = Vec::new();
        let mut next = Some(format!("{}{path_and_query}{join}per_page=2000", self.base));
        while let Some(url) = next {
            let page = self.get_or_422(&url, none_on_422);
            if page.is_null() {
                break;
            }
            out.extend(page[key].as_array().expect("an envelope").iter().cloned());
            next = page["links"]["next"].as_str().map(str::to_string);
        }
        out
    }
}

/// The records of `path_and_query` (every page) as the emulator serves them.
pub fn served_records(emu: &Emulator, path_and_query: &str, key: &str) -> Vec<Value> {
    Api::new(emu).all(path_and_query, key)
}

fn def(stream: &str) -> &'static StreamDef {
    source_harvest::streams::find(stream).expect("a known stream")
}

/// Records per stream, keyed as the destination keys them.
pub type Tables = BTreeMap<String, BTreeMap<String, Value>>;

/// The emulator's records of every entity and child stream, and the company, as a full sync
/// reads them.
pub fn current(api: &Api) -> Tables {
    let mut parents: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut out = Tables::new();
    for def in STREAMS.iter() {
        let records = match def.kind {
            Kind::Single => vec![api.get(&format!("{}{}", api.base, def.path))],
            Kind::List { .. } => api.all(def.path, def.records_key),
            Kind::Child {
                parent,
                records: whose,
                ..
            } => {
                let ids = parents.entry(parent).or_insert_with(|| {
                    let p = self::def(parent);
                    api.all(p.path, p.records_key)
                        .iter()
                        .map(|r| r["id"].as_i64().expect("an id"))
                        .collect()
                });
                let mut records = Vec::new();
                for id in ids.iter() {
                    let path = def.path.replace("{id}", &id.to_string());
                    let shared = whose == ChildRecords::Shared;
                    for mut r in api.all_of(&path, def.records_key, shared) {
                        r.as_object_mut()
                            .expect("a record")
                            .insert("parent_id".into(), json!(id));
                        records.push(r);
                    }
                }
                records
            }
            Kind::Report { .. } | Kind::Derived(_) => continue,
        };
        out.insert(def.name.to_string(), keyed_by(def.name, records));
    }
    out
}

fn keyed_by(stream: &str, records: Vec<Value>) -> BTreeMap<String, Value> {
    records
        .into_iter()
        .map(|r| (record_key(stream, &r), r))
        .collect()
}

/// The rows `derived` takes from one source record, derived here from its text (not by the
/// connector's code): the added columns, then the row's own members.
pub fn derived_rows(derived: &Derived, source: &Value) -> Vec<Value> {
    let mut columns = Map::new();
    columns.insert(derived.source_id.into(), source["id"].clone());
    if let Some(name) = derived.source_parent_id {
        columns.insert(name.into(), source["parent_id"].clone());
    }
    columns.insert(derived.cursor.into(), source["updated_at"].clone());
    let row = |members: &Map<String, Value>| {
        let mut row = columns.clone();
        row.extend(members.clone());
        Value::Object(row)
    };
    match (derived.rows, &source[derived.field]) {
        (Rows::Objects, Value::Array(items)) => {
            items.iter().filter_map(Value::as_object).map(row).collect()
        }
        (Rows::Object, Value::Object(members)) => vec![row(members)],
        (Rows::Ids(name), Value::Array(ids)) => ids
            .iter()
            .filter(|id| id.is_i64())
            .map(|id| row(&Map::from_iter([(name.to_string(), id.clone())])))
            .collect(),
        _ => Vec::new(),
    }
}

/// The windows of a report grid: `days` days each from `start` up to the one holding `today`.
pub fn grid(start: NaiveDate, days: i64, today: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut windows = Vec::new();
    let mut from = start;
    while from <= today {
        let to = from + chrono::Duration::days(days - 1);
        windows.push((from, to));
        from = to + chrono::Duration::days(1);
    }
    windows
}

/// A report's rows for every window of the grid from `start` up to the one holding `today`,
/// each with the window's `from` and `to` (`YYYYMMDD`); a report without dates, whole.
pub fn report_rows(api: &Api, def: &StreamDef, start: NaiveDate, today: NaiveDate) -> Vec<Value> {
    let Kind::Report {
        window_days: Some(days),
        ..
    } = def.kind
    else {
        return api.all(def.path, def.records_key);
    };
    let mut rows = Vec::new();
    for (from, to) in grid(start, days, today) {
        let (from, to) = (from.format("%Y%m%d"), to.format("%Y%m%d"));
        let path = format!("{}?from={from}&to={to}", def.path);
        for mut row in api.all(&path, def.records_key) {
            let o = row.as_object_mut().expect("a row");
            o.insert("from".into(), json!(from.to_string()));
            o.insert("to".into(), json!(to.to_string()));
            rows.push(row);
        }
    }
    rows
}

/// The emulator's day.
pub fn today(emu: &Emulator) -> NaiveDate {
    NaiveDate::parse_from_str(&emu.now()[..10], "%Y-%m-%d").expect("the emulator's now")
}

/// The config's start date (see `common::config`).
pub fn default_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
}

/// What a full sync of `streams` from the start date [`default_start`] must deliver: every
/// record Harvest serves, keyed. Asserts Harvest serves something, so that a comparison with it
/// cannot pass on nothing.
pub fn harvest(emu: &Emulator, streams: &[&str]) -> Keyed {
    let api = Api::new(emu);
    let tables = current(&api);
    let today = today(emu);
    let mut out = Keyed::new();
    for &stream in streams {
        let def = def(stream);
        let records = match def.kind {
            Kind::Derived(derived) => {
                let rows = tables[derived.source]
                    .values()
                    .flat_map(|source| derived_rows(derived, source))
                    .collect();
                keyed_by(stream, rows)
            }
            Kind::Report { .. } => keyed_by(stream, report_rows(&api, def, default_start(), today)),
            _ => tables[stream].clone(),
        };
        out.insert(stream.to_string(), records);
    }
    let total: usize = out.values().map(BTreeMap::len).sum();
    assert!(total > 0, "the emulator serves records of {streams:?}");
    out
}
