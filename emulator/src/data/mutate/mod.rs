//! Create, update and delete records while the emulator serves, as the control API needs.
//!
//! One job per file: `streams` is the table of the streams that can change (name, table,
//! renderer, parent), `fields` the per-record field setters, `engine` the generic create and
//! update; this file holds the control options every operation shares (`bump_parent`, a
//! message's `event_type`, a role's `user_ids`) and the public entry points.

mod engine;
mod fields;
mod streams;

use serde_json::Value;

use super::deletion::{self, Deletion};
use super::model::Ix;
use super::parents::{bump_parent, ESTIMATE_EVENTS, INVOICE_EVENTS};
use super::Dataset;
use engine::Op;
pub use streams::Stream;

/// Replaces a role's members with the users `user_ids` names (as Harvest's update does), taking
/// the field out of `fields`: a role holds its users by index, which only the dataset knows.
fn set_role_members(ds: &mut Dataset, id: i64, fields: &mut Value) -> Result<(), String> {
    let Some(ids) = fields.as_object_mut().and_then(|f| f.remove("user_ids")) else {
        return Ok(());
    };
    let Some(role) = ds.roles.find(id) else {
        return Ok(());
    };
    let users = ids
        .as_array()
        .ok_or_else(|| format!("user_ids: expected an array of user ids, got {ids}"))?
        .iter()
        .map(|v| {
            v.as_i64()
                .and_then(|user| ds.users.find(user))
                .ok_or_else(|| format!("user_ids: {v} is not a live user"))
        })
        .collect::<Result<Vec<Ix>, String>>()?;
    ds.roles.get_mut(role).users = users;
    Ok(())
}

/// Takes the control option `"bump_parent"` out of `fields` (default `true`): whether a child
/// change also changes its parent as Harvest would, or leaves it untouched. A malformed option
/// is refused before the stream's name is checked, as it always was.
fn take_bump_parent(stream: &str, fields: &Value) -> Result<(Stream, Value, bool), String> {
    let mut fields = fields.clone();
    let bump = match fields.as_object_mut().and_then(|m| m.remove("bump_parent")) {
        None => true,
        Some(v) => v.as_bool().ok_or("bump_parent must be true or false")?,
    };
    let stream = Stream::parse(stream)?;
    check_child(stream, bump)?;
    Ok((stream, fields, bump))
}

/// Refuses `bump_parent: false` on a stream without parents: a test that means to leave a parent
/// untouched names a stream that has one.
fn check_child(stream: Stream, bump: bool) -> Result<(), String> {
    if bump || stream.parent().is_some() {
        return Ok(());
    }
    let children: Vec<&str> = Stream::children().map(Stream::name).collect();
    Err(format!(
        "{} has no parent; bump_parent applies to {}",
        stream.name(),
        children.join(", ")
    ))
}

/// Refuses an `event_type` the stream's messages cannot have, before any row changes.
fn check_event_type(stream: Stream, fields: &Value) -> Result<(), String> {
    let events = match stream {
        Stream::InvoiceMessages => INVOICE_EVENTS,
        Stream::EstimateMessages => ESTIMATE_EVENTS,
        _ => return Ok(()),
    };
    match fields.get("event_type") {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_str().is_some_and(|s| events.contains(&s)) => Ok(()),
        Some(v) => Err(format!(
            "event_type {v} is not one of {}'s: {} (or null)",
            stream.name(),
            events.join(", ")
        )),
    }
}

/// Creates a record modelled on the stream's newest one, with `fields` applied. Child streams
/// take `"parent_id"` (the invoice, estimate or user id) and default to the newest row's parent;
/// their parent changes as Harvest's would unless `"bump_parent": false`.
pub fn create(ds: &mut Dataset, stream: &str, fields: &Value) -> Result<Value, String> {
    let (stream, fields, bump) = take_bump_parent(stream, fields)?;
    check_event_type(stream, &fields)?;
    let done = engine::run(ds, stream, Op::Create(&fields))?;
    let ix = done.ix.ok_or("create made no record")?;
    if bump {
        bump_parent(ds, stream, ix, true);
    }
    done.record.ok_or_else(|| "create made no record".into())
}

/// Updates a record (bumping `updated_at`, and its parent's as [`create`] does unless
/// `"bump_parent": false`); `Ok(None)` if the id is unknown.
pub fn update(
    ds: &mut Dataset,
    stream: &str,
    id: i64,
    fields: &Value,
) -> Result<Option<Value>, String> {
    let (stream, mut fields, bump) = take_bump_parent(stream, fields)?;
    check_event_type(stream, &fields)?;
    if stream == Stream::Roles {
        set_role_members(ds, id, &mut fields)?;
    }
    let done = engine::run(ds, stream, Op::Update(id, &fields))?;
    if let (Some(ix), true) = (done.ix, bump) {
        bump_parent(ds, stream, ix, fields.get("event_type").is_some());
    }
    Ok(done.record)
}

/// Deletes a record as Harvest does (see [`super::deletion`]): refused with Harvest's message
/// while records still need it, else taking its dependents with it, and changing its parent as
/// Harvest would unless `bump_parent` is false. `Ok(None)` if the id is unknown.
pub fn delete(
    ds: &mut Dataset,
    stream: &str,
    id: i64,
    bump_parent_too: bool,
) -> Result<Option<Deletion>, String> {
    let stream = Stream::parse(stream)?;
    check_child(stream, bump_parent_too)?;
    let Some((ix, done)) = deletion::delete(ds, stream, id)? else {
        return Ok(None);
    };
    if bump_parent_too {
        bump_parent(ds, stream, ix, false);
    }
    Ok(Some(done))
}
