//! The child sweep: which parents an incremental sync reads whole although their `updated_at`
//! did not move, so that a child change Harvest makes without touching its parent arrives within
//! `child_sweep_hours`. Part of the cursor policy; the state keeps only where the sweep stands.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::CursorPolicy;
use crate::state::Sweep;

/// The parents a child stream's incremental sync sweeps, and the sweep its state records once
/// the pass completes.
#[derive(Debug)]
pub(in crate::read) struct SweepSlice {
    /// The parents swept by this sync.
    pub ids: BTreeSet<i64>,
    /// Where the sweep stands after this sync.
    pub next: Sweep,
}

impl CursorPolicy<'_> {
    /// The sweep of a child stream's parents (ascending `ids`) in an incremental sync at the
    /// server's time `now`, `interval` being `child_sweep_hours`. `None`: this sync reads every
    /// parent and records no sweep (a full refresh, or `child_sweep_hours: 0`).
    ///
    /// The slice is sized by the time since the previous sync's sweep: the `n × elapsed /
    /// interval` parents (whole ones; the rest of the time carries over) after the last one
    /// swept, wrapping around. The sweep thus goes round every parent once per `interval` of
    /// server time however often syncs run, and a sync after a pause of `interval` or more
    /// sweeps them all. A state without a sweep (a
    /// first sync, or a state of the Python connector or of an older version of this one)
    /// starts with a full sweep.
    pub(in crate::read) fn sweep(
        &self,
        interval: Option<Duration>,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Option<SweepSlice> {
        let interval = interval.filter(|i| *i > Duration::zero())?;
        if !(self.incremental && self.by_updated_at() && self.may_read_whole(now)) {
            return None;
        }
        let n = ids.len();
        let (take, start, at) = match self.position.sweep {
            None => (n, 0, now),
            Some(previous) => {
                let elapsed = (now - previous.at).max(Duration::zero());
                let due = n as f64 * elapsed.num_milliseconds() as f64
                    / interval.num_milliseconds() as f64;
                let take = (due.floor() as usize).min(n);
                // The sweep's clock moves by what the parents taken were due for, so that the
                // remainder counts towards the next sync's slice.
                let at = match take {
                    _ if take == n => now,
                    _ => previous.at + interval * take as i32 / n as i32,
                };
                let start = ids.partition_point(|&id| id <= previous.after_id);
                (take, if start == n { 0 } else { start }, at)
            }
        };
        let swept: BTreeSet<i64> = ids.iter().cycle().skip(start).take(take).copied().collect();
        let after_id = match take {
            0 => self.position.sweep.map_or(0, |s| s.after_id),
            _ => ids[(start + take - 1) % n],
        };
        Some(SweepSlice {
            ids: swept,
            next: Sweep { after_id, at },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::Selected;
    use crate::config::Config;
    use crate::protocol::SyncMode;
    use crate::state::Position;
    use crate::streams;

    /// Parsed once: the across-syncs test asks for thousands of slices.
    fn config() -> &'static Config {
        static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        CONFIG.get_or_init(|| {
            Config::from_json(&json!({
                "account_id": "1",
                "replication_start_date": "2024-01-01T00:00:00Z",
                "credentials": {"auth_type": "Token", "api_token": "t"},
            }))
            .unwrap()
        })
    }

    fn messages(mode: SyncMode) -> Selected {
        Selected {
            def: streams::find("invoice_messages").unwrap(),
            mode,
            fields: None,
        }
    }

    fn t0() -> DateTime<Utc> {
        crate::time::parse_instant("2026-01-01T00:00:00Z").unwrap()
    }

    const DAY: Option<Duration> = Some(Duration::hours(24));

    fn position(sweep: Option<Sweep>) -> Position {
        Position {
            updated_at: Some(t0() - Duration::days(1)),
            sweep,
            ..Position::default()
        }
    }

    fn slice(position: &Position, ids: &[i64], now: DateTime<Utc>) -> Option<SweepSlice> {
        let sel = messages(SyncMode::Incremental);
        CursorPolicy::new(config(), &sel, position).sweep(DAY, ids, now)
    }

    #[test]
    fn a_state_without_a_sweep_starts_with_a_full_one() {
        let ids = [3, 5, 8];
        let first = slice(&Position::default(), &ids, t0()).unwrap();
        assert_eq!(first.ids, BTreeSet::from(ids));
        assert_eq!(
            first.next,
            Sweep {
                after_id: 8,
                at: t0()
            }
        );
        let migrated = slice(&position(None), &ids, t0()).unwrap();
        assert_eq!(migrated.ids.len(), 3);
    }

    #[test]
    fn each_sync_sweeps_the_share_of_parents_its_time_since_the_last_is_due() {
        let ids: Vec<i64> = (1..=8).collect();
        let previous = Sweep {
            after_id: 6,
            at: t0(),
        };
        // A quarter of the interval: 2 of 8, after 6, wrapping round to the start.
        let s = slice(&position(Some(previous)), &ids, t0() + Duration::hours(6)).unwrap();
        assert_eq!(s.ids, BTreeSet::from([7, 8]));
        assert_eq!(
            s.next,
            Sweep {
                after_id: 8,
                at: t0() + Duration::hours(6)
            }
        );
        let s = slice(&position(Some(s.next)), &ids, t0() + Duration::hours(15)).unwrap();
        assert_eq!(s.ids, BTreeSet::from([1, 2, 3]));
        // Less than one parent's share: none now, the time carries over.
        let s = slice(&position(Some(previous)), &ids, t0() + Duration::hours(2)).unwrap();
        assert!(s.ids.is_empty());
        assert_eq!(s.next, previous);
        // 2.5 parents' share: 2 now, the half carries over.
        let s = slice(&position(Some(previous)), &ids, t0() + Duration::hours(7)).unwrap();
        assert_eq!(s.ids.len(), 2);
        assert_eq!(s.next.at, t0() + Duration::hours(6));
        // After a pause of the interval or more, every parent.
        let s = slice(&position(Some(previous)), &ids, t0() + Duration::hours(30)).unwrap();
        assert_eq!(s.ids.len(), 8);
        assert_eq!(s.next.at, t0() + Duration::hours(30));
    }

    #[test]
    fn across_syncs_every_parent_is_swept_within_the_interval_and_one_sync() {
        let ids: Vec<i64> = (0..37).map(|i| 1000 + i * 7).collect();
        for every_minutes in [7, 45, 60, 200] {
            let mut state = position(Some(Sweep {
                after_id: 0,
                at: t0(),
            }));
            let mut last: std::collections::BTreeMap<i64, DateTime<Utc>> =
                ids.iter().map(|&id| (id, t0())).collect();
            let mut now = t0();
            let mut worst = Duration::zero();
            while now < t0() + Duration::days(5) {
                now += Duration::minutes(every_minutes);
                let s = slice(&state, &ids, now).unwrap();
                for id in &s.ids {
                    worst = worst.max(now - last[id]);
                    last.insert(*id, now);
                }
                state.sweep = Some(s.next);
            }
            for at in last.values() {
                worst = worst.max(now - *at);
            }
            assert!(
                worst <= Duration::hours(24) + Duration::minutes(every_minutes),
                "syncs every {every_minutes} min: a parent waited {worst}"
            );
        }
    }

    #[test]
    fn no_sweep_in_a_full_refresh_with_sweeps_off_or_from_a_future_state() {
        let config = config().clone();
        let ids = [1, 2];
        let full = messages(SyncMode::FullRefresh);
        let none = Position::default();
        assert!(CursorPolicy::new(&config, &full, &none)
            .sweep(DAY, &ids, t0())
            .is_none());
        let incremental = messages(SyncMode::Incremental);
        assert!(CursorPolicy::new(&config, &incremental, &none)
            .sweep(None, &ids, t0())
            .is_none());
        let future = Position {
            updated_at: Some(t0() + Duration::days(3)),
            ..Position::default()
        };
        assert!(CursorPolicy::new(&config, &incremental, &future)
            .sweep(DAY, &ids, t0())
            .is_none());
    }
}
