//! The comparison of listings, one case of "never a false tombstone" each: what becomes a
//! candidate (which Harvest must then confirm gone) and what never does.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::tombstones::tombstone;
use super::*;
use crate::page;
use crate::streams;
use crate::time::parse_instant;

fn config(token: &str) -> Config {
    Config::from_json(&json!({
        "account_id": "1",
        "replication_start_date": "2024-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": token},
    }))
    .unwrap()
}

fn selected(stream: &str) -> Selected {
    Selected {
        def: streams::find(stream).unwrap(),
        mode: SyncMode::Incremental,
        fields: None,
    }
}

fn t(hours: i64) -> DateTime<Utc> {
    parse_instant("2026-01-01T00:00:00Z").unwrap() + Duration::hours(hours)
}

/// A page of clients: `(id, created hours after t(0))`, all updated after the start date.
fn page_of(records: &[(i64, i64)]) -> String {
    let records: Vec<_> = records
        .iter()
        .map(|(id, created)| {
            json!({"id": id, "created_at": crate::time::format_instant(t(*created)), "updated_at": "2025-06-01T00:00:00Z"})
        })
        .collect();
    json!({ "clients": records }).to_string()
}

/// A capture of clients from `position`, with `token`.
fn capture(position: &Position, token: &str) -> Capture {
    Capture::new(&config(token), &selected("clients"), &[], position).unwrap()
}

/// One complete listing of `records` that began at `at`.
fn listing(capture: &mut Capture, at: DateTime<Utc>, pages: &[&[(i64, i64)]]) {
    capture.begin_anew(at, None);
    for records in pages {
        let body = page_of(records);
        let page = page::parse(&body, "clients").unwrap();
        capture.observe(&page.records, Some(at), Counted::All);
    }
    capture.complete();
}

/// The state after one listing of ids 1..=5 (created before it began), at t(10).
fn after_first_listing() -> Position {
    let mut c = capture(&Position::default(), "a");
    listing(&mut c, t(10), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    assert!(
        c.pending.is_empty(),
        "a first listing has nothing to compare"
    );
    Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    }
}

#[test]
fn a_record_missing_from_the_next_listing_is_a_candidate_not_a_tombstone() {
    let mut c = capture(&after_first_listing(), "a");
    listing(&mut c, t(20), &[&[(1, 0), (2, 0), (4, 0), (5, 0)]]);
    // Pending: the caller confirms it with Harvest before any tombstone.
    assert_eq!(c.pending, [(3, 0)]);
}

#[test]
fn records_created_since_the_last_listing_are_never_candidates() {
    let mut c = capture(&after_first_listing(), "a");
    // 6 was created after the first listing began and is listed; 7 was created and deleted
    // in between (never listed, never replicated): neither is a candidate.
    listing(
        &mut c,
        t(20),
        &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 15)]],
    );
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // 6 is known from now on: its deletion is found by the listing after.
    let position = Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    let mut c = capture(&position, "a");
    listing(&mut c, t(30), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    assert_eq!(c.pending, [(6, 0)]);
}

/// A listing spread over syncs whose token changes user in the middle: its pages read as the
/// last user, and that user's listing, are never compared with what the new one sees, in this
/// sync or a later one. Compared a sync later (the new user kept by then), a manager's listing
/// lacking what only the administrator saw took it for deleted.
#[test]
fn a_listing_a_user_change_cuts_through_is_never_compared_in_a_later_sync_either() {
    let page = |c: &mut Capture, at: DateTime<Utc>, records: &[(i64, i64)]| {
        let body = page_of(records);
        let page = page::parse(&body, "clients").unwrap();
        c.begin(at);
        c.observe(&page.records, Some(at), Counted::All);
    };
    let mut first = capture(&Position::default(), "a");
    first.acting_as(Some("user 7 as administrator".into()));
    listing(
        &mut first,
        t(10),
        &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]],
    );
    let mut c = capture(&kept(&first), "a");
    c.acting_as(Some("user 7 as administrator".into()));
    page(&mut c, t(20), &[(1, 0), (2, 0)]);
    // Now a manager's token, who sees client 1 only: the rest of the listing lists nothing.
    let mut c = capture(&kept(&c), "a");
    c.acting_as(Some("user 8 as manager".into()));
    page(&mut c, t(21), &[]);
    let mut c = capture(&kept(&c), "a");
    c.acting_as(Some("user 8 as manager".into()));
    page(&mut c, t(22), &[]);
    c.complete();
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // The next listing, the manager's alone, is the one compared with.
    let mut c = capture(&kept(&c), "a");
    c.acting_as(Some("user 8 as manager".into()));
    listing(&mut c, t(30), &[&[(1, 0)]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    let mut c = capture(&kept(&c), "a");
    c.acting_as(Some("user 8 as manager".into()));
    listing(&mut c, t(40), &[&[]]);
    assert_eq!(c.pending, [(1, 0)]);
}

#[test]
fn only_a_page_counting_a_record_created_since_the_last_listing_began_calls_for_a_state() {
    let observe = |c: &mut Capture, body: &str| {
        let page = page::parse(body, "clients").unwrap();
        c.observe(&page.records, Some(t(20)), Counted::All);
    };
    // A first listing: no listing holds anything yet, and none is compared with it.
    let mut c = capture(&Position::default(), "a");
    c.begin_anew(t(10), None);
    observe(&mut c, &page_of(&[(1, 0), (2, 15)]));
    assert!(!c.take_fresh());
    // Records the last listing (begun at t(10)) holds, then one created since it began.
    let mut c = capture(&after_first_listing(), "a");
    c.begin_anew(t(20), None);
    observe(&mut c, &page_of(&[(1, 0), (2, 9)]));
    assert!(!c.take_fresh());
    observe(&mut c, &page_of(&[(3, 0), (6, 10)]));
    assert!(c.take_fresh());
    // Asked once: the STATE written then holds it.
    assert!(!c.take_fresh());
    // Read again on a later page (a page shifted by a record created meanwhile), it is not
    // counted again, and calls for no STATE.
    observe(&mut c, &page_of(&[(6, 10)]));
    assert!(!c.take_fresh());
}

/// The state a capture keeps, as it goes through the state's JSON.
fn kept(c: &Capture) -> Position {
    let ledger = serde_json::to_value(c.ledger()).unwrap();
    Position {
        deletions: Some(serde_json::from_value(ledger).unwrap()),
        ..Position::default()
    }
}

#[test]
fn records_gone_beyond_what_a_table_names_are_counted_and_kept_until_the_state_is_cleared() {
    let all: Vec<(i64, i64)> = (1..=600).map(|id| (id, 0)).collect();
    let mut c = capture(&Position::default(), "a");
    listing(&mut c, t(10), &[&all]);
    // 500 gone: far more than 160 cells name.
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(20), &[&all[..100]]);
    let unnamed = c.unnamed["clients"];
    assert!(c.pending.iter().all(|(id, _)| *id > 100), "{:?}", c.pending);
    assert_eq!(c.pending.len() as u64 + unnamed.records, 500);
    assert!(unnamed.records > 300, "{unnamed:?}");
    assert_eq!(
        unnamed.since,
        t(10),
        "deleted after the listing that last had them"
    );
    // Kept by the next syncs, whose comparisons find nothing more.
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(30), &[&all[..100]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    assert_eq!(c.unnamed["clients"], unnamed);
    // Records created unseen (before the last listing began, and not listed by it) do not
    // decode either, and are not counted as gone.
    let mut c = capture(&kept(&c), "a");
    let more: Vec<(i64, i64)> = (1000..1300).map(|id| (id, 25)).collect();
    listing(&mut c, t(40), &[&all[..100], &more]);
    assert_eq!(c.unnamed["clients"], unnamed);
    // And a later overflow adds to them, from the earliest time.
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(50), &[&all[..10]]);
    let later = c.unnamed["clients"];
    assert_eq!(
        later.records + c.pending.len() as u64,
        unnamed.records + 390
    );
    assert_eq!(later.since, t(10));
    // Kept when capture starts again (another start date, whose listings are not restored):
    // those rows are still in the destination.
    let other_start = Config::from_json(&json!({
        "account_id": "1",
        "replication_start_date": "2025-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "a"},
    }))
    .unwrap();
    let c = Capture::new(&other_start, &selected("clients"), &[], &kept(&c)).unwrap();
    assert!(c.known.is_none(), "capture starts again");
    assert_eq!(c.unnamed["clients"], later);
    // A state without them (an earlier version's, or a refresh's) has none.
    let mut ledger = serde_json::to_value(c.ledger()).unwrap();
    ledger.as_object_mut().unwrap().remove("unnamed");
    let position = Position {
        deletions: Some(serde_json::from_value(ledger).unwrap()),
        ..Position::default()
    };
    assert!(capture(&position, "a").unnamed.is_empty());
    assert!(capture(&Position::default(), "a").unnamed.is_empty());
}

#[test]
fn a_listing_s_table_grows_with_the_stream_and_compares_with_a_smaller_one_folded() {
    assert_eq!(
        [0, 1_280, 1_281, 2_560, 2_561, 1_000_000].map(cells_for),
        [160, 160, 320, 320, 640, 640]
    );
    let all: Vec<(i64, i64)> = (1..=4_000).map(|id| (id, 0)).collect();
    let cells = |c: &Capture| c.known.as_ref().unwrap().keys.cells();
    // The first listing, not told its size, has the smallest table; the next is sized by it.
    let mut c = capture(&Position::default(), "a");
    listing(&mut c, t(10), &[&all]);
    assert_eq!(cells(&c), 160);
    let mut c = capture(&kept(&c), "a");
    let without = |gone: std::ops::Range<i64>| -> Vec<(i64, i64)> {
        all.iter()
            .copied()
            .filter(|(id, _)| !gone.contains(id))
            .collect()
    };
    listing(&mut c, t(20), &[&without(1..51)]);
    assert_eq!(cells(&c), 640);
    assert_eq!(c.pending, (1..51).map(|id| (id, 0)).collect::<Vec<_>>());
    // Two tables of 640 cells name 300 deletions, which 160 could not.
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(30), &[&without(1..351)]);
    assert_eq!(c.pending.len(), 350, "{:?}", c.unnamed);
    assert!(c.unnamed.is_empty(), "{:?}", c.unnamed);
    // Told its size (Harvest's `total_entries`), a first listing is sized at once.
    let mut c = capture(&Position::default(), "a");
    c.begin_anew(t(10), Some(4_000));
    assert_eq!(c.round.as_ref().unwrap().taken.cells(), 640);
}

#[test]
fn a_record_read_twice_as_pages_shift_counts_once() {
    let mut c = capture(&after_first_listing(), "a");
    // A record created meanwhile pushed 3 onto the next page: read twice in one walk.
    listing(
        &mut c,
        t(20),
        &[&[(1, 0), (2, 0), (3, 0)], &[(3, 0), (4, 0), (5, 0)]],
    );
    assert!(c.pending.is_empty());
    let position = Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    let mut c = capture(&position, "a");
    listing(&mut c, t(30), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    assert!(c.pending.is_empty(), "3 was counted twice: {:?}", c.pending);
}

#[test]
fn a_listing_cut_short_is_never_compared_and_a_resumed_one_goes_on() {
    let first = after_first_listing();
    let mut c = capture(&first, "a");
    c.begin_anew(t(20), None);
    let body = page_of(&[(1, 0), (2, 0)]);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(20)),
        Counted::All,
    );
    // A 5xx after its retries, a timeout, a truncated page or a kill: the read stops here and
    // its last checkpoint keeps the listing under way, uncompared.
    let checkpoint = Position {
        deletions: Some(c.ledger_at(Some("/v2/clients?cursor=x"))),
        ..Position::default()
    };
    assert!(c.pending.is_empty());
    let mut resumed = capture(&checkpoint, "a");
    assert!(resumed.lists_whole(false, 2000, Some("/v2/clients?cursor=x")));
    let body = page_of(&[(3, 0), (4, 0), (5, 0)]);
    resumed.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(21)),
        Counted::All,
    );
    resumed.complete();
    assert!(resumed.pending.is_empty(), "{:?}", resumed.pending);
    // Resumed elsewhere than where it stopped, the listing starts again instead.
    let elsewhere = capture(&checkpoint, "a");
    assert!(!elsewhere.lists_whole(false, 2000, Some("/v2/clients?cursor=y")));
}

#[test]
fn listings_made_for_another_user_start_date_or_account_are_never_compared() {
    // Another user, or the same with other roles, may see fewer records (a manager's token,
    // not an administrator's).
    let mut first = capture(&Position::default(), "a");
    listing(&mut first, t(10), &[&[(1, 0), (2, 0), (3, 0)]]);
    first.acting_as(Some("user 7 as administrator".into()));
    let position = Position {
        deletions: Some(first.ledger()),
        ..Position::default()
    };
    let mut c = capture(&position, "a");
    c.acting_as(Some("user 8 as manager".into()));
    listing(&mut c, t(20), &[&[(1, 0)]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // Harvest did not say who the token acts as: nothing is compared either, and the last
    // listing is kept, so that the next one (the user known) still finds 2 and 3 gone.
    let mut c = capture(&position, "a");
    c.acting_as(None);
    listing(&mut c, t(20), &[&[(1, 0)]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    let mut c = capture(&state_of(&c), "a");
    c.acting_as(Some("user 7 as administrator".into()));
    listing(&mut c, t(30), &[&[(1, 0)]]);
    assert_eq!(c.pending, [(2, 0), (3, 0)]);
    // The same user: compared.
    let mut c = capture(&position, "a");
    c.acting_as(Some("user 7 as administrator".into()));
    listing(&mut c, t(20), &[&[(1, 0)]]);
    assert_eq!(c.pending, [(2, 0), (3, 0)]);
    // Another start date (records updated before it are not counted).
    let later = Config::from_json(&json!({
        "account_id": "1",
        "replication_start_date": "2025-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "a"},
    }))
    .unwrap();
    let mut c = Capture::new(&later, &selected("clients"), &[], &position).unwrap();
    listing(&mut c, t(20), &[&[(1, 0)]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    assert_ne!(fingerprint(&config("a")), fingerprint(&later));
    // The token itself is not kept: the user Harvest says it acts as is.
    assert_eq!(fingerprint(&config("a")), fingerprint(&config("b")));
}

#[test]
fn a_state_without_a_listing_starts_capturing_with_the_next_complete_one() {
    // Ours before capture, or Airbyte's connector's: a cursor and nothing else.
    let old = Position {
        updated_at: Some(t(0)),
        ..Position::default()
    };
    let mut c = capture(&old, "a");
    listing(&mut c, t(20), &[&[(1, 0)]]);
    assert!(c.pending.is_empty());
    assert!(c.ledger().known.is_some());
}

#[test]
fn records_updated_before_the_start_date_are_not_counted() {
    // Never replicated (the start date excludes them), so their deletion sends nothing.
    let mut c = capture(&Position::default(), "a");
    c.begin_anew(t(10), None);
    let body = json!({"clients": [
        {"id": 1, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-02-01T00:00:00Z"},
        {"id": 2, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2025-02-01T00:00:00Z"},
    ]})
    .to_string();
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(10)),
        Counted::All,
    );
    c.complete();
    assert_eq!(c.known.as_ref().unwrap().total, 1);
}

#[test]
fn tombstones_hold_the_key_the_parent_and_the_cursor() {
    let at = t(1);
    let client = tombstone(streams::find("clients").unwrap(), (7, 0), at);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&client).unwrap(),
        json!({"id": 7, "updated_at": "2026-01-01T01:00:00Z", "_ab_cdc_deleted_at": "2026-01-01T01:00:00Z"})
    );
    let payment = tombstone(streams::find("invoice_payments").unwrap(), (3, 9), at);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&payment).unwrap(),
        json!({"parent_id": 3, "id": 9, "updated_at": "2026-01-01T01:00:00Z", "_ab_cdc_deleted_at": "2026-01-01T01:00:00Z"})
    );
    let member = derived::tombstone(streams::find("user_roles").unwrap(), (4, 5), at);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&member).unwrap(),
        json!({"role_id": 4, "user_id": 5, "roles_updated_at": "2026-01-01T01:00:00Z", "_ab_cdc_deleted_at": "2026-01-01T01:00:00Z"})
    );
}

#[test]
fn a_record_created_while_a_listing_spread_over_syncs_runs_is_counted_once() {
    let mut c = capture(&after_first_listing(), "a");
    c.begin_anew(t(20), None);
    let page = |records: &[(i64, i64)]| page_of(records);
    // The listing's own pages count what existed when it began, not 6 (created at t(21)).
    let body = page(&[(1, 0), (2, 0), (6, 21)]);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(20)),
        Counted::CreatedByStart,
    );
    // The next sync's incremental pass (from t(20) to t(22)) sees 6 new: counted there; the
    // one after (from t(22)) sees it again, updated: not counted twice.
    let body = page(&[(6, 21)]);
    let records = page::parse(&body, "clients").unwrap().records;
    let first_pass = Counted::new_in_pass(t(20) - OVERLAP, t(22) - OVERLAP);
    c.observe(&records, Some(t(22)), first_pass);
    c.recent.clear();
    let next_pass = Counted::new_in_pass(t(22) - OVERLAP, t(24) - OVERLAP);
    c.observe(&records, Some(t(24)), next_pass);
    let body = page(&[(3, 0), (4, 0), (5, 0)]);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(25)),
        Counted::CreatedByStart,
    );
    c.complete();
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // Known once: its deletion is found by the next listing, and it is the only candidate.
    let position = Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    let mut c = capture(&position, "a");
    listing(&mut c, t(30), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    assert_eq!(c.pending, [(6, 0)]);
}

/// One sync of a listing of clients spread over syncs: its incremental pass from `pass_from`
/// (the last pass's start) reads `new` at `at`, then the listing goes on with `listed`, and
/// ends if `ends`. Returns the state it keeps.
fn sync_of_a_spread_listing(
    position: &Position,
    at: DateTime<Utc>,
    pass_from: DateTime<Utc>,
    new: &[(i64, i64)],
    listed: &[(i64, i64)],
    ends: bool,
) -> Position {
    let mut c = capture(position, "a");
    let pass = Counted::new_in_pass(pass_from - OVERLAP, at - OVERLAP);
    // A pass killed after a checkpoint and resumed reads its page again.
    for _ in 0..2 {
        let body = page_of(new);
        c.observe(
            &page::parse(&body, "clients").unwrap().records,
            Some(at),
            pass,
        );
        c = capture(&kept(&c), "a");
    }
    c.begin(at);
    let body = page_of(listed);
    let page = page::parse(&body, "clients").unwrap();
    c.observe(&page.records, Some(at), Counted::CreatedByStart);
    if ends {
        c.complete();
    } else {
        c.paused_at(Some("/v2/clients?page=2".into()));
    }
    kept(&c)
}

/// The pending candidates and the unnamed count of a whole listing of clients 1..=5 at t(30)
/// after `position`.
fn named_by_the_next_listing(position: &Position) -> (Vec<Key>, u64) {
    let mut c = capture(position, "a");
    listing(&mut c, t(30), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    let unnamed = c.unnamed.get("clients").map_or(0, |u| u.records);
    (c.pending.clone(), unnamed)
}

#[test]
fn a_record_a_pass_reads_though_created_after_it_began_is_counted_by_that_pass() {
    // The listing begins at t(20). The pass of t(22) reads client 6, created in its very
    // second (after its window); 6 goes before the next pass.
    let mut c = capture(&after_first_listing(), "a");
    c.begin(t(20));
    let body = page_of(&[(1, 0), (2, 0)]);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(t(20)),
        Counted::CreatedByStart,
    );
    c.paused_at(Some("/v2/clients?page=2".into()));
    let state = sync_of_a_spread_listing(&kept(&c), t(22), t(20), &[(6, 22)], &[(3, 0)], false);
    let state = sync_of_a_spread_listing(&state, t(24), t(22), &[], &[(4, 0), (5, 0)], true);
    assert_eq!(named_by_the_next_listing(&state), (vec![(6, 0)], 0));
    // Read again by the next pass, whose window holds it: counted once all the same (twice,
    // the table could not name it).
    let state = sync_of_a_spread_listing(&kept(&c), t(22), t(20), &[(6, 22)], &[(3, 0)], false);
    let state = sync_of_a_spread_listing(&state, t(24), t(22), &[(6, 22)], &[(4, 0), (5, 0)], true);
    assert_eq!(named_by_the_next_listing(&state), (vec![(6, 0)], 0));
}

/// Counts a page of `records` (see [`page_of`]) read at `at`.
fn observe_clients(c: &mut Capture, records: &[(i64, i64)], at: DateTime<Utc>, counted: Counted) {
    let body = page_of(records);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(at),
        counted,
    );
}

#[test]
fn a_pass_after_a_listing_completed_counts_into_the_next_one_begun_at_its_window() {
    // The last listing completed in the sync before. This sync's pass reads client 7 (created
    // within its window) and client 6 (created in its very second); both go before the next
    // listing's pages get to them.
    let mut c = capture(&after_first_listing(), "a");
    let pass = Counted::new_in_pass(t(20) - OVERLAP, t(22) - OVERLAP);
    observe_clients(&mut c, &[(7, 21), (6, 22)], t(22), pass);
    // The listing's own pages go on from its first page, in this sync or a later one.
    let mut c = capture(&kept(&c), "a");
    c.keep_round_if(|next| next.starts_with('/'));
    c.begin(t(23));
    observe_clients(
        &mut c,
        &[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)],
        t(23),
        Counted::CreatedByStart,
    );
    c.complete();
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    assert_eq!(
        named_by_the_next_listing(&kept(&c)),
        (vec![(6, 0), (7, 0)], 0)
    );
}

/// One sync of a listing of clients read whole after its incremental pass (`child_sweep_hours:
/// 0` on a stream longer than a page): the pass of window `[pass_from, at)` reads `new`, then the
/// listing's pages `listed`. Returns the state it keeps and the candidates it named. Unlike
/// [`sync_of_a_spread_listing`], the pass reads its page once: read again after a reload, a
/// record created inside the window would be counted twice (a resumed pass goes on after its
/// checkpoint; only the records past the window come back, on pages that shifted).
fn sync_listing_after_its_pass(
    position: &Position,
    pass_from: DateTime<Utc>,
    at: DateTime<Utc>,
    new: &[(i64, i64)],
    listed: &[(i64, i64)],
) -> (Position, Vec<Key>) {
    let mut c = capture(position, "a");
    let body = page_of(new);
    let pass = Counted::CreatedIn(pass_from, at);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(at),
        pass,
    );
    c.begin(at);
    let body = page_of(listed);
    let page = page::parse(&body, "clients").unwrap();
    c.observe(&page.records, Some(at), Counted::CreatedByStart);
    c.complete();
    (kept(&c), c.pending.clone())
}

#[test]
fn a_record_a_listing_missed_though_alive_is_counted_into_it_and_its_deletion_found_later() {
    // The listing at t(20) misses client 5, which Harvest still serves (its place moved to
    // where the listing had read already); the listing at t(30) misses it because it is gone.
    let mut c = capture(&after_first_listing(), "a");
    listing(&mut c, t(20), &[&[(1, 0), (2, 0), (3, 0), (4, 0)]]);
    assert_eq!(c.pending, [(5, 0)]);
    // What confirming it does: its lookup answers, it is alive.
    let alive = std::mem::take(&mut c.pending);
    c.alive(alive);
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(30), &[&[(1, 0), (2, 0), (3, 0), (4, 0)]]);
    assert_eq!(c.pending, [(5, 0)]);
    // Listed again, it is no candidate.
    let alive = std::mem::take(&mut c.pending);
    c.alive(alive);
    let mut c = capture(&kept(&c), "a");
    listing(&mut c, t(40), &[&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
}

#[test]
fn a_record_counted_past_its_window_into_listings_that_ended_counts_into_the_next() {
    // Client 6 is created in the very second of the sync at t(12), which reads it past its
    // pass's window; a kill makes the sync run again at the same time, with an empty window
    // (its listing begins at t(12)); the next sync's listing begins at t(12) too.
    let five = [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)];
    let six = [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 12)];
    let (state, named) =
        sync_listing_after_its_pass(&after_first_listing(), t(11), t(12), &[(6, 12)], &six);
    assert!(named.is_empty(), "{named:?}");
    let (state, named) = sync_listing_after_its_pass(&state, t(12), t(12), &[(6, 12)], &six);
    assert!(named.is_empty(), "{named:?}");
    let (state, named) = sync_listing_after_its_pass(&state, t(12), t(13), &[(6, 12)], &six);
    // Listed by Harvest, 6 is no candidate: the listing begun at t(12) holds it too.
    assert!(named.is_empty(), "{named:?}");
    let (_, named) = sync_listing_after_its_pass(&state, t(13), t(14), &[], &five);
    assert_eq!(named, [(6, 0)]);
}

#[test]
fn a_record_a_pass_counted_past_its_window_counts_again_into_a_listing_begun_since() {
    // The pass of t(22) counts client 6 (created in its second) into the listing under way,
    // which then ends; the next listing begins in that same second, so its pages leave 6 to
    // the incremental reads, and the next pass counts it there.
    let mut c = capture(&after_first_listing(), "a");
    c.begin(t(20));
    observe_clients(
        &mut c,
        &[(1, 0), (2, 0), (3, 0)],
        t(20),
        Counted::CreatedByStart,
    );
    c.paused_at(Some("/v2/clients?page=2".into()));
    let mut c = capture(&kept(&c), "a");
    let pass = Counted::new_in_pass(t(20) - OVERLAP, t(22) - OVERLAP);
    observe_clients(&mut c, &[(6, 22)], t(22), pass);
    observe_clients(&mut c, &[(4, 0), (5, 0)], t(22), Counted::CreatedByStart);
    c.complete();
    c.begin(t(22));
    let all = [(6, 22), (5, 0), (4, 0), (3, 0), (2, 0), (1, 0)];
    observe_clients(&mut c, &all, t(22), Counted::CreatedByStart);
    c.paused_at(Some("/v2/clients?page=2".into()));
    let mut c = capture(&kept(&c), "a");
    let pass = Counted::new_in_pass(t(22) - OVERLAP, t(24) - OVERLAP);
    observe_clients(&mut c, &[(6, 22)], t(24), pass);
    observe_clients(&mut c, &[], t(24), Counted::CreatedByStart);
    c.complete();
    // Missing from that listing, 6 would be a candidate although Harvest serves it.
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    assert_eq!(named_by_the_next_listing(&kept(&c)), (vec![(6, 0)], 0));
}

/// Clients 1..=`n`, client `i` created `i` hours after t(0): listed newest first, as Harvest's
/// cursor pages are.
fn clients_newest_first(n: i64, without: &[i64]) -> Vec<(i64, i64)> {
    (1..=n)
        .rev()
        .filter(|i| !without.contains(i))
        .map(|i| (i, i))
        .collect()
}

/// The state after two complete listings of `n` clients (at t(n + 20) and t(n + 30)): the second has parts, placed by a
/// sample of the first.
fn after_two_listings_of(n: i64) -> Position {
    let mut c = capture(&Position::default(), "a");
    listing(&mut c, t(n + 20), &[&clients_newest_first(n, &[])]);
    let first = Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    let mut c = capture(&first, "a");
    listing(&mut c, t(n + 30), &[&clients_newest_first(n, &[])]);
    let known = c.known.as_ref().unwrap();
    assert!(known.parts.as_ref().unwrap().bounds.len() >= 4);
    Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    }
}

/// The same, of 80 clients.
fn after_two_listings() -> Position {
    after_two_listings_of(80)
}

/// Goes on with a listing spread over syncs: one sync's pages, then where it pauses.
fn spread_sync(c: &mut Capture, at: DateTime<Utc>, records: &[(i64, i64)]) {
    c.begin(at);
    let body = page_of(records);
    c.observe(
        &page::parse(&body, "clients").unwrap().records,
        Some(at),
        Counted::CreatedByStart,
    );
    c.paused_at(Some("/v2/clients?cursor=next".into()));
    c.compare_parts();
}

#[test]
fn a_record_gone_from_a_part_the_listing_read_past_is_a_candidate_before_it_completes() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[75]);
    // The first sync of the listing reads the 30 newest (80..=51, 75 gone).
    spread_sync(&mut c, t(120), &all[..29]);
    assert_eq!(c.pending, [(75, 0)], "found where its part was read past");
    // A record gone from a part not read past yet waits for its part.
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[3]);
    spread_sync(&mut c, t(120), &all[..30]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    let position = Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    // Resumed from the state in the next sync, the rest completes it: 3 found once.
    let mut c = capture(&position, "a");
    c.acting_as(Some("user 7".into()));
    spread_sync(&mut c, t(121), &all[30..]);
    c.complete();
    assert_eq!(c.pending, [(3, 0)]);
}

#[test]
fn records_gone_from_a_part_beyond_what_it_names_are_said_at_once_and_settled_at_the_end() {
    // The 60 newest of 300 clients go: more than the first part's table names.
    let gone: Vec<i64> = (241..=300).collect();
    let all = clients_newest_first(300, &gone);
    let said = |c: &Capture| {
        c.said_unnamed()
            .get("clients")
            .map(|s| (s.records, s.in_parts))
    };
    let first_sync = |user: &str| {
        let mut c = capture(&after_two_listings_of(300), "a");
        c.acting_as(Some("user 7".into()));
        spread_sync(&mut c, t(340), &all[..60]);
        let (counted, in_parts) = said(&c).expect("an overflowing part is said when compared");
        assert_eq!(counted, in_parts);
        assert_eq!(c.pending.len() as u64 + counted, 60, "{:?}", c.pending);
        let named_by_parts = c.pending.clone();
        let mut c = capture(&kept(&c), "a");
        assert_eq!(said(&c), Some((counted, counted)), "kept by the state");
        c.acting_as(Some(user.to_string()));
        (c, named_by_parts, counted)
    };
    // The listing completes: the whole comparison names them all, and nothing is said.
    let (mut c, named_by_parts, _) = first_sync("user 7");
    spread_sync(&mut c, t(341), &all[60..]);
    c.complete();
    let named: Vec<Key> = gone.iter().map(|id| (*id, 0)).collect();
    assert_eq!(c.pending.len(), 60);
    assert!(
        named.iter().all(|k| c.pending.contains(k)),
        "{:?}",
        c.pending
    );
    assert!(named_by_parts.iter().all(|k| c.pending.contains(k)));
    assert_eq!(said(&c), None);
    // A listing that replaces the last one without a comparison (made as another user) keeps
    // them counted: they are never named.
    let (mut c, _, counted) = first_sync("user 8");
    spread_sync(&mut c, t(341), &all[60..]);
    c.complete();
    assert_eq!(said(&c), Some((counted, 0)));
    // One dropped (Harvest did not say who the token acts as) leaves them to the next listing,
    // compared with the same last one.
    let mut c = capture(&after_two_listings_of(300), "a");
    c.acting_as(Some("user 7".into()));
    spread_sync(&mut c, t(340), &all[..60]);
    c.acting_as(None);
    spread_sync(&mut c, t(341), &all[60..]);
    c.complete();
    assert_eq!(said(&c), None);
}

/// A part whose records gone are balanced by records moved into it (a date changed) does not
/// decode and estimates none gone: nothing is said of it ("about 0 records"), the whole
/// comparison settles it.
#[test]
fn a_part_that_estimates_no_record_gone_is_not_said() {
    let mut c = capture(&after_two_listings_of(300), "a");
    c.acting_as(Some("user 7".into()));
    spread_sync(&mut c, t(340), &clients_newest_first(300, &[])[..60]);
    let mut position = kept(&c);
    let round = (position.deletions.as_mut())
        .and_then(|l| l.round.as_mut())
        .expect("a listing under way");
    round.overflowed.insert("clients".into(), 0);
    let c = capture(&position, "a");
    assert!(c.round.as_ref().is_some_and(|r| r.against.is_some()));
    assert!(c.said_unnamed().is_empty());
}

#[test]
fn a_candidate_a_part_named_is_not_named_again_when_the_listing_completes() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[75, 74]);
    spread_sync(&mut c, t(120), &all[..28]);
    assert_eq!(c.pending, [(74, 0), (75, 0)]);
    // Confirmed and written in this sync: no longer pending.
    c.pending.clear();
    spread_sync(&mut c, t(121), &all[28..]);
    c.complete();
    assert!(c.pending.is_empty(), "named twice: {:?}", c.pending);
}

#[test]
fn parts_are_not_compared_for_another_user_nor_when_their_bounds_differ() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    c.acting_as(Some("user 8".into()));
    spread_sync(
        &mut c,
        t(120),
        &clients_newest_first(80, &[75, 74, 73])[..28],
    );
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // A listing whose parts were placed for other bounds than the known listing's (a damaged
    // state): compared whole only, when it completes.
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    c.begin(t(120));
    c.round.as_mut().unwrap().parts.against = Some(vec![-1]);
    let all = clients_newest_first(80, &[75]);
    spread_sync(&mut c, t(120), &all[..29]);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    spread_sync(&mut c, t(121), &all[29..]);
    c.complete();
    assert_eq!(c.pending, [(75, 0)]);
}

#[test]
fn a_part_with_more_differences_than_its_table_names_is_left_to_the_whole_comparison() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    // 30 of the newest 40 gone: far more than a part's table decodes.
    let gone: Vec<i64> = (51..=80).collect();
    let all = clients_newest_first(80, &gone);
    spread_sync(&mut c, t(120), &all[..10]);
    let named_early = c.pending.len();
    spread_sync(&mut c, t(121), &all[10..]);
    c.complete();
    let mut pending = c.pending.clone();
    pending.sort_unstable();
    assert_eq!(
        pending,
        gone.iter().map(|g| (*g, 0)).collect::<Vec<_>>(),
        "{named_early} named by parts"
    );
}

#[test]
fn a_ledger_written_before_parts_and_digests_is_compared_whole() {
    // The state of the version before: no parts, no bounds, no digests.
    let mut ledger = serde_json::to_value(after_two_listings().deletions.unwrap()).unwrap();
    let known = ledger["known"].as_object_mut().unwrap();
    known.remove("parts");
    known.remove("next_bounds");
    ledger.as_object_mut().unwrap().remove("parents");
    let position = Position {
        deletions: Some(serde_json::from_value(ledger).unwrap()),
        ..Position::default()
    };
    let mut c = capture(&position, "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[75, 3]);
    spread_sync(&mut c, t(120), &all[..30]);
    assert!(c.pending.is_empty(), "no parts to compare: {:?}", c.pending);
    spread_sync(&mut c, t(121), &all[30..]);
    c.complete();
    assert_eq!(c.pending, [(3, 0), (75, 0)]);
    // The listing it completed places the parts of the next one.
    assert!(c.known.as_ref().unwrap().next_bounds.len() >= 3);
}

/// A page of invoices `(id, line item ids)`, created before t(0) and issued on one day.
fn invoices_page(invoices: &[(i64, &[i64])]) -> String {
    let invoices: Vec<_> = invoices
        .iter()
        .map(|(id, items)| {
            let items: Vec<_> = items.iter().map(|i| json!({"id": i})).collect();
            json!({"id": id, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-06-01T00:00:00Z", "issue_date": "2025-01-01", "line_items": items})
        })
        .collect();
    json!({ "invoices": invoices }).to_string()
}

/// One sync of a listing of invoices: whether it reads their line items, and the invoices.
type InvoicesSync<'a> = (bool, &'a [(i64, &'a [i64])]);

/// One complete listing of invoices over `syncs`.
fn invoices_listing(position: &Position, at: DateTime<Utc>, syncs: &[InvoicesSync<'_>]) -> Capture {
    let mut ledger = position.deletions.clone();
    let mut last = None;
    for (i, (with_items, invoices)) in syncs.iter().enumerate() {
        let derived = if *with_items {
            vec![selected("invoice_line_items")]
        } else {
            Vec::new()
        };
        let position = Position {
            deletions: ledger.clone(),
            ..Position::default()
        };
        let mut c = Capture::new(&config("a"), &selected("invoices"), &derived, &position).unwrap();
        c.acting_as(Some("user 7".into()));
        c.begin(at);
        let body = invoices_page(invoices);
        let page = page::parse(&body, "invoices").unwrap();
        c.observe(&page.records, Some(at), Counted::CreatedByStart);
        if i + 1 == syncs.len() {
            c.complete();
        }
        ledger = Some(c.ledger());
        last = Some(c);
    }
    last.unwrap()
}

/// Line items taken off invoices beyond what the derived stream's table names are counted as
/// the derived stream's, apart from the invoices' own.
#[test]
fn a_derived_stream_s_rows_gone_unnamed_are_counted_as_its_own() {
    let items: Vec<Vec<i64>> = (1..=300)
        .map(|id| vec![10 * id, 10 * id + 1, 10 * id + 2])
        .collect();
    let invoices = |items_kept: usize| -> Vec<(i64, &[i64])> {
        (1..=300)
            .zip(&items)
            .map(|(id, i)| (id, &i[..if id <= 10 { 3 } else { items_kept }]))
            .collect()
    };
    let first = invoices_listing(&Position::default(), t(10), &[(true, &invoices(3))]);
    let first = Position {
        deletions: Some(first.ledger()),
        ..Position::default()
    };
    // 290 invoices lose two line items each: more than 160 cells name.
    let second = invoices_listing(&first, t(20), &[(true, &invoices(1))]);
    let named = second
        .pending_derived
        .get("invoice_line_items")
        .map_or(0, Vec::len);
    let unnamed = second.unnamed["invoice_line_items"];
    assert_eq!(named as u64 + unnamed.records, 580);
    assert_eq!(unnamed.since, t(10));
    assert!(
        !second.unnamed.contains_key("invoices"),
        "{:?}",
        second.unnamed
    );
}

#[test]
fn a_derived_stream_not_read_in_every_sync_of_a_listing_is_compared_with_the_last_whole_one() {
    let none = Position::default();
    let first = invoices_listing(&none, t(10), &[(true, &[(1, &[11, 12]), (2, &[21])])]);
    let first = Position {
        deletions: Some(first.ledger()),
        ..Position::default()
    };
    // The second listing's first sync does not read the line items; 12 goes meanwhile.
    let second = invoices_listing(
        &first,
        t(20),
        &[(false, &[(1, &[11])]), (true, &[(2, &[21])])],
    );
    assert!(
        second.pending_derived.is_empty(),
        "{:?}",
        second.pending_derived
    );
    let second = Position {
        deletions: Some(second.ledger()),
        ..Position::default()
    };
    // The third reads them in every sync: 12 is found against the first listing's table.
    let third = invoices_listing(&second, t(30), &[(true, &[(1, &[11]), (2, &[21])])]);
    assert_eq!(third.pending_derived["invoice_line_items"], [(1, 12)]);
}

#[test]
fn a_round_written_whole_before_fresh_resumes_as_the_one_written_fresh() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[3]);
    spread_sync(&mut c, t(120), &all[..30]);
    let written = c.ledger();
    let round = written.round.as_ref().unwrap();
    // Every key read was taken too: what is written of `seen` is an empty table, sparse.
    assert!(round.seen.is_empty() && round.fresh.len() < 20, "{round:?}");
    let mut before_fresh = written.clone();
    let old = before_fresh.round.as_mut().unwrap();
    old.seen = c.round.as_ref().unwrap().seen.encode();
    old.fresh = String::new();
    for ledger in [written, before_fresh] {
        let position = Position {
            deletions: Some(ledger),
            ..Position::default()
        };
        let mut c = capture(&position, "a");
        c.acting_as(Some("user 7".into()));
        spread_sync(&mut c, t(121), &all[30..]);
        c.complete();
        assert_eq!(c.pending, [(3, 0)]);
    }
}

#[test]
fn a_derived_stream_read_with_every_page_whose_rows_all_went_names_them_all() {
    let none = Position::default();
    let first = invoices_listing(&none, t(10), &[(true, &[(1, &[11, 12]), (2, &[21])])]);
    let first = Position {
        deletions: Some(first.ledger()),
        ..Position::default()
    };
    let second = invoices_listing(&first, t(20), &[(true, &[(1, &[]), (2, &[])])]);
    assert_eq!(
        second.pending_derived["invoice_line_items"],
        [(1, 11), (1, 12), (2, 21)]
    );
}

#[test]
fn a_record_created_in_the_second_a_listing_began_is_left_to_the_incremental_reads() {
    let began = t(20);
    assert!(!Counted::CreatedByStart.counts(Some(began), began));
    assert!(Counted::CreatedByStart.counts(Some(began - Duration::seconds(1)), began));
    let pass = Counted::new_in_pass(began - OVERLAP, t(21) - OVERLAP);
    assert!(pass.counts(Some(began), began));
    assert!(!pass.counts(Some(began - Duration::seconds(1)), began));
}

/// A page of one invoice created before t(0) whose line items say when each was created.
fn invoice_with_dated_items(id: i64, items: &[(i64, DateTime<Utc>)]) -> String {
    let items: Vec<_> = (items.iter())
        .map(|(i, created)| json!({"id": i, "created_at": crate::time::format_instant(*created)}))
        .collect();
    json!({"invoices": [{"id": id, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-06-01T00:00:00Z", "issue_date": "2025-01-01", "line_items": items}]}).to_string()
}

#[test]
fn a_row_added_to_a_source_the_listing_read_already_is_counted_by_the_pass_that_reads_it() {
    let old = t(0);
    let invoices = |position: &Position| {
        let derived = [selected("invoice_line_items")];
        let mut c = Capture::new(&config("a"), &selected("invoices"), &derived, position).unwrap();
        c.acting_as(Some("user 7".into()));
        c
    };
    let observe = |c: &mut Capture, body: &str, at: DateTime<Utc>, counted: Counted| {
        let page = page::parse(body, "invoices").unwrap();
        c.observe(&page.records, Some(at), counted);
    };
    let ledger = |c: &Capture| Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    };
    let first = invoices_listing(&Position::default(), t(10), &[(true, &[(1, &[11])])]);
    let listed = |at| (invoice_with_dated_items(1, &[(11, old)]), at);
    // The second listing reads invoice 1 at t(20); item 12 is added at t(21), and the next
    // sync's incremental pass reads the invoice again before the listing completes.
    let mut c = invoices(&ledger(&first));
    c.begin(t(20));
    let (body, at) = listed(t(20));
    observe(&mut c, &body, at, Counted::CreatedByStart);
    c.paused_at(Some("/v2/invoices?page=2".into()));
    let mut c = invoices(&ledger(&c));
    c.begin(t(22));
    let pass = Counted::new_in_pass(t(20) - OVERLAP, t(22) - OVERLAP);
    let updated = invoice_with_dated_items(1, &[(11, old), (12, t(21))]);
    observe(&mut c, &updated, t(22), pass);
    c.complete();
    // Item 12 goes: the third listing names it.
    let mut c = invoices(&ledger(&c));
    c.begin(t(30));
    let (body, at) = listed(t(30));
    observe(&mut c, &body, at, Counted::CreatedByStart);
    c.complete();
    assert_eq!(c.pending_derived["invoice_line_items"], [(1, 12)]);
}

#[test]
fn a_candidate_a_part_named_that_harvest_still_serves_is_compared_again_at_the_end() {
    let mut c = capture(&after_two_listings(), "a");
    c.acting_as(Some("user 7".into()));
    let all = clients_newest_first(80, &[75]);
    spread_sync(&mut c, t(120), &all[..29]);
    assert_eq!(c.pending, [(75, 0)]);
    // Harvest still serves it (it moved ahead of the listing), and it goes before the
    // listing gets there: the whole comparison names it again.
    let named = std::mem::take(&mut c.pending);
    c.alive(named);
    spread_sync(&mut c, t(121), &all[29..]);
    c.complete();
    assert_eq!(c.pending, [(75, 0)]);
}

/// Pacing (see `pace`): the listing under way is behind once an interval has passed since the
/// last one read past a place, until it reads past that place too; an interval after the last
/// one ended, until it ends.
#[test]
fn a_listing_is_behind_until_it_reads_as_far_as_the_last_one_had_an_interval_before() {
    let six = Some(Duration::hours(6));
    let read = |c: &mut Capture, records: &[(i64, i64)], at: DateTime<Utc>| {
        let body = page_of(records);
        let page = page::parse(&body, "clients").unwrap();
        c.begin(at);
        c.observe(&page.records, Some(at), Counted::CreatedByStart);
    };
    // The last listing, newest first: its first page at t(10), its second at t(11).
    let mut c = capture(&Position::default(), "a");
    read(&mut c, &[(4, 9), (3, 8)], t(10));
    c.paused_at(Some("/v2/clients?cursor=3".into()));
    c.mark_progress();
    read(&mut c, &[(2, 2), (1, 1)], t(11));
    c.complete();
    assert!(!c.behind(six, t(12)), "nothing is due before an interval");

    // The next one reads the records created since first: 4 is as far as it got.
    read(&mut c, &[(5, 11), (4, 9)], t(12));
    c.paused_at(Some("/v2/clients?cursor=4".into()));
    assert!(!c.behind(six, t(15)));
    assert!(c.behind(six, t(16)), "the last one had read 3 by t(10)");
    assert!(
        !c.behind(None, t(16)),
        "without an interval, nothing is due"
    );
    read(&mut c, &[(3, 8)], t(16));
    assert!(!c.behind(six, t(16)));
    assert!(c.behind(six, t(17)), "the last one had ended by t(11)");
}

/// Soak seed 13 (6-hour sweep): a short stream's listing reads its first page in its first
/// sync and the rest syncs later, so a part of the last listing astride the two was compared
/// only once the rest was read. A record the last listing counted from its first page and
/// deleted after arrived up to a listing late. The listing under way is behind until it has
/// read past the end of the part the last one had read into an interval before, and names the
/// record in that sync.
#[test]
fn a_listing_is_behind_until_it_has_read_past_the_part_the_last_one_had_read_into() {
    let six = Some(Duration::hours(6));
    let sync = |state: &Position, at: DateTime<Utc>, records: &[(i64, i64)], completes: bool| {
        let mut c = capture(state, "a");
        c.acting_as(Some("user 7".into()));
        spread_sync(&mut c, at, records);
        if completes {
            c.complete();
        } else {
            c.mark_progress();
        }
        c
    };
    // The third listing: the 30 newest (80 to 51) at t(120), the rest at t(124).
    let all = clients_newest_first(80, &[]);
    let c = sync(&after_two_listings(), t(120), &all[..30], false);
    let c = sync(&state_of(&c), t(124), &all[30..], true);
    let parts = c.known.as_ref().unwrap().parts.as_ref().unwrap();
    let part = parts::part_of(&parts.bounds, -t(51).timestamp());
    assert!(
        parts.end(part) > -t(50).timestamp(),
        "51 and 50 share a part"
    );
    assert!(c.pending.is_empty(), "{:?}", c.pending);

    // 51 is deleted. The fourth listing reads the 29 newest left (80 to 52) at t(125); at
    // t(126) the third's first sync is an interval old, and the listing reads a record at a
    // time while behind, as `entity::advance` does.
    let left = clients_newest_first(80, &[51]);
    let c = sync(&state_of(&c), t(125), &left[..29], false);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    let mut c = capture(&state_of(&c), "a");
    c.acting_as(Some("user 7".into()));
    let mut read = 29;
    while c.behind(six, t(126)) {
        spread_sync(&mut c, t(126), &left[read..read + 1]);
        read += 1;
    }
    assert!(
        read > 30,
        "behind past 50, where the third listing had read"
    );
    assert_eq!(c.pending, [(51, 0)]);
}

/// An estimate's messages `(id, created)`, all updated after the start date.
type Messages<'a> = &'a [(i64, DateTime<Utc>)];

/// A page of estimate messages.
fn messages_page(messages: Messages<'_>) -> String {
    let messages: Vec<_> = (messages.iter())
        .map(|(id, created)| json!({"id": id, "created_at": crate::time::format_instant(*created), "updated_at": "2025-06-01T00:00:00Z"}))
        .collect();
    json!({ "estimate_messages": messages }).to_string()
}

/// The estimates there are in a sync, each with its messages.
type Estimates<'a> = &'a [(i64, Messages<'a>)];

/// One sync of a sweep of estimate messages at t(`hour`), the one before at t(`hour` - 1):
/// the sweep reads `swept` of `estimates`, and the estimates that `moved` are read too, each
/// whole. Returns the capture, its candidates taken (they would be confirmed).
fn messages_sync(
    position: &Position,
    hour: i64,
    estimates: Estimates<'_>,
    swept: &[i64],
    moved: &[i64],
) -> (Capture, Vec<Key>) {
    messages_sync_in_pages(position, hour, estimates, swept, moved, usize::MAX)
}

/// [`messages_sync`], each estimate's messages read in pages of `per_page`.
fn messages_sync_in_pages(
    position: &Position,
    hour: i64,
    estimates: Estimates<'_>,
    swept: &[i64],
    moved: &[i64],
    per_page: usize,
) -> (Capture, Vec<Key>) {
    let mut c = Capture::new(&config("a"), &selected("estimate_messages"), &[], position).unwrap();
    let ids: Vec<i64> = estimates.iter().map(|(id, _)| *id).collect();
    let slice = crate::read::cursor::SweepSlice {
        ids: swept.iter().copied().collect(),
        next: crate::state::Sweep {
            // A sync that sweeps no parent stands where the last one left it: at the last.
            after_id: *swept.last().or(ids.last()).unwrap(),
            at: t(hour),
        },
    };
    let rounds = child::Rounds::of(Some(&slice), &ids, c.round_through());
    let window = Counted::new_in_pass(t(hour - 1) - OVERLAP, t(hour) - OVERLAP);
    for (id, messages) in estimates {
        if swept.contains(id) || moved.contains(id) {
            // A parent with no children is read as one empty page, as Harvest serves it.
            let pages: Vec<Messages<'_>> = match messages.len() {
                0 => vec![&[]],
                _ => messages.chunks(per_page).collect(),
            };
            for messages in pages {
                let body = messages_page(messages);
                let page = page::parse(&body, "estimate_messages").unwrap();
                c.observe_whole(*id, &page.records, Some(t(hour)));
                c.observe_children(&rounds, *id, &page.records, Some(t(hour)), window);
            }
            c.end_whole(*id, true);
        }
    }
    c.acting_as(Some("user 7".into()));
    c.end_children(&rounds, &ids);
    let pending = std::mem::take(&mut c.pending);
    // Confirmed as `child::confirm` would: an estimate no longer listed answers 404.
    for (parent, _) in &pending {
        if !ids.contains(parent) {
            c.digests.drop_deleted(*parent);
        }
    }
    (c, pending)
}

fn state_of(c: &Capture) -> Position {
    Position {
        deletions: Some(c.ledger()),
        ..Position::default()
    }
}

fn minutes_after(hour: i64, minutes: i64) -> DateTime<Utc> {
    t(hour) + Duration::minutes(minutes)
}

/// Syncs one estimate each of the estimates 1 to 4, one message each, from hour 1 to hour 4:
/// the first round. Returns the state after it.
fn after_a_round_of_four_estimates() -> Position {
    after_a_round_of_four_estimates_with(&[(30, t(0))])
}

/// The same with estimate 3's messages `three`.
fn after_a_round_of_four_estimates_with(three: Messages<'_>) -> Position {
    let mut state = Position::default();
    for hour in 1..=4 {
        let estimates: Estimates<'_> = &[
            (1, &[(10, t(0))]),
            (2, &[(20, t(0))]),
            (3, three),
            (4, &[(40, t(0))]),
        ];
        let (c, pending) = messages_sync(&state, hour, estimates, &[hour], &[]);
        assert!(pending.is_empty());
        state = state_of(&c);
    }
    state
}

/// Three messages of an estimate 5 created in the second round (more than a digest names).
fn three_new_messages() -> [(i64, DateTime<Utc>); 3] {
    [
        (50, minutes_after(4, 30)),
        (51, minutes_after(4, 30)),
        (52, minutes_after(4, 40)),
    ]
}

/// The candidates named, by hour, in hourly syncs over `hours` of the messages of four
/// estimates, `estimates(hour)` there: the sweep reads one an hour in turn, and the estimates
/// `moved.1` moved at hour `moved.0`.
fn named_sweeping_four<'a>(
    mut state: Position,
    hours: std::ops::RangeInclusive<i64>,
    estimates: impl Fn(i64) -> Estimates<'a>,
    moved: (i64, &[i64]),
) -> Vec<(i64, Key)> {
    let mut named = Vec::new();
    for hour in hours {
        let swept = [(hour - 1) % 4 + 1];
        let moved: &[i64] = if hour == moved.0 { moved.1 } else { &[] };
        let (c, pending) = messages_sync(&state, hour, estimates(hour), &swept, moved);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    named
}

/// Soak seed 2's estimate message: created without moving its estimate after the second round
/// began, first read by that round's sweep, then deleted with its estimate. No pass's window
/// holds its creation, yet the sweep's read is the first after it: the round counts it, as
/// new, and names it in the next sync, which lists no such estimate; the next round names the
/// estimate's older message.
#[test]
fn a_child_created_without_moving_its_parent_is_counted_by_the_first_read_after_it() {
    let mut state = after_a_round_of_four_estimates();
    let one: Messages<'_> = &[(10, t(0))];
    let two: Messages<'_> = &[(20, t(0))];
    let four: Messages<'_> = &[(40, t(0))];
    // The second round begins at hour 5; 31 and 32 are created at 5:30, in the pass of hour
    // 6, which reads estimate 2 (three messages: more than the estimate's digest names).
    let three: Messages<'_> = &[
        (30, t(0)),
        (31, minutes_after(5, 30)),
        (32, minutes_after(5, 30)),
    ];
    let syncs: [(i64, Estimates<'_>, i64); 7] = [
        (5, &[(1, one), (2, two), (3, &[(30, t(0))]), (4, four)], 1),
        (6, &[(1, one), (2, two), (3, three), (4, four)], 2),
        (7, &[(1, one), (2, two), (3, three), (4, four)], 3),
        // Estimate 3 is deleted with its messages.
        (8, &[(1, one), (2, two), (4, four)], 4),
        (9, &[(1, one), (2, two), (4, four)], 1),
        (10, &[(1, one), (2, two), (4, four)], 2),
        (11, &[(1, one), (2, two), (4, four)], 4),
    ];
    let mut named = Vec::new();
    for (hour, estimates, swept) in syncs {
        let (c, pending) = messages_sync(&state, hour, estimates, &[swept], &[]);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(8, (3, 31)), (8, (3, 32)), (11, (3, 30))]);
}

/// Soak seed 15 (6-hour sweep): a message created as the second round began, its estimate
/// (created with it) read whole then, both deleted before the sweep got to the estimate. No
/// read of the estimate follows, and the round that counted the message cannot name it (the
/// one before lacked it): the third round did, two rounds after the deletion. The estimate's
/// digest holds that one message, so the next sync, which lists no such estimate, names it
/// (its confirmation is the estimate's 404). The estimate's read had counted it into the
/// second round, which no longer counts it then, so the third round does not name it again.
#[test]
fn a_deleted_parent_s_one_child_its_digest_holds_is_named_in_the_next_sync() {
    let four: [(i64, Messages<'_>); 4] = [
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let five = [(50, minutes_after(4, 30))];
    let with_five = [&four[..], &[(5, &five[..])]].concat();
    let at = |hour| if hour == 5 { &with_five[..] } else { &four[..] };
    let named = named_sweeping_four(after_a_round_of_four_estimates(), 5..=13, at, (5, &[5]));
    assert_eq!(named, [(6, (5, 50))]);
}

/// The parents whose digests a round keeps that the next sync's list lacks name their
/// children when each held one or two (an estimate deleted with its two messages), and
/// nothing when one held none or three: the rounds name those.
#[test]
fn a_deleted_parent_s_digest_names_its_children_in_the_next_sync_if_it_held_one_or_two() {
    let state = after_a_round_of_four_estimates();
    let three: Messages<'_> = &[(70, t(0)), (71, t(0)), (72, t(0))];
    let estimates: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(40, t(0))]),
        (5, &[(50, minutes_after(4, 30)), (51, minutes_after(4, 40))]),
        (6, &[]),
        (7, three),
    ];
    let (c, pending) = messages_sync(&state, 5, estimates, &[1], &[5, 6, 7]);
    assert!(pending.is_empty());
    let (_, pending) = messages_sync(&state_of(&c), 6, &estimates[..4], &[2], &[]);
    assert_eq!(pending, [(5, 50), (5, 51)]);
}

/// A deleted parent's children that its digest names in a sync between two rounds (the last
/// one complete, the next not begun: no parent read) are taken out of the last round, so the
/// next round's comparison with it does not name them again (an invoice deleted with its two
/// messages an hour after a first sync).
#[test]
fn children_a_digest_names_between_two_rounds_are_not_named_again_by_the_next() {
    let mut state = after_a_round_of_four_estimates_with(&[(30, t(0)), (31, t(0))]);
    let gone: Estimates<'_> = &[(1, &[(10, t(0))]), (2, &[(20, t(0))]), (4, &[(40, t(0))])];
    let (c, pending) = messages_sync(&state, 5, gone, &[], &[]);
    assert!(c.round.is_none(), "no round under way");
    assert_eq!(pending, [(3, 30), (3, 31)]);
    state = state_of(&c);
    for (hour, swept) in [(6, 1), (7, 2), (8, 4), (9, 1), (10, 2), (11, 4)] {
        let (c, pending) = messages_sync(&state, hour, gone, &[swept], &[]);
        assert_eq!(pending, [], "hour {hour}");
        state = state_of(&c);
    }
}

/// A parent created in a round with three children (more than its digest names), read when
/// new, and deleted with them before the sweep gets there: the round counted them as new, so
/// the next sync, which lists no such parent, names them (confirmed by the parent's 404), not
/// the round after next; no round names them again.
#[test]
fn a_deleted_parent_s_children_created_in_the_round_under_way_are_named_in_the_next_sync() {
    let five = three_new_messages();
    let four: [(i64, Messages<'_>); 4] = [
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let with_five = [&four[..], &[(5, &five[..])]].concat();
    let at = |hour| if hour == 5 { &with_five[..] } else { &four[..] };
    let named = named_sweeping_four(after_a_round_of_four_estimates(), 5..=13, at, (5, &[5]));
    assert_eq!(named, [(6, (5, 50)), (6, (5, 51)), (6, (5, 52))]);
}

/// A deleted payment moves its invoice: here estimate 3, read before the sweep gets there,
/// whose digest names the message gone. That read is the round's first of the estimate and
/// lacks the message, so nothing of the round counted it: it is taken, not also removed from
/// the round's table (which would leave a key counted twice over in the round's new keys,
/// which then do not decode). So the same sync's estimate 5, created with three messages and
/// deleted with them an hour later, has them named in the next sync; nothing is named twice.
#[test]
fn a_child_named_at_its_parent_s_first_read_of_the_round_leaves_the_round_s_new_keys_whole() {
    let state = after_a_round_of_four_estimates_with(&[(30, t(0)), (31, t(0))]);
    let five = three_new_messages();
    let later: [(i64, Messages<'_>); 4] = [
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(31, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let with_five = [&later[..], &[(5, &five[..])]].concat();
    let (c, pending) = messages_sync(&state, 5, &with_five, &[1], &[3, 5]);
    assert_eq!(pending, [(3, 30)]);
    let round = c.round.as_ref().unwrap();
    let new = round.seen.minus(&round.taken).unwrap().decode();
    assert_eq!(
        new.map(|d| d.only_first),
        Ok(vec![(5, 50), (5, 51), (5, 52)])
    );
    let at = |_| &later[..];
    let named = named_sweeping_four(state_of(&c), 6..=13, at, (0, &[]));
    assert_eq!(named, [(6, (5, 50)), (6, (5, 51)), (6, (5, 52))]);
}

/// Soak seed 12: the round ended with the last parent, and the next sync's sweep read none.
/// A parent read in that sync (moved, or touched by a related change) counts into the next
/// round, begun then: a child it lists that is gone before that round's sweep reads the
/// parent is in it, and missing from the round after.
#[test]
fn a_parent_read_between_two_rounds_counts_into_the_next() {
    let state = after_a_round_of_four_estimates();
    let three: Messages<'_> = &[(30, t(0)), (31, minutes_after(4, 30))];
    let estimates: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, three),
        (4, &[(40, t(0))]),
    ];
    let (c, pending) = messages_sync(&state, 5, estimates, &[], &[3]);
    assert!(pending.is_empty());
    assert_eq!(c.round_through(), Some(None), "a round is under way");
    let round = c.round.as_ref().unwrap();
    assert_eq!(round.reads.keys().collect::<Vec<_>>(), [&3]);
    // The next sync's sweep begins that round with the first parent.
    let (c, _) = messages_sync(&state_of(&c), 6, estimates, &[1], &[]);
    assert_eq!(c.round_through(), Some(Some(1)));
}

/// Soak seed 4 with 100,000 time entries (pages of ten): a parent whose children take several
/// pages is one read. Its first page moved the round's last parent to it, and its later
/// pages were counted into the next round as if the sweep had gone round: the round lacked
/// them, the next round began half-way, and rows deleted after it were named syncs late.
#[test]
fn a_swept_parent_s_children_over_several_pages_count_into_its_round() {
    let two: Messages<'_> = &[(20, t(0)), (21, t(0)), (22, t(0))];
    let mut state = Position::default();
    for hour in 1..=4 {
        let estimates: Estimates<'_> = &[
            (1, &[(10, t(0))]),
            (2, two),
            (3, &[(30, t(0))]),
            (4, &[(40, t(0))]),
        ];
        let (c, pending) = messages_sync_in_pages(&state, hour, estimates, &[hour], &[], 1);
        assert!(pending.is_empty());
        assert!(
            c.upcoming.is_none(),
            "hour {hour}: the round has not gone round"
        );
        state = state_of(&c);
    }
    // Estimate 2 is deleted with its messages before the second round's sweep gets there.
    let mut named = Vec::new();
    for hour in 5..=8 {
        let estimates: Estimates<'_> =
            &[(1, &[(10, t(0))]), (3, &[(30, t(0))]), (4, &[(40, t(0))])];
        let swept = [(hour - 1) % 4 + 1];
        let (c, pending) = messages_sync_in_pages(&state, hour, estimates, &swept, &[], 1);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(8, (2, 20)), (8, (2, 21)), (8, (2, 22))]);
}

/// A parent read before the sweep gets there (it moved) counts the children the last round's
/// read of it did not list on every page of that read, not only on the first: messages on
/// the second and third pages, created after the first round read their estimate, are in the
/// second round, and the third names them once the estimate is deleted (with three messages,
/// more than its digest names).
#[test]
fn a_parent_read_early_counts_its_new_children_on_every_page() {
    let one: Messages<'_> = &[(10, t(0))];
    let two: Messages<'_> = &[(20, t(0))];
    let three: Messages<'_> = &[
        (30, t(0)),
        (31, minutes_after(3, 30)),
        (32, minutes_after(3, 30)),
    ];
    let four: Messages<'_> = &[(40, t(0))];
    let mut state = after_a_round_of_four_estimates();
    let mut named = Vec::new();
    for hour in 5..=12 {
        let mut estimates = vec![(1, one), (2, two), (4, four)];
        // Estimate 3 moves at hour 5 and is deleted with its messages before hour 6.
        if hour == 5 {
            estimates.insert(2, (3, three));
        }
        let swept = [(hour - 1) % 4 + 1];
        let moved: &[i64] = if hour == 5 { &[3] } else { &[] };
        let (c, pending) = messages_sync_in_pages(&state, hour, &estimates, &swept, moved, 1);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(8, (3, 30)), (12, (3, 31)), (12, (3, 32))]);
}

/// A child read by several reads of one round (its parent moved before the sweep read it, or
/// after, or twice) is counted by the first only: counted twice, its key would cancel out of
/// the table, and the next round would name nothing of its parent's.
#[test]
fn a_child_read_by_several_reads_of_a_round_is_counted_once() {
    let mut state = after_a_round_of_four_estimates();
    let one: Messages<'_> = &[(10, t(0))];
    // 22 comes after the sweep read estimate 2 (hour 6), 32 and 42 before the sweep reads
    // theirs; 3 moves at hour 6, 2 at hours 7 and 8, 4 at hours 6 and 7.
    let two: Messages<'_> = &[(20, t(0)), (22, minutes_after(6, 30))];
    let three: Messages<'_> = &[(30, t(0)), (32, minutes_after(5, 30))];
    let four: Messages<'_> = &[(40, t(0)), (42, minutes_after(5, 30))];
    let all: Estimates<'_> = &[(1, one), (2, two), (3, three), (4, four)];
    let syncs: [(i64, i64, &[i64]); 4] =
        [(5, 1, &[]), (6, 2, &[3, 4]), (7, 3, &[2, 4]), (8, 4, &[2])];
    for (hour, swept, moved) in syncs {
        let (c, pending) = messages_sync(&state, hour, all, &[swept], moved);
        assert!(pending.is_empty(), "hour {hour}: {pending:?}");
        state = state_of(&c);
    }
    // Estimates 2, 3 and 4 are deleted: the round that reads estimate 1 alone names all their
    // messages.
    let (_, pending) = messages_sync(&state, 9, &[(1, one)], &[1], &[]);
    assert_eq!(
        pending,
        [(2, 20), (2, 22), (3, 30), (3, 32), (4, 40), (4, 42)]
    );
}

/// A sync that fails after a checkpoint goes on from it: the parents read before the
/// checkpoint counted their new children, and their next read must not count them again.
#[test]
fn a_checkpoint_keeps_when_each_parent_read_so_far_counted_its_new_children() {
    let state = after_a_round_of_four_estimates();
    let one: Messages<'_> = &[(10, t(0))];
    let three: Messages<'_> = &[
        (30, t(0)),
        (32, minutes_after(5, 30)),
        (33, minutes_after(5, 30)),
    ];
    let all: Estimates<'_> = &[(1, one), (2, &[(20, t(0))]), (3, three), (4, &[(40, t(0))])];
    let (c, _) = messages_sync(&state, 5, all, &[1], &[]);
    // Hour 6: estimate 3 moved and was read, a checkpoint was written, and the sync failed.
    let state = state_of(&c);
    let mut c = Capture::new(&config("a"), &selected("estimate_messages"), &[], &state).unwrap();
    let rounds = child::Rounds::of(
        Some(&crate::read::cursor::SweepSlice {
            ids: [2].into(),
            next: crate::state::Sweep {
                after_id: 2,
                at: t(6),
            },
        }),
        &[1, 2, 3, 4],
        c.round_through(),
    );
    let body = messages_page(three);
    let page = page::parse(&body, "estimate_messages").unwrap();
    c.observe_whole(3, &page.records, Some(t(6)));
    let window = Counted::new_in_pass(t(5) - OVERLAP, t(6) - OVERLAP);
    c.observe_children(&rounds, 3, &page.records, Some(t(6)), window);
    c.end_whole(3, true);
    let mut state = state_of(&c);
    // The sync is tried again and goes on after estimate 3; the sweep reads 2, 3 and 4.
    for hour in [7, 8, 9] {
        let (c, pending) = messages_sync(&state, hour, all, &[hour - 5], &[]);
        assert!(pending.is_empty());
        state = state_of(&c);
    }
    // Estimates 2 and 4, one message each in their digests, name theirs first; estimate 3's
    // three messages, more than its digest names, are named by the round.
    let (_, pending) = messages_sync(&state, 10, &[(1, one)], &[1], &[]);
    assert_eq!(pending, [(2, 20), (4, 40), (3, 30), (3, 32), (3, 33)]);
}

/// Soak seed 1's user project task, as a message: created after the last round read its
/// estimate, first read by this round when the estimate moved, before its sweep, then deleted
/// with the estimate before the sweep got there. The moved read is the estimate's first since
/// the round began: it counts what the last round's read did not list, and the sweep neither
/// counts it again nor misses the rest.
#[test]
fn a_parent_read_before_the_sweep_gets_there_counts_its_children_for_the_round_once() {
    let mut state = Position::default();
    let one: Messages<'_> = &[(10, t(0))];
    let four: Messages<'_> = &[(40, t(0))];
    // 22, 32 and 33 are created at 3:30, after the first round read estimates 2 and 3 (three
    // messages: more than its digest names once estimate 3 is deleted).
    let two: Messages<'_> = &[(20, t(0)), (22, minutes_after(3, 30))];
    let three: Messages<'_> = &[
        (30, t(0)),
        (32, minutes_after(3, 30)),
        (33, minutes_after(3, 30)),
    ];
    let before: Estimates<'_> = &[(1, one), (2, &[(20, t(0))]), (3, &[(30, t(0))]), (4, four)];
    let after: Estimates<'_> = &[(1, one), (2, two), (3, three), (4, four)];
    // Estimate 3 is deleted with its messages after hour 5.
    let gone: Estimates<'_> = &[(1, one), (2, two), (4, four)];
    let syncs: [(i64, Estimates<'_>, i64, &[i64]); 10] = [
        (1, before, 1, &[]),
        (2, before, 2, &[]),
        (3, before, 3, &[]),
        (4, after, 4, &[]),
        // The second round: estimates 2 and 3 move before its sweep reads them.
        (5, after, 1, &[2, 3]),
        (6, gone, 2, &[]),
        (7, gone, 4, &[]),
        (8, gone, 1, &[]),
        (9, gone, 2, &[]),
        (10, gone, 4, &[]),
    ];
    let mut named = Vec::new();
    for (hour, estimates, swept, moved) in syncs {
        let (c, pending) = messages_sync(&state, hour, estimates, &[swept], moved);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    // The second round's read of estimate 3 at hour 5 counted 32, which the first round's
    // had not listed, and left 30 to the sweep, which never got there: the second round names
    // 30 when it completes, the third 32 and 33. 22, counted twice by the second round, would
    // be named too: the third takes it once.
    assert_eq!(named, [(7, (3, 30)), (10, (3, 32)), (10, (3, 33))]);
}

/// The Large account's invoices, as estimates: 500, more than digests, swept a hundred a sync
/// (five syncs a round), one message each, from hour 1 to hour 15. Estimate `parent` gets a
/// second message at `created` without moving, moves in the hours `moved`, and, if `deleted`,
/// is deleted with its messages after hour 10, in the second round. Returns the candidates
/// named, by hour.
fn five_hundred_estimates(
    parent: i64,
    created: DateTime<Utc>,
    moved: &[i64],
    deleted: bool,
) -> Vec<(i64, Key)> {
    const ESTIMATES: i64 = 500;
    const PER_SYNC: i64 = 100;
    // The estimates of a sync, with their messages.
    let at = |hour: i64| -> Vec<(i64, Vec<_>)> {
        (1..=ESTIMATES)
            .filter(|id| *id != parent || hour <= 10 || !deleted)
            .map(|id| {
                let mut messages = vec![(10 * id, t(0))];
                if id == parent && t(hour) > created {
                    messages.push((10 * id + 2, created));
                }
                (id, messages)
            })
            .collect()
    };
    let mut state = Position::default();
    let mut named = Vec::new();
    for hour in 1..=15 {
        let estimates = at(hour);
        let estimates: Vec<(i64, Messages<'_>)> = estimates
            .iter()
            .map(|(id, m)| (*id, m.as_slice()))
            .collect();
        let first = (hour - 1) % 5 * PER_SYNC + 1;
        let swept: Vec<i64> = (first..first + PER_SYNC).collect();
        let moved: &[i64] = if moved.contains(&hour) {
            &[parent]
        } else {
            &[]
        };
        let (c, pending) = messages_sync(&state, hour, &estimates, &swept, moved);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    named
}

/// A message created after the second round began, its estimate swept at hour 10: the
/// round's first 200 estimates' digests are forgotten by then, as recent as the round. The
/// sweep's read is the estimate's first since the round began, as the round's reads say: it
/// counts both messages, and the third round names both.
#[test]
fn a_parent_whose_digest_was_forgotten_counts_its_children_at_its_first_read_of_the_round() {
    let named = five_hundred_estimates(450, minutes_after(6, 30), &[], true);
    assert_eq!(named, [(15, (450, 4500)), (15, (450, 4502))]);
    // The same when the estimate moves before the sweep gets there: that read is its first.
    let named = five_hundred_estimates(450, minutes_after(6, 30), &[9], true);
    assert_eq!(named, [(15, (450, 4500)), (15, (450, 4502))]);
}

/// Estimate 450 of 500, its digest forgotten, moves at hour 7 before the second round's sweep
/// gets to it at hour 10, and one of its two messages is deleted after that read: the read
/// counted only messages created since the first round began (none), and left the others to
/// the sweep, so the second round names the message when it completes, not the third.
#[test]
fn a_child_deleted_after_its_parent_s_early_read_without_a_digest_is_named_by_that_round() {
    let mut state = Position::default();
    let mut named = Vec::new();
    for hour in 1..=15 {
        let messages = |id: i64| {
            let mut m = vec![(10 * id, t(0))];
            if id == 450 && hour <= 7 {
                m.push((10 * id + 1, t(0)));
            }
            m
        };
        let messages: Vec<_> = (1..=500).map(|id| (id, messages(id))).collect();
        let estimates: Vec<(i64, Messages<'_>)> =
            messages.iter().map(|(id, m)| (*id, m.as_slice())).collect();
        let first = (hour - 1) % 5 * 100 + 1;
        let swept: Vec<i64> = (first..first + 100).collect();
        let moved: &[i64] = if hour == 7 { &[450] } else { &[] };
        if hour == 7 {
            let c = Capture::new(&config("a"), &selected("estimate_messages"), &[], &state);
            assert_eq!(
                c.unwrap().digests.read_at(450),
                None,
                "its digest is forgotten"
            );
        }
        let (c, pending) = messages_sync(&state, hour, &estimates, &swept, moved);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(10, (450, 4501))]);
}

/// More first reads before the sweep gets there than a round keeps (1,200 of 1,600 estimates
/// move as the second round begins): those past [`child::MAX_READS`] count only the messages
/// created since the estimate's last whole read, as reads did before rounds kept them, and the
/// sweep those created before the round began. Each message is counted once: no live one is
/// named, and one deleted in the third round is named when that round completes.
#[test]
fn first_reads_past_what_a_round_keeps_count_each_child_once() {
    const ESTIMATES: i64 = 1600;
    const PER_SYNC: i64 = 400;
    let mut state = Position::default();
    let mut named = Vec::new();
    for hour in 1..=12 {
        // Estimate 1500's message is deleted after the second round, before the third's sweep.
        let messages: Vec<(i64, Vec<_>)> = (1..=ESTIMATES)
            .map(|id| {
                let kept = id != 1500 || hour <= 8;
                (id, kept.then_some((10 * id, t(0))).into_iter().collect())
            })
            .collect();
        let estimates: Vec<(i64, Messages<'_>)> =
            messages.iter().map(|(id, m)| (*id, m.as_slice())).collect();
        let first = (hour - 1) % 4 * PER_SYNC + 1;
        let swept: Vec<i64> = (first..first + PER_SYNC).collect();
        let moved: Vec<i64> = if hour == 5 {
            (PER_SYNC + 1..=ESTIMATES).collect()
        } else {
            Vec::new()
        };
        let (c, pending) = messages_sync(&state, hour, &estimates, &swept, &moved);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(12, (1500, 15000))]);
}

/// A message created just after its estimate was swept at hour 7, the estimate moving at hour
/// 10, its digest forgotten (the latest forgotten read is of hour 8): the round knows its sweep
/// had read the estimate by the end of hour 7's sweep, so the move counts the message.
#[test]
fn a_parent_read_after_the_sweep_counts_the_children_created_since_the_sweep_read_it() {
    let named = five_hundred_estimates(150, minutes_after(7, 30), &[10], true);
    assert_eq!(named, [(13, (150, 1500)), (13, (150, 1502))]);
}

/// An estimate read over and over, before its sweep and after, its digest forgotten each time:
/// each read counts only what is new since the one before, as the round keeps it, so a message
/// counted twice (a false candidate, or a part that no longer decodes) never comes; when the
/// estimate goes, both messages are named.
#[test]
fn a_parent_read_many_times_in_a_round_counts_each_child_once() {
    for (parent, created, moved) in [
        (450, minutes_after(7, 30), &[7, 9, 10][..]),
        (150, minutes_after(6, 30), &[6, 9, 10]),
        (150, minutes_after(8, 30), &[6, 9, 10]),
        (150, minutes_after(8, 30), &[8, 9, 10]),
    ] {
        let named = five_hundred_estimates(parent, created, moved, false);
        assert_eq!(named, [], "{parent} moved in {moved:?}");
        let named = five_hundred_estimates(parent, created, moved, true);
        let (first, second) = ((parent, 10 * parent), (parent, 10 * parent + 2));
        assert!(
            named.iter().map(|(_, key)| *key).eq([first, second]),
            "{parent} moved in {moved:?}: {named:?}"
        );
    }
}

/// A round keeps in the state the parents it read other than by its sweep, with when, and
/// where its sweep stood after each sync; a state written when it kept its early parents
/// without the time reads back with those times unknown, and is written as it was.
#[test]
fn a_round_keeps_its_reads_and_its_sweep_s_times_and_reads_a_state_without_them() {
    let state = after_a_round_of_four_estimates();
    let all: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let (c, _) = messages_sync(&state, 5, all, &[1], &[3]);
    let (c, _) = messages_sync(&state_of(&c), 6, all, &[2], &[1]);
    let round = c.ledger().round.unwrap();
    let times = |text: &str| crate::read_times::decode(text, round.at).unwrap();
    assert_eq!(times(&round.reads), [(1, t(6)), (3, t(5))]);
    assert!(round.reads_complete);
    assert_eq!(times(&round.swept_by), [(1, t(5)), (2, t(6))]);
    // Estimate 3's first read in the round counted what the first round's read at hour 3 had
    // not listed.
    assert_eq!(times(&round.early_since), [(3, t(3))]);
    assert_eq!(round.early, Vec::<i64>::new());

    let mut before = round.clone();
    before.early = vec![3];
    before.reads = crate::read_times::encode([(1, t(6))], round.at);
    before.reads_complete = false;
    before.swept_by = String::new();
    before.early_since = String::new();
    let working = listing::Working::restore(&before).unwrap();
    assert_eq!(working.reads[&3], None);
    assert_eq!(working.reads[&1], Some(t(6)));
    assert!(!working.reads_complete);
    assert_eq!(working.stored(), before);
}

/// A sync whose sweep ends one round and begins the next: the first round's read of its last
/// estimates is not counted into the second, whose own sweep counts them when it gets there.
/// Two messages of such an estimate deleted after that sync (more than its digest names) are
/// missing from the second round, which names them when it completes, not a round later.
#[test]
fn the_sweep_that_ends_a_round_does_not_count_into_the_next() {
    let with: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(40, t(0)), (41, t(0)), (42, t(0))]),
    ];
    let without: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0))]),
        (4, &[(41, t(0))]),
    ];
    // Three estimates a sync: rounds end at hours 2, 3 and 4 (with estimates 4, 4 and 4).
    let syncs: [(i64, Estimates<'_>, &[i64]); 4] = [
        (1, with, &[1, 2, 3]),
        (2, with, &[4, 1, 2]),
        (3, without, &[3, 4, 1]),
        (4, without, &[2, 3, 4]),
    ];
    let mut state = Position::default();
    let mut named = Vec::new();
    for (hour, estimates, swept) in syncs {
        let (c, pending) = messages_sync(&state, hour, estimates, swept, &[]);
        named.extend(pending.into_iter().map(|key| (hour, key)));
        state = state_of(&c);
    }
    assert_eq!(named, [(3, (4, 40)), (3, (4, 42))]);
}

/// An estimate moved before the sweep got there, and three of its messages (more than its
/// digest names) deleted after that read and before the sweep: the moved read counted nothing
/// the first round had listed, so the sweep counts only the message left, and the second
/// round names the three when it completes, not a round later.
#[test]
fn a_child_deleted_between_its_parent_s_early_read_and_the_sweep_is_named_by_that_round() {
    let all: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0)), (31, t(0)), (32, t(0)), (33, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let fewer: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(31, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let at = |hour| if hour <= 5 { all } else { fewer };
    let named = named_sweeping_four(Position::default(), 1..=12, at, (5, &[3]));
    assert_eq!(named, [(8, (3, 30)), (8, (3, 32)), (8, (3, 33))]);
}

/// An estimate moved before the sweep got there, and one of its messages deleted after that
/// read (which counted none of them: all were older than the first round's read): its digest
/// names the message when the sweep reads the estimate, and the round takes it out although
/// that read had not counted it. Nothing is named twice, and the three messages left, deleted
/// in the next round (more than the digest names), are named when that one's sweep reads
/// the estimate empty: the second round's table, one key short, decodes as before.
#[test]
fn a_child_a_digest_names_after_an_early_read_that_had_not_counted_it_is_named_once() {
    let all: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(30, t(0)), (31, t(0)), (32, t(0)), (33, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let without_30: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[(31, t(0)), (32, t(0)), (33, t(0))]),
        (4, &[(40, t(0))]),
    ];
    let none: Estimates<'_> = &[
        (1, &[(10, t(0))]),
        (2, &[(20, t(0))]),
        (3, &[]),
        (4, &[(40, t(0))]),
    ];
    let at = |hour| match hour {
        ..=5 => all,
        6..=9 => without_30,
        _ => none,
    };
    let named = named_sweeping_four(Position::default(), 1..=12, at, (5, &[3]));
    assert_eq!(
        named,
        [(7, (3, 30)), (11, (3, 31)), (11, (3, 32)), (11, (3, 33))]
    );
}

/// A round longer than the sweep times it keeps (60 syncs, one estimate each) merges the
/// closest into the later: at most 48, and each still a time by which its sweep had read
/// every estimate up to it, so that no later read counts a message twice.
#[test]
fn a_long_round_keeps_48_sweep_times_each_still_a_bound_of_the_sweep_s_reads() {
    let messages: Vec<[(i64, DateTime<Utc>); 1]> = (1..=60).map(|id| [(10 * id, t(0))]).collect();
    let estimates: Vec<(i64, Messages<'_>)> = (1..=60)
        .zip(&messages)
        .map(|(id, m)| (id, m.as_slice()))
        .collect();
    let mut state = Position::default();
    let mut c = None;
    for hour in 1..=119 {
        let swept = [(hour - 1) % 60 + 1];
        let (capture, _) = messages_sync(&state, hour, &estimates, &swept, &[]);
        state = state_of(&capture);
        c = Some(capture);
    }
    // The second round began at hour 61 and has swept estimates 1 to 59, one an hour.
    let round = c.unwrap().ledger().round.unwrap();
    let times = crate::read_times::decode(&round.swept_by, round.at).unwrap();
    assert_eq!(times.len(), 48);
    assert_eq!(times.last(), Some(&(59, t(119))));
    for (through, by) in &times {
        assert!(*by >= t(60 + through), "{through} by {by}");
    }
    assert!(times.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
}
