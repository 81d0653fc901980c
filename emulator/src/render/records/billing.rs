//! Invoices and estimates with their line items, their messages, and payments.

use super::*;

fn line_items(w: &mut Json, ds: &Dataset, items: &[LineItem], with_project: bool) {
    w.key("line_items");
    w.open_array();
    for li in items {
        w.open();
        w.f_int("id", li.id);
        if with_project {
            if li.project == NONE {
                w.key("project");
                w.null();
            } else {
                project_ref(w, ds.projects.get(li.project), false);
            }
        }
        w.f_str("kind", li.kind);
        w.f_str("description", &li.description);
        w.f_cents("quantity", li.quantity);
        w.f_cents_opt("unit_price", li.unit_price);
        w.f_cents("amount", li.amount);
        w.f_bool("taxed", li.taxed);
        w.f_bool("taxed2", li.taxed2);
        w.close();
    }
    w.close_array();
}

fn opt_float(w: &mut Json, name: &str, v: Option<f64>) {
    w.key(name);
    match v {
        Some(v) => w.float(v),
        None => w.null(),
    }
}

/// An invoice with embedded line items.
pub fn invoice(w: &mut Json, ds: &Dataset, ix: Ix) {
    let inv = ds.invoices.get(ix);
    w.open();
    w.f_int("id", inv.id);
    client_ref(w, ds.clients.get(inv.client), false);
    line_items(w, ds, &inv.line_items, true);
    w.key("estimate");
    if inv.estimate == NONE {
        w.null();
    } else {
        w.open();
        w.f_int("id", ds.estimates.get(inv.estimate).id);
        w.close();
    }
    w.key("retainer");
    match inv.retainer_id {
        Some(id) => {
            w.open();
            w.f_int("id", id);
            w.close();
        }
        None => w.null(),
    }
    creator_ref(w, ds, inv.creator);
    w.f_str("client_key", &inv.client_key);
    w.f_str("number", &inv.number);
    w.f_str_opt("purchase_order", inv.purchase_order.as_deref());
    w.f_cents("amount", inv.amount);
    w.f_cents("due_amount", inv.due_amount);
    opt_float(w, "tax", inv.tax);
    w.f_cents_opt("tax_amount", inv.tax_amount);
    opt_float(w, "tax2", inv.tax2);
    w.f_cents_opt("tax2_amount", inv.tax2_amount);
    opt_float(w, "discount", inv.discount);
    w.f_cents("discount_amount", inv.discount_amount);
    w.f_str_opt("subject", inv.subject.as_deref());
    w.f_str_opt("notes", inv.notes.as_deref());
    w.f_str("currency", inv.currency);
    w.f_str("state", &inv.state);
    w.f_date_opt("period_start", inv.period_start);
    w.f_date_opt("period_end", inv.period_end);
    w.f_date_opt("issue_date", inv.issue_date);
    w.f_date_opt("due_date", inv.due_date);
    w.f_str("payment_term", inv.payment_term);
    if let Some(options) = &inv.payment_options {
        f_strs(w, "payment_options", options);
    }
    w.f_datetime_opt("sent_at", inv.sent_at);
    w.f_datetime_opt("paid_at", inv.paid_at);
    w.f_date_opt("paid_date", inv.paid_date);
    w.f_datetime_opt("closed_at", inv.closed_at);
    w.f_int_opt("recurring_invoice_id", inv.recurring_invoice_id);
    w.f_stamps(inv.created_at, inv.updated_at);
    w.close();
}

/// An estimate with embedded line items.
pub fn estimate(w: &mut Json, ds: &Dataset, ix: Ix) {
    let e = ds.estimates.get(ix);
    w.open();
    w.f_int("id", e.id);
    client_ref(w, ds.clients.get(e.client), false);
    line_items(w, ds, &e.line_items, false);
    creator_ref(w, ds, e.creator);
    w.f_str("client_key", &e.client_key);
    w.f_str("number", &e.number);
    w.f_str_opt("purchase_order", e.purchase_order.as_deref());
    w.f_cents("amount", e.amount);
    opt_float(w, "tax", e.tax);
    w.f_cents_opt("tax_amount", e.tax_amount);
    opt_float(w, "tax2", e.tax2);
    w.f_cents_opt("tax2_amount", e.tax2_amount);
    opt_float(w, "discount", e.discount);
    w.f_cents("discount_amount", e.discount_amount);
    w.f_str_opt("subject", e.subject.as_deref());
    w.f_str_opt("notes", e.notes.as_deref());
    w.f_str("currency", e.currency);
    w.f_str("state", &e.state);
    w.f_date_opt("issue_date", e.issue_date);
    w.f_datetime_opt("sent_at", e.sent_at);
    w.f_datetime_opt("accepted_at", e.accepted_at);
    w.f_datetime_opt("declined_at", e.declined_at);
    w.f_stamps(e.created_at, e.updated_at);
    w.close();
}

fn message_head(w: &mut Json, m: &Message) {
    w.f_int("id", m.id);
    w.f_str("sent_by", &m.sent_by);
    w.f_str("sent_by_email", &m.sent_by_email);
    w.f_str("sent_from", &m.sent_from);
    w.f_str("sent_from_email", &m.sent_from_email);
    w.key("recipients");
    w.open_array();
    for r in &m.recipients {
        w.open();
        w.f_str("name", &r.name);
        w.f_str_opt("email", r.email.as_deref());
        w.close();
    }
    w.close_array();
    w.f_str_opt("subject", m.subject.as_deref());
    w.f_str("body", &m.body);
}

/// An invoice message.
pub fn invoice_message(w: &mut Json, ds: &Dataset, ix: Ix) {
    let m = ds.invoice_messages.get(ix);
    w.open();
    message_head(w, m);
    w.f_bool(
        "include_link_to_client_invoice",
        m.include_link_to_client_invoice,
    );
    w.f_bool("attach_pdf", m.attach_pdf);
    w.f_bool("send_me_a_copy", m.send_me_a_copy);
    w.f_bool("thank_you", m.thank_you);
    w.f_str_opt("event_type", m.event_type);
    w.f_bool("reminder", m.reminder);
    w.f_date_opt("send_reminder_on", m.send_reminder_on);
    w.f_stamps(m.created_at, m.updated_at);
    w.close();
}

/// An estimate message.
pub fn estimate_message(w: &mut Json, ds: &Dataset, ix: Ix) {
    let m = ds.estimate_messages.get(ix);
    w.open();
    message_head(w, m);
    w.f_bool("send_me_a_copy", m.send_me_a_copy);
    w.f_str_opt("event_type", m.event_type);
    w.f_stamps(m.created_at, m.updated_at);
    w.close();
}

/// An invoice payment.
pub fn invoice_payment(w: &mut Json, ds: &Dataset, ix: Ix) {
    let p = ds.invoice_payments.get(ix);
    w.open();
    w.f_int("id", p.id);
    w.f_cents("amount", p.amount);
    w.f_datetime_opt("paid_at", p.paid_at);
    w.f_date_opt("paid_date", p.paid_date);
    w.f_str("recorded_by", &p.recorded_by);
    w.f_str_opt("recorded_by_email", p.recorded_by_email.as_deref());
    w.f_str_opt("notes", p.notes.as_deref());
    w.f_str_opt("transaction_id", p.transaction_id.as_deref());
    w.key("payment_gateway");
    match p.payment_gateway {
        Some((id, name)) => {
            w.open();
            w.f_int_opt("id", id);
            w.f_str_opt("name", name);
            w.close();
        }
        None => w.null(),
    }
    w.f_stamps(p.created_at, p.updated_at);
    w.close();
}
