//! Who a listing is made as. A manager's token sees fewer records than an administrator's, so
//! a listing compared with one made as another user (or the same with other roles) would take
//! the records only the other sees for deletions: every sync asks Harvest once which user the
//! token acts as, and a change starts capture again.

use super::Capture;
use crate::digest::Digests;
use crate::read::Run;

impl Capture {
    /// Checks, before a listing is compared, that the token acts as the user (with the roles)
    /// the last comparison was made as: asked of Harvest once a sync, the first included, so
    /// that a first listing keeps its user too. A listing compared with one made by another
    /// user (who may see fewer records) would take the records only the other sees for
    /// deletions.
    pub(in crate::read) async fn check_user(&mut self, run: &Run) {
        let user = run.identity().await;
        self.acting_as(user);
    }

    /// Records that the token acts as `user` (`None`: Harvest did not say), which the next
    /// comparison needs to be the user of the last one.
    pub(in crate::read) fn acting_as(&mut self, user: Option<String>) {
        match user {
            None => {
                self.comparable = false;
                self.user_unknown = true;
            }
            Some(user) => {
                if self.user.as_ref().is_some_and(|u| *u != user) {
                    tracing::info!(
                        "stream {}: the token acts as another user or with other roles than at the last listing; deletion capture starts again with the next complete listing",
                        self.def.name
                    );
                    self.start_again();
                }
                self.user = Some(user);
            }
        }
    }

    /// Forgets every listing, digest and candidate: all were made as another user, who may
    /// see other records, and so are the pages the listing under way read in earlier syncs. A
    /// candidate confirmed by listing again as this user, or a listing of this user compared
    /// with them, would take a record only the other sees for a deletion: a false tombstone.
    /// Deletions until the next complete listing are missed instead.
    fn start_again(&mut self) {
        // What the parts of the listing under way found gone, as the last user, and could not
        // name stays counted.
        if let (Some(round), Some(known)) = (&self.round, &self.known) {
            let overflowed: Vec<_> = round.overflowed.iter().map(|(s, n)| (*s, *n)).collect();
            let since = known.at;
            for (stream, records) in overflowed {
                self.count_unnamed(stream, records as usize, since);
            }
        }
        self.comparable = false;
        self.known = None;
        self.round = None;
        self.upcoming = None;
        self.pending.clear();
        self.pending_derived.clear();
        self.named_by_parts.clear();
        self.named_by_whole.clear();
        self.digests = Digests::default();
    }
}
