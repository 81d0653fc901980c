//! What a change to a child record does to its parent, as Harvest does it. The control API
//! applies this after every create, update and delete of a child unless told not to
//! (`bump_parent: false`), so a connector's tests can make both kinds of change.

use super::model::*;
use super::mutate::Stream;
use super::{Dataset, Row, Table};
use crate::time::DAY;

/// Invoice message events (Harvest's `event_type`): each changes the invoice's state.
pub const INVOICE_EVENTS: &[&str] = &["close", "draft", "re-open", "send"];
/// Estimate message events; `view` and `invoice` record what happened without changing state.
pub const ESTIMATE_EVENTS: &[&str] = &["accept", "decline", "invoice", "re-open", "send", "view"];

/// Stamps a parent changed now and forgets overrides of the fields its child's change decides,
/// so the stored values are served.
fn touch_parent<T: Row>(table: &mut Table<T>, ix: Ix, decided: &[&str], now: i64) {
    if let Some(ov) = table.overrides.get_mut(&ix) {
        for key in decided.iter().chain(&["updated_at"]) {
            ov.remove(*key);
        }
    }
    let row = table.get_mut(ix);
    row.set_stamps(row.created_at(), now.max(row.updated_at()));
    table.reposition(ix);
}

/// What Harvest does to an invoice when one of its payments is recorded, changed or deleted:
/// `due_amount` is what the live payments leave unpaid; fully paid, the invoice is `paid` as of
/// its latest payment; no longer fully paid, a paid invoice is `open` again.
fn settle_invoice(ds: &mut Dataset, invoice: Ix) {
    let (paid, latest) = ds
        .invoice_payments
        .iter_live()
        .filter(|(_, p)| p.invoice == invoice)
        .fold((0, None::<&Payment>), |(sum, latest), (_, p)| {
            let later = latest.is_none_or(|l| {
                p.paid_at.unwrap_or(p.created_at) >= l.paid_at.unwrap_or(l.created_at)
            });
            (sum + p.amount, if later { Some(p) } else { latest })
        });
    let paid_at = latest.map(|p| p.paid_at.unwrap_or(p.created_at));
    let paid_date = latest
        .and_then(|p| p.paid_date)
        .or(paid_at.map(|t| (t / DAY) as i32));
    let now = ds.clock.now_secs();
    let inv = ds.invoices.get_mut(invoice);
    inv.due_amount = (inv.amount - paid).max(0);
    if inv.due_amount == 0 && latest.is_some() {
        inv.state = "paid".into();
        inv.paid_at = paid_at;
        inv.paid_date = paid_date;
    } else if inv.state == "paid" {
        inv.state = "open".into();
        inv.paid_at = None;
        inv.paid_date = None;
    }
    touch_parent(
        &mut ds.invoices,
        invoice,
        &["due_amount", "state", "paid_at", "paid_date"],
        now,
    );
}

/// An invoice message's event applied to its invoice (every invoice event changes state).
fn invoice_event(ds: &mut Dataset, invoice: Ix, event: &str) {
    let now = ds.clock.now_secs();
    let inv = ds.invoices.get_mut(invoice);
    match event {
        "send" => {
            if inv.state == "draft" {
                inv.state = "open".into();
            }
            inv.sent_at = inv.sent_at.or(Some(now));
        }
        "close" => {
            inv.state = "closed".into();
            inv.closed_at = Some(now);
        }
        "re-open" => {
            inv.state = if inv.due_amount == 0 { "paid" } else { "open" }.into();
            inv.closed_at = None;
        }
        _ => {
            inv.state = "draft".into();
            inv.sent_at = None;
        }
    }
    touch_parent(
        &mut ds.invoices,
        invoice,
        &["state", "sent_at", "closed_at"],
        now,
    );
}

/// An estimate message's event applied to its estimate; `view` and `invoice` change nothing.
fn estimate_event(ds: &mut Dataset, estimate: Ix, event: &str) {
    let now = ds.clock.now_secs();
    let e = ds.estimates.get_mut(estimate);
    match event {
        "send" => {
            if e.state == "draft" {
                e.state = "sent".into();
            }
            e.sent_at = e.sent_at.or(Some(now));
        }
        "accept" => {
            e.state = "accepted".into();
            e.accepted_at = Some(now);
            e.declined_at = None;
        }
        "decline" => {
            e.state = "declined".into();
            e.declined_at = Some(now);
            e.accepted_at = None;
        }
        "re-open" => {
            e.state = "sent".into();
            e.accepted_at = None;
            e.declined_at = None;
        }
        _ => return,
    }
    touch_parent(
        &mut ds.estimates,
        estimate,
        &["state", "sent_at", "accepted_at", "declined_at"],
        now,
    );
}

/// What a change to child row `ix` of `stream` does to its parent, as Harvest does it: any
/// payment change settles its invoice; a message whose `event_type` was just set runs that
/// event on its invoice or estimate (a plain message, or a deleted one, changes nothing); rates
/// never touch their user.
pub fn bump_parent(ds: &mut Dataset, stream: Stream, ix: Ix, event_set: bool) {
    match stream {
        Stream::InvoicePayments => {
            let invoice = ds.invoice_payments.get(ix).invoice;
            settle_invoice(ds, invoice);
        }
        Stream::InvoiceMessages if event_set => {
            let m = ds.invoice_messages.get(ix);
            if let Some(event) = m.event_type {
                invoice_event(ds, m.parent, event);
            }
        }
        Stream::EstimateMessages if event_set => {
            let m = ds.estimate_messages.get(ix);
            if let Some(event) = m.event_type {
                estimate_event(ds, m.parent, event);
            }
        }
        _ => return,
    }
    ds.touch();
}
