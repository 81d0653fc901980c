//! When a child stream's round last counted a parent's children: what decides which of the
//! children a read of the parent counts, so that the round holds each child once.

use chrono::{DateTime, Utc};

use super::super::listing::Working;

/// When a round's count of a parent's children last read them, as far as it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LastRead {
    /// Before the round began: the next read counts every child it lists.
    BeforeListing,
    /// At this time, or by it: the next read counts the children created since.
    By(DateTime<Utc>),
    /// Unknown (no read kept a time since capture began).
    Unknown,
}

/// Whether the sweep of `listing` has yet to read `parent`.
pub(super) fn is_unswept(listing: &Working, parent: i64) -> bool {
    listing.through.is_none_or(|through| parent > through)
}

/// When `listing` last counted `parent`'s children: the time of its last read other than by
/// the sweep, as the listing kept it (a digest is kept at the end of the sync, and may be of a
/// read another listing counted); else the parent's digest's time (`digest`); else the time
/// its sweep had read `parent` by. With more parents than digests, most have none: a listing
/// that kept every read knows that a parent its sweep has not read and it kept no read of was
/// not read since it began. Without that, the latest time of a forgotten digest (`forgotten`)
/// bounds it: a child created between the parent's last read and that time is missed, never
/// counted twice (which would leave the table undecodable).
pub(super) fn last_read(
    listing: &Working,
    parent: i64,
    digest: Option<DateTime<Utc>>,
    forgotten: Option<DateTime<Utc>>,
) -> LastRead {
    let unswept = is_unswept(listing, parent);
    let before = |at: DateTime<Utc>| {
        if at < listing.at && unswept {
            LastRead::BeforeListing
        } else {
            LastRead::By(at)
        }
    };
    match (listing.reads.get(&parent), digest) {
        (Some(Some(at)), _) => LastRead::By(*at),
        // A digest may be of a read the listing did not count (the other listing's sweep).
        (None, _) if listing.reads_complete && unswept => LastRead::BeforeListing,
        (_, Some(at)) => before(at),
        // Kept by a state written before the time was: read since the round began, so by
        // the latest forgotten time.
        (Some(None), None) => forgotten.map_or(LastRead::Unknown, LastRead::By),
        (None, None) => {
            let swept_by = (listing.swept_by.iter())
                .find(|(through, _)| *through >= parent)
                .map(|(_, at)| *at)
                .filter(|_| listing.reads_complete);
            match (swept_by, forgotten) {
                (Some(at), Some(f)) => LastRead::By(at.min(f)),
                (Some(at), None) | (None, Some(at)) => before(at),
                (None, None) => LastRead::Unknown,
            }
        }
    }
}
