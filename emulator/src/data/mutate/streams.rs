//! The one table of the streams the control API can change: each stream's name, its table in the
//! dataset, its renderer and its parent. Everything that names mutable streams (the public list,
//! the child streams `bump_parent` applies to, the dispatch of a create or update, the tables a
//! deletion reaches) is derived from it, so a stream cannot be in one and missing from another.
//!
//! Not the API's `List` enum: that one enumerates endpoints (nested lists, `teammates`, the
//! project assignments derived from user assignments); this one the tables behind connector
//! streams.

use std::collections::BTreeSet;

use super::fields::Mutable;
use crate::data::model::{Ix, Rate};
use crate::data::{Dataset, Row, Table};
use crate::render::json::Json;
use crate::render::records;

/// Declares [`Stream`] and [`Stream::ALL`] from one list of variants, so no stream can be left
/// out of `ALL` (and so out of the names, the errors and the deletions derived from it).
macro_rules! streams {
    ($($variant:ident),* $(,)?) => {
        /// A connector stream whose records the control API can create, update and delete.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Stream {
            $($variant),*
        }

        impl Stream {
            /// Every mutable stream, in the order of their names: the order the unknown-stream
            /// error lists them in.
            pub const ALL: &[Stream] = &[$(Stream::$variant),*];
        }
    };
}

streams!(
    BillableRates,
    Clients,
    Contacts,
    CostRates,
    EstimateItemCategories,
    EstimateMessages,
    Estimates,
    ExpenseCategories,
    Expenses,
    InvoiceItemCategories,
    InvoiceMessages,
    InvoicePayments,
    Invoices,
    Projects,
    Roles,
    TaskAssignments,
    Tasks,
    TimeEntries,
    UserAssignments,
    Users,
);

/// How to reach one stream's rows: its table, its renderer and, for a child stream, its parent.
pub(super) struct Access<T> {
    /// The stream's table in the dataset.
    pub table: fn(&mut Dataset) -> &mut Table<T>,
    /// Renders row `ix` as the API serves it (without control API overrides).
    pub render: fn(&mut Json, &Dataset, Ix),
    /// The parent stream and the row's link to it, for a stream whose records have a parent.
    pub parent: Option<Parent<T>>,
}

/// A child stream's parent: which stream, and the field of the child row that holds the parent's
/// row index.
pub(super) struct Parent<T> {
    /// The parent stream (`parent_id` in the control API names one of its records).
    pub stream: Stream,
    /// The child row's parent row index.
    pub link: fn(&mut T) -> &mut Ix,
}

impl<T> Access<T> {
    fn of(table: fn(&mut Dataset) -> &mut Table<T>, render: fn(&mut Json, &Dataset, Ix)) -> Self {
        Access {
            table,
            render,
            parent: None,
        }
    }

    fn child(self, stream: Stream, link: fn(&mut T) -> &mut Ix) -> Self {
        Access {
            parent: Some(Parent { stream, link }),
            ..self
        }
    }
}

/// Something done with one stream's [`Access`], whatever its row type: how code outside the
/// table reaches a stream's typed rows without matching on streams itself.
pub(super) trait Visit {
    /// What the visit gives back.
    type Out;
    /// Does it with the stream's access.
    fn visit<T: Mutable>(self, access: Access<T>) -> Self::Out;
}

impl Stream {
    /// The stream's name, as the connector and the control API's paths spell it.
    pub const fn name(self) -> &'static str {
        use Stream::*;
        match self {
            BillableRates => "billable_rates",
            Clients => "clients",
            Contacts => "contacts",
            CostRates => "cost_rates",
            EstimateItemCategories => "estimate_item_categories",
            EstimateMessages => "estimate_messages",
            Estimates => "estimates",
            ExpenseCategories => "expense_categories",
            Expenses => "expenses",
            InvoiceItemCategories => "invoice_item_categories",
            InvoiceMessages => "invoice_messages",
            InvoicePayments => "invoice_payments",
            Invoices => "invoices",
            Projects => "projects",
            Roles => "roles",
            TaskAssignments => "task_assignments",
            Tasks => "tasks",
            TimeEntries => "time_entries",
            UserAssignments => "user_assignments",
            Users => "users",
        }
    }

    /// The names of [`Stream::ALL`], in its order (a `const` so the crate can export it as one).
    pub const NAMES: [&'static str; Stream::ALL.len()] = {
        let mut names = [""; Stream::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Stream::ALL[i].name();
            i += 1;
        }
        names
    };

    /// The stream called `name`, or the control API's error naming those it can change.
    pub fn parse(name: &str) -> Result<Stream, String> {
        Stream::ALL
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown stream {name:?}; mutable streams: {}",
                    Stream::NAMES.join(", ")
                )
            })
    }

    /// Hands the stream's [`Access`] to `visit`: the one place a stream meets its row type.
    pub(super) fn access<V: Visit>(self, visit: V) -> V::Out {
        use Stream::*;
        match self {
            BillableRates => visit.visit(
                Access::of(
                    |d| &mut d.billable_rates,
                    |w, d, ix| records::rate(w, &d.billable_rates, ix),
                )
                .child(Users, |r: &mut Rate| &mut r.user),
            ),
            Clients => visit.visit(Access::of(|d| &mut d.clients, records::client)),
            Contacts => visit.visit(Access::of(|d| &mut d.contacts, records::contact)),
            CostRates => visit.visit(
                Access::of(
                    |d| &mut d.cost_rates,
                    |w, d, ix| records::rate(w, &d.cost_rates, ix),
                )
                .child(Users, |r| &mut r.user),
            ),
            EstimateItemCategories => visit.visit(Access::of(
                |d| &mut d.estimate_item_categories,
                records::estimate_item_category,
            )),
            EstimateMessages => visit.visit(
                Access::of(|d| &mut d.estimate_messages, records::estimate_message)
                    .child(Estimates, |m| &mut m.parent),
            ),
            Estimates => visit.visit(Access::of(|d| &mut d.estimates, records::estimate)),
            ExpenseCategories => visit.visit(Access::of(
                |d| &mut d.expense_categories,
                records::expense_category,
            )),
            Expenses => visit.visit(Access::of(|d| &mut d.expenses, records::expense)),
            InvoiceItemCategories => visit.visit(Access::of(
                |d| &mut d.invoice_item_categories,
                records::invoice_item_category,
            )),
            InvoiceMessages => visit.visit(
                Access::of(|d| &mut d.invoice_messages, records::invoice_message)
                    .child(Invoices, |m| &mut m.parent),
            ),
            InvoicePayments => visit.visit(
                Access::of(|d| &mut d.invoice_payments, records::invoice_payment)
                    .child(Invoices, |p| &mut p.invoice),
            ),
            Invoices => visit.visit(Access::of(|d| &mut d.invoices, records::invoice)),
            Projects => visit.visit(Access::of(|d| &mut d.projects, records::project)),
            Roles => visit.visit(Access::of(|d| &mut d.roles, records::role)),
            TaskAssignments => visit.visit(Access::of(
                |d| &mut d.task_assignments,
                records::task_assignment,
            )),
            Tasks => visit.visit(Access::of(|d| &mut d.tasks, records::task)),
            TimeEntries => visit.visit(Access::of(|d| &mut d.time_entries, records::time_entry)),
            UserAssignments => visit.visit(Access::of(
                |d| &mut d.user_assignments,
                records::user_assignment,
            )),
            Users => visit.visit(Access::of(|d| &mut d.users, records::user)),
        }
    }

    /// The stream whose records this one's records belong to (`parent_id`), if any.
    pub fn parent(self) -> Option<Stream> {
        struct ParentOf;
        impl Visit for ParentOf {
            type Out = Option<Stream>;
            fn visit<T: Mutable>(self, access: Access<T>) -> Option<Stream> {
                access.parent.map(|p| p.stream)
            }
        }
        self.access(ParentOf)
    }

    /// The streams with a parent, which `bump_parent` applies to, in name order.
    pub fn children() -> impl Iterator<Item = Stream> {
        Stream::ALL.iter().copied().filter(|s| s.parent().is_some())
    }

    /// The stream's table, whatever its row type, for what needs only ids and rows.
    pub fn records(self, ds: &mut Dataset) -> &mut dyn Records {
        struct TableOf<'d>(&'d mut Dataset);
        impl<'d> Visit for TableOf<'d> {
            type Out = &'d mut dyn Records;
            fn visit<T: Mutable>(self, access: Access<T>) -> Self::Out {
                (access.table)(self.0)
            }
        }
        self.access(TableOf(ds))
    }
}

/// What a deletion or a parent lookup needs of a stream's table, without its row type.
pub trait Records {
    /// The live row with record id `id`.
    fn find(&self, id: i64) -> Option<Ix>;
    /// The record id of row `ix`.
    fn id_of(&self, ix: Ix) -> i64;
    /// Hides rows `ixs` (deleted), as [`Table::hide_all`] does.
    fn hide_all(&mut self, ixs: &BTreeSet<Ix>);
}

impl<T: Row> Records for Table<T> {
    fn find(&self, id: i64) -> Option<Ix> {
        Table::find(self, id)
    }

    fn id_of(&self, ix: Ix) -> i64 {
        self.get(ix).id()
    }

    fn hide_all(&mut self, ixs: &BTreeSet<Ix>) {
        Table::hide_all(self, ixs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_in_order_and_parse_back() {
        assert!(Stream::NAMES.windows(2).all(|w| w[0] < w[1]));
        for &s in Stream::ALL {
            assert_eq!(Stream::parse(s.name()), Ok(s));
        }
    }

    #[test]
    fn an_unknown_stream_names_the_mutable_ones() {
        let e = Stream::parse("teammates").unwrap_err();
        assert!(e.starts_with("unknown stream \"teammates\"; mutable streams: billable_rates, "));
        assert!(e.ends_with(", users"), "{e}");
    }

    #[test]
    fn the_readme_lists_the_mutable_streams() {
        let readme = include_str!("../../../README.md");
        let list = readme
            .split_once("Mutable streams: ")
            .and_then(|(_, rest)| rest.split_once('.'))
            .expect("README.md lists the mutable streams")
            .0;
        let listed: Vec<&str> = list.split(',').map(str::trim).collect();
        assert_eq!(listed, Stream::NAMES);
    }

    #[test]
    fn the_child_streams_are_the_rates_messages_and_payments() {
        let children: Vec<&str> = Stream::children().map(Stream::name).collect();
        assert_eq!(
            children,
            [
                "billable_rates",
                "cost_rates",
                "estimate_messages",
                "invoice_messages",
                "invoice_payments"
            ]
        );
    }
}
