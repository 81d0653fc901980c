//! The plan of a read: one job per selected stream, derived streams riding on their source's
//! read, and parents whose full read serves their children's listing first.

use crate::catalog::Selected;
use crate::protocol::SyncMode;
use crate::state::Position;
use crate::streams;

use super::parents::ParentCache;

/// One stream to read: its row and mode as the catalog selected it, where the state left it,
/// and the derived streams its records feed.
pub(super) struct Job {
    pub(super) sel: Selected,
    pub(super) position: Position,
    /// False when the stream is read only for its derived streams: its own records, statuses
    /// and STATEs are not written.
    pub(super) visible: bool,
    /// The derived streams served by this read, in the same mode and from the same position.
    pub(super) derived: Vec<Selected>,
}

impl Job {
    /// The streams whose messages this read writes.
    pub(super) fn streams(&self) -> Vec<&'static str> {
        let own = self.visible.then_some(self.sel.def.name);
        own.into_iter()
            .chain(self.derived.iter().map(|d| d.def.name))
            .collect()
    }
}

/// One job per selected stream, except that a derived stream rides on its source's job when
/// the source is selected in the same mode from the same position (zero extra requests), and
/// on a hidden read of its source otherwise (selected alone, or newly added next to a source
/// with a state of its own: the source is read again, from the derived stream's position).
pub(super) fn plan(selected: Vec<(Selected, Position)>) -> Vec<Job> {
    let (derived, direct): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|(sel, _)| sel.def.derived().is_some());
    let mut jobs: Vec<Job> = direct
        .into_iter()
        .map(|(sel, position)| Job {
            sel,
            position,
            visible: true,
            derived: Vec::new(),
        })
        .collect();
    for (sel, position) in derived {
        let source = streams::source(sel.def.derived().expect("partitioned"));
        let serves = |job: &&mut Job| {
            job.sel.def.name == source.name && job.sel.mode == sel.mode && job.position == position
        };
        if let Some(job) = jobs.iter_mut().find(serves) {
            job.derived.push(sel);
            continue;
        }
        if jobs
            .iter()
            .any(|job| job.visible && job.sel.def.name == source.name)
        {
            tracing::info!(
                "stream {} is read from its own pass over {}: their sync modes or states differ",
                sel.def.name,
                source.name
            );
        }
        jobs.push(Job {
            sel: Selected {
                def: source,
                mode: sel.mode,
                fields: None,
            },
            position,
            visible: false,
            derived: vec![sel],
        });
    }
    jobs
}

/// Lets the children of a parent stream this sync reads in full use that read's listing
/// instead of listing the parents again, and moves such parents to the front of the plan.
pub(super) fn plan_shared_listings(parents: &ParentCache, jobs: &mut [Job]) {
    let children_of =
        |name: &str, jobs: &[Job]| jobs.iter().any(|j| j.sel.def.parent() == Some(name));
    let in_full = |job: &Job| {
        job.position.resume.is_none()
            && (job.sel.mode == SyncMode::FullRefresh || job.position.updated_at.is_none())
    };
    let publishing: Vec<&'static str> = jobs
        .iter()
        .filter(|job| in_full(job) && children_of(job.sel.def.name, jobs))
        .map(|job| job.sel.def.name)
        .collect();
    for name in &publishing {
        parents.expect_from_stream(name);
    }
    jobs.sort_by_key(|job| !publishing.contains(&job.sel.def.name));
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn sel(name: &str, mode: SyncMode) -> Selected {
        Selected {
            def: streams::find(name).expect("a stream"),
            mode,
            fields: None,
        }
    }

    fn at(second: i64) -> Position {
        Position {
            updated_at: Some(Utc.timestamp_opt(second, 0).unwrap()),
            ..Position::default()
        }
    }

    /// Each job as (stream, visible, derived streams).
    fn shape(jobs: &[Job]) -> Vec<(&'static str, bool, Vec<&'static str>)> {
        jobs.iter()
            .map(|j| {
                let derived = j.derived.iter().map(|d| d.def.name).collect();
                (j.sel.def.name, j.visible, derived)
            })
            .collect()
    }

    #[test]
    fn a_derived_stream_rides_on_its_source_read_in_the_same_mode_from_the_same_state() {
        let jobs = plan(vec![
            (sel("invoices", SyncMode::Incremental), at(10)),
            (sel("invoice_line_items", SyncMode::Incremental), at(10)),
            (sel("clients", SyncMode::FullRefresh), Position::default()),
        ]);
        assert_eq!(
            shape(&jobs),
            [
                ("invoices", true, vec!["invoice_line_items"]),
                ("clients", true, vec![]),
            ]
        );
        assert_eq!(jobs[0].streams(), ["invoices", "invoice_line_items"]);
    }

    #[test]
    fn a_derived_stream_alone_or_out_of_step_gets_a_hidden_read_of_its_source() {
        // Alone: its source is read, not written.
        let alone = plan(vec![(sel("user_roles", SyncMode::Incremental), at(5))]);
        assert_eq!(shape(&alone), [("roles", false, vec!["user_roles"])]);
        assert_eq!(alone[0].streams(), ["user_roles"]);
        assert_eq!(alone[0].position, at(5), "from the derived stream's state");
        // Another mode, or another state than its source's: a pass of its own.
        for (mode, position) in [
            (SyncMode::FullRefresh, at(10)),
            (SyncMode::Incremental, at(20)),
        ] {
            let jobs = plan(vec![
                (sel("roles", SyncMode::Incremental), at(10)),
                (sel("user_roles", mode), position.clone()),
            ]);
            assert_eq!(
                shape(&jobs),
                [
                    ("roles", true, vec![]),
                    ("roles", false, vec!["user_roles"])
                ]
            );
            assert_eq!(jobs[1].sel.mode, mode);
            assert_eq!(jobs[1].position, position);
        }
    }

    #[test]
    fn a_parent_read_in_full_with_its_children_selected_goes_first_and_serves_their_listing() {
        let parents = ParentCache::default();
        let mut jobs = plan(vec![
            (sel("invoice_payments", SyncMode::Incremental), at(10)),
            (sel("clients", SyncMode::Incremental), Position::default()),
            (sel("invoices", SyncMode::Incremental), Position::default()),
            // Read incrementally from a state: it lists only what changed, so no one waits.
            (sel("users", SyncMode::Incremental), at(10)),
            (sel("project_assignments", SyncMode::Incremental), at(10)),
        ]);
        plan_shared_listings(&parents, &mut jobs);
        let order: Vec<&str> = jobs.iter().map(|j| j.sel.def.name).collect();
        assert_eq!(
            order,
            [
                "invoices",
                "invoice_payments",
                "clients",
                "users",
                "project_assignments"
            ]
        );
        assert!(parents.publisher("invoices").is_some());
        assert!(parents.publisher("users").is_none());
    }
}
