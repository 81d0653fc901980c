//! What an emulator run is configured with: data scale and seed, rate limits, faults, forbidden
//! paths and token lifetime. Everything here can also be given on the command line, and all but
//! the data can be changed while the emulator runs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How an emulator is started. `Default` is Harvest as it really behaves, on a small dataset.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Seed of the generated data: the same seed and scale give the same records.
    pub seed: u64,
    /// How much data to generate.
    pub scale: Scale,
    /// The general bucket (`/v2/*` except reports); `None` = unlimited.
    pub general_limit: Option<RateLimit>,
    /// The reports bucket (`/v2/reports/*`); `None` = unlimited.
    pub reports_limit: Option<RateLimit>,
    /// Injected faults (none by default).
    pub faults: Faults,
    /// Path prefixes answered with 403, as for a token whose role cannot see them.
    pub forbidden: Vec<String>,
    /// Lifetime of OAuth access tokens issued by the token endpoint.
    pub access_token_ttl: Duration,
    /// Whether each refresh issues a new refresh token and revokes the one it was given, as
    /// an OAuth server that rotates refresh tokens does; off, the refresh token is returned
    /// unchanged.
    pub rotate_refresh_tokens: bool,
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: 42,
            scale: Scale::Small,
            general_limit: Some(RateLimit::HARVEST_GENERAL),
            reports_limit: Some(RateLimit::HARVEST_REPORTS),
            faults: Faults::default(),
            forbidden: Vec::new(),
            access_token_ttl: Duration::from_secs(64_799),
            rotate_refresh_tokens: false,
            port: 0,
        }
    }
}

/// A sliding-window limit: at most `requests` in any window of length `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

impl RateLimit {
    /// Harvest's general limit: 100 requests per 15 seconds.
    pub const HARVEST_GENERAL: RateLimit = RateLimit {
        requests: 100,
        window: Duration::from_secs(15),
    };
    /// Harvest's reports limit: 100 requests per 15 minutes.
    pub const HARVEST_REPORTS: RateLimit = RateLimit {
        requests: 100,
        window: Duration::from_secs(900),
    };
}

impl FromStr for RateLimit {
    type Err = String;

    /// `N/DURATION`, e.g. `100/15s`, `10/200ms`, `100/15m`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, w) = s
            .split_once('/')
            .ok_or_else(|| format!("rate limit {s:?}: expected N/DURATION such as 100/15s"))?;
        let requests = n
            .trim()
            .parse()
            .map_err(|_| format!("rate limit {s:?}: {n:?} is not a request count"))?;
        Ok(RateLimit {
            requests,
            window: parse_duration(w.trim())?,
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.requests, self.window.as_millis())
    }
}

/// Parses `250ms`, `2s`, `15m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?}: expected e.g. 250ms, 15s, 15m"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("duration {s:?}: unknown unit {unit:?}")),
    })
}

/// How much data the emulator generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// A handful of records per stream; every nullable field is null somewhere and set somewhere.
    Tiny,
    /// The demo dataset: 4,000 time entries.
    Small,
    /// 50,000 time entries.
    Medium,
    /// 1,000,000 time entries.
    Large,
    /// Any number of time entries; the other tables grow with it.
    Custom {
        /// Number of time entries.
        time_entries: u64,
    },
}

impl Scale {
    /// Number of time entries this scale generates.
    pub fn time_entries(&self) -> u64 {
        match self {
            Scale::Tiny => 40,
            Scale::Small => 4_000,
            Scale::Medium => 50_000,
            Scale::Large => 1_000_000,
            Scale::Custom { time_entries } => *time_entries,
        }
    }
}

impl FromStr for Scale {
    type Err = String;

    /// `tiny`, `small`, `medium`, `large`, or a number of time entries.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tiny" => Scale::Tiny,
            "small" => Scale::Small,
            "medium" => Scale::Medium,
            "large" => Scale::Large,
            other => Scale::Custom {
                time_entries: other.replace('_', "").parse().map_err(|_| {
                    format!("scale {s:?}: expected tiny, small, medium, large or a number")
                })?,
            },
        })
    }
}

/// Faults injected into `/v2` API responses, drawn from a seeded generator.
///
/// Each decision depends only on the seed, the request's method and URL, and how many times
/// that URL was requested before (since the faults were set), so the same seed and the same
/// requests give the same faults even when streams interleave differently.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Probability that an eligible request gets a fault (0.0–1.0).
    pub rate: f64,
    /// The faults to draw from, with relative weights.
    pub kinds: Vec<(FaultKind, u32)>,
    /// Only requests whose path starts with one of these are eligible, or, for one with a
    /// query (`/v2/clients?page=2`), whose path is its path and whose query carries its
    /// parameters and none named with a `!` (`?!updated_since`); empty = all `/v2` paths.
    pub paths: Vec<String>,
    /// Every token stops working (401 `invalid_token`) after this many API requests with it;
    /// an OAuth refresh issues a fresh token with a fresh budget.
    pub token_expires_after: Option<u64>,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// The given kinds with equal weights at `rate`.
    pub fn mix(seed: u64, rate: f64, kinds: &[FaultKind]) -> Faults {
        Faults {
            seed,
            rate,
            kinds: kinds.iter().map(|k| (k.clone(), 1)).collect(),
            ..Faults::default()
        }
    }
}

/// The longest a `stall` fault holds a response for a client that never hangs up, so a test
/// without a timeout is slow rather than stuck.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);

/// One kind of injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// 500 with an HTML body.
    Status500,
    /// 502 with an HTML body.
    Status502,
    /// 503 with an HTML body.
    Status503,
    /// 429 with `Retry-After: 1`, as a throttled request.
    Status429,
    /// The response is delayed by this long (then served normally).
    Slow(Duration),
    /// No response until the client hangs up (or [`STALL_LIMIT`] passes, then the normal
    /// response): a server that stopped answering, for clients with a timeout.
    Stall,
    /// The connection is reset before any response byte.
    ConnectionReset,
    /// Headers announce the full length, then the connection closes halfway through the body.
    TruncatedBody,
    /// A complete 200 response whose JSON is cut short.
    MalformedJson,
    /// A 200 response whose body streams 512 MiB (far over any sane page), without a length.
    HugeBody,
    /// `links.next` points back at the page just served.
    NextLinkLoop,
    /// `links.next` points at another host (`127.0.0.2`, where nothing listens).
    ForeignNextLink,
    /// The first record of the page has no `id`.
    MissingPrimaryKey,
    /// The first record of the page has its `id` as a string and `updated_at` as a number.
    WrongTypes,
}

impl FromStr for FaultKind {
    type Err = String;

    /// Names as on the command line: `500`, `502`, `503`, `429`, `slow` (2 s) or `slow:250ms`,
    /// `stall`, `reset`, `truncate`, `malformed`, `huge`, `loop`, `foreign`, `missing-id`, `wrong-types`.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(d) = s.strip_prefix("slow:") {
            return Ok(FaultKind::Slow(parse_duration(d)?));
        }
        Ok(match s {
            "500" => FaultKind::Status500,
            "502" => FaultKind::Status502,
            "503" => FaultKind::Status503,
            "429" => FaultKind::Status429,
            "slow" => FaultKind::Slow(Duration::from_secs(2)),
            "stall" => FaultKind::Stall,
            "reset" => FaultKind::ConnectionReset,
            "truncate" => FaultKind::TruncatedBody,
            "malformed" => FaultKind::MalformedJson,
            "huge" => FaultKind::HugeBody,
            "loop" => FaultKind::NextLinkLoop,
            "foreign" => FaultKind::ForeignNextLink,
            "missing-id" => FaultKind::MissingPrimaryKey,
            "wrong-types" => FaultKind::WrongTypes,
            _ => return Err(format!("unknown fault kind {s:?}")),
        })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Status500 => f.write_str("500"),
            FaultKind::Status502 => f.write_str("502"),
            FaultKind::Status503 => f.write_str("503"),
            FaultKind::Status429 => f.write_str("429"),
            FaultKind::Slow(d) => write!(f, "slow:{}ms", d.as_millis()),
            FaultKind::Stall => f.write_str("stall"),
            FaultKind::ConnectionReset => f.write_str("reset"),
            FaultKind::TruncatedBody => f.write_str("truncate"),
            FaultKind::MalformedJson => f.write_str("malformed"),
            FaultKind::HugeBody => f.write_str("huge"),
            FaultKind::NextLinkLoop => f.write_str("loop"),
            FaultKind::ForeignNextLink => f.write_str("foreign"),
            FaultKind::MissingPrimaryKey => f.write_str("missing-id"),
            FaultKind::WrongTypes => f.write_str("wrong-types"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_values() {
        assert_eq!(
            "10/200ms".parse::<RateLimit>().unwrap(),
            RateLimit {
                requests: 10,
                window: Duration::from_millis(200)
            }
        );
        assert_eq!(
            "100/15m".parse::<RateLimit>().unwrap().window,
            Duration::from_secs(900)
        );
        assert_eq!("large".parse::<Scale>().unwrap(), Scale::Large);
        assert_eq!(
            "1_000".parse::<Scale>().unwrap(),
            Scale::Custom { time_entries: 1000 }
        );
        for k in ["500", "slow:250ms", "reset", "wrong-types", "huge"] {
            assert_eq!(k.parse::<FaultKind>().unwrap().to_string(), k);
        }
        assert!("nope".parse::<FaultKind>().is_err());
    }
}
