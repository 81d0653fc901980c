//! The generic create and update of a stream's record: one engine for every stream, reaching
//! the stream's rows through its [`Access`].
//!
//! Fields that the row stores (see `fields`) are written into it; any other field of the
//! record's shape is kept as an override and spliced into the rendered JSON verbatim. A field
//! the record does not have is refused.

use serde_json::{Map, Value};

use super::fields::Mutable;
use super::streams::{Access, Stream, Visit};
use crate::data::model::Ix;
use crate::data::{Dataset, Row};
use crate::render::json::Json;
use crate::render::patch;
use crate::time;

/// A change to one stream's records.
pub(super) enum Op<'a> {
    /// A new record modelled on the newest one (of the parent `parent_id` names, if any), with
    /// these fields.
    Create(&'a Value),
    /// These fields of the record with this id.
    Update(i64, &'a Value),
}

/// What an operation did: the row it touched (none for an unknown id) and the record as served
/// afterwards.
pub(super) struct Done {
    /// The row created or updated.
    pub ix: Option<Ix>,
    /// The record as the API now serves it.
    pub record: Option<Value>,
}

/// Runs `op` on `stream`'s records.
pub(super) fn run(ds: &mut Dataset, stream: Stream, op: Op<'_>) -> Result<Done, String> {
    struct Run<'d, 'o>(&'d mut Dataset, Op<'o>);
    impl Visit for Run<'_, '_> {
        type Out = Result<Done, String>;
        fn visit<T: Mutable>(self, a: Access<T>) -> Self::Out {
            let Run(ds, op) = self;
            match op {
                Op::Create(f) => {
                    let (record, ix) = create_in(ds, &a, f)?;
                    Ok(Done {
                        ix: Some(ix),
                        record: Some(record),
                    })
                }
                Op::Update(id, f) => {
                    let ix = update_in(ds, &a, id, f)?;
                    let record = ix.map(|ix| rendered(ds, &a, ix));
                    Ok(Done { ix, record })
                }
            }
        }
    }
    stream.access(Run(ds, op))
}

/// Row `ix` as the API serves it, overrides included.
fn rendered<T: Row>(ds: &mut Dataset, a: &Access<T>, ix: Ix) -> Value {
    let mut w = Json::with_capacity(2048);
    (a.render)(&mut w, ds, ix);
    let overrides = (a.table)(ds).overrides.get(&ix).cloned();
    let bytes = match overrides {
        Some(ov) => patch::apply_overrides(&w.buf, &ov),
        None => w.buf,
    };
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Applies `fields` to row `ix`: typed fields into the row, others into overrides. Bumps
/// `updated_at` to now unless the fields set it.
fn apply_fields<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    ix: Ix,
    fields: &Map<String, Value>,
) -> Result<(), String> {
    let mut probe = Json::with_capacity(2048);
    (a.render)(&mut probe, ds, ix);
    let allowed = patch::keys(&probe.buf);
    for key in fields.keys() {
        if key == "id" {
            return Err("id cannot be changed".into());
        }
        if key != "parent_id" && !allowed.iter().any(|k| k == key) {
            return Err(format!(
                "unknown field {key:?}; fields: {}",
                allowed.join(", ")
            ));
        }
    }
    let now = ds.clock.now_secs();
    let table = (a.table)(ds);
    let mut row = table.get(ix).clone();
    let mut extra = Map::new();
    for (key, v) in fields {
        match key.as_str() {
            "parent_id" => {}
            "created_at" | "updated_at" => {
                let secs = v
                    .as_str()
                    .and_then(time::parse_datetime)
                    .ok_or_else(|| format!("{key}: expected a datetime, got {v}"))?;
                if key == "created_at" {
                    row.set_stamps(secs, row.updated_at());
                } else {
                    row.set_stamps(row.created_at(), secs);
                }
            }
            _ => {
                if !row.apply(key, v)? {
                    extra.insert(key.clone(), v.clone());
                }
            }
        }
    }
    if !fields.contains_key("updated_at") {
        row.set_stamps(row.created_at(), now.max(row.updated_at()));
    }
    *table.get_mut(ix) = row;
    if !extra.is_empty() {
        table.overrides.entry(ix).or_default().extend(extra);
    }
    table.reposition(ix);
    ds.touch();
    Ok(())
}

fn fields_of(fields: &Value) -> Result<Map<String, Value>, String> {
    match fields {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err("fields must be a JSON object".into()),
    }
}

fn create_in<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    fields: &Value,
) -> Result<(Value, Ix), String> {
    let fields = fields_of(fields)?;
    let parent = match (&a.parent, fields.get("parent_id")) {
        (Some(parent), Some(v)) => {
            let id = v.as_i64().ok_or("parent_id must be an integer")?;
            let ix = parent.stream.records(ds).find(id);
            Some((
                parent.link,
                ix.ok_or_else(|| format!("no parent with id {id}"))?,
            ))
        }
        (None, Some(_)) => return Err("this stream has no parent".into()),
        _ => None,
    };
    let now = ds.clock.now_secs();
    let table = (a.table)(ds);
    // The newest row of the parent, else the newest row: `rposition` because the link reads the
    // parent through `&mut`.
    let template = parent
        .and_then(|(link, p)| table.rows.iter_mut().rposition(|r| *link(r) == p))
        .or_else(|| table.rows.len().checked_sub(1))
        .ok_or("the stream has no row to model a new one on")?;
    let mut row = table.rows[template].clone();
    if let Some((link, p)) = parent {
        *link(&mut row) = p;
    }
    row.set_id(table.next_id());
    row.set_stamps(now, now);
    row.fresh(now);
    row.place(ds)?;
    let ix = (a.table)(ds).push(row);
    let table = (a.table)(ds);
    table.overrides.remove(&ix);
    ds.touch();
    if let Err(e) = apply_fields(ds, a, ix, &fields) {
        (a.table)(ds).hide(ix);
        return Err(e);
    }
    Ok((rendered(ds, a, ix), ix))
}

fn update_in<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    id: i64,
    fields: &Value,
) -> Result<Option<Ix>, String> {
    let fields = fields_of(fields)?;
    let Some(ix) = (a.table)(ds).find(id) else {
        return Ok(None);
    };
    apply_fields(ds, a, ix, &fields)?;
    Ok(Some(ix))
}
