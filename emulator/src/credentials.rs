//! The credentials the emulated account accepts, and the OAuth access tokens it has issued.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The emulated account's id (send it as `Harvest-Account-Id` or `account_id`).
pub const ACCOUNT_ID: &str = "1000001";
/// The personal access token the emulator accepts.
pub const PERSONAL_ACCESS_TOKEN: &str = "1000001.pt.emulator-personal-access-token";
/// The OAuth client id the token endpoint accepts.
pub const OAUTH_CLIENT_ID: &str = "emulator-client-id";
/// The OAuth client secret the token endpoint accepts.
pub const OAUTH_CLIENT_SECRET: &str = "emulator-client-secret";
/// The OAuth refresh token the token endpoint accepts at start (returned unchanged on refresh,
/// unless refresh tokens rotate).
pub const OAUTH_REFRESH_TOKEN: &str = "emulator-refresh-token";

/// What the token endpoint's refresh tokens are now (`GET /__emulator/oauth`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefreshTokens {
    /// Whether each refresh issues a new refresh token and revokes the one it was given.
    pub rotate_refresh_tokens: bool,
    /// The one refresh token the token endpoint accepts now.
    pub refresh_token: String,
    /// How many times it was replaced so far.
    pub rotations: u64,
}

/// Issued OAuth access tokens and per-token use counts (for expiring tokens), and the refresh
/// token the token endpoint accepts.
pub struct Tokens {
    issued: HashMap<String, Instant>,
    uses: HashMap<String, u64>,
    counter: u64,
    refresh_token: String,
    rotations: u64,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            issued: HashMap::new(),
            uses: HashMap::new(),
            counter: 0,
            refresh_token: OAUTH_REFRESH_TOKEN.to_string(),
            rotations: 0,
        }
    }
}

impl Tokens {
    /// Whether `token` is the refresh token the token endpoint accepts now.
    pub fn is_refresh_token(&self, token: &str) -> bool {
        token == self.refresh_token
    }

    /// The refresh token to answer a refresh with: with `rotate`, a new one that replaces (and
    /// so revokes) the current one; otherwise the current one.
    pub fn refresh_token_after_refresh(&mut self, rotate: bool) -> String {
        if rotate {
            self.rotations += 1;
            self.refresh_token = format!("emulator-rotated-refresh-token-{}", self.rotations);
        }
        self.refresh_token.clone()
    }

    /// The refresh token state, with whether refreshes rotate it.
    pub fn refresh_tokens(&self, rotate: bool) -> RefreshTokens {
        RefreshTokens {
            rotate_refresh_tokens: rotate,
            refresh_token: self.refresh_token.clone(),
            rotations: self.rotations,
        }
    }

    /// Issues a fresh access token valid for `ttl` from `now` (the emulator's clock).
    pub fn issue(&mut self, ttl: Duration, now: Instant) -> String {
        self.counter += 1;
        let token = format!("emulator-access-token-{}", self.counter);
        self.issued.insert(token.clone(), now + ttl);
        token
    }

    /// Whether `token` is valid at `now`; counts one use of it. After `expires_after` uses a
    /// token stops working, as a token expiring mid-sync would.
    pub fn accept(&mut self, token: &str, expires_after: Option<u64>, now: Instant) -> bool {
        if !self.is_valid(token, now) {
            return false;
        }
        let uses = self.uses.entry(token.to_string()).or_default();
        *uses += 1;
        expires_after.is_none_or(|n| *uses <= n)
    }

    /// Whether `token` is known and unexpired at `now`, without counting a use.
    pub fn is_valid(&self, token: &str, now: Instant) -> bool {
        token == PERSONAL_ACCESS_TOKEN || self.issued.get(token).is_some_and(|&expiry| now < expiry)
    }

    /// Restarts every token's use budget.
    pub fn reset_uses(&mut self) {
        self.uses.clear();
    }
}
