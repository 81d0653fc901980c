//! Why a request failed, in a form the read engine can act on (skip a stream, end it
//! INCOMPLETE, fail the check) and a person can read. Nothing here ever holds a secret.

use std::fmt;

use url::Url;

/// The longest server-provided message kept in an error: enough for Harvest's one-line
/// `{"message": …}` bodies, short enough that an HTML error page cannot flood the logs.
const MAX_MESSAGE_CHARS: usize = 300;

/// A request that did not produce a usable response. Each variant is a different decision for
/// the caller: `Forbidden` skips one stream, `Transient` ends a stream INCOMPLETE, `Unreachable`
/// ends the whole run, `Unauthorized` and `Config` mean the config must be fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// 401 after the one OAuth refresh and retry (or at once with a PAT): the token is wrong,
    /// expired or revoked, or the account id is not one the token can reach.
    Unauthorized {
        /// The request's path and query, secrets stripped.
        url_path: String,
        /// What Harvest said, if anything.
        message: String,
    },
    /// 403: the token's user lacks the role this endpoint needs.
    Forbidden {
        /// The request's path and query, secrets stripped.
        url_path: String,
    },
    /// 404: no such resource (or route) in this account.
    NotFound {
        /// The request's path and query, secrets stripped.
        url_path: String,
    },
    /// Another status that retrying cannot fix (e.g. 422); not retried.
    Rejected {
        /// The request's path and query, secrets stripped.
        url_path: String,
        /// The HTTP status.
        status: u16,
        /// Harvest's `{"message": …}`, truncated.
        message: String,
    },
    /// 429, 5xx, timeouts, connection failures or unparsable bodies, until retries ran out.
    Transient {
        /// The request's path and query, secrets stripped.
        url_path: String,
        /// How many times the request was sent.
        attempts: usize,
        /// The cause of the last failure.
        last_error: String,
    },
    /// No request of the run got an answer: connecting to the API host failed (refused, no
    /// route, a name that does not resolve) for as long as the run tries, so every request
    /// fails at once with this (see `reach`).
    Unreachable {
        /// The API's host, with its port when it has one.
        host: String,
        /// Connection attempts that failed, over every request of the run.
        failures: u64,
        /// Seconds from the first failed connection to the verdict.
        waited_secs: u64,
        /// The last connection error.
        last_error: String,
    },
    /// A URL off the configured API scheme, host and port (e.g. a hostile `links.next`):
    /// refused, never requested.
    ForeignHost {
        /// The refused URL, secrets stripped.
        url: String,
    },
    /// A response body larger than the client accepts: refused rather than held in memory.
    TooLarge {
        /// The request's path and query, secrets stripped.
        url_path: String,
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// The config cannot work, e.g. the OAuth token endpoint rejects the client or the refresh
    /// token.
    Config {
        /// What is wrong and what to do about it.
        message: String,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Unauthorized { url_path, message } => write!(
                f,
                "Harvest answered 401 Unauthorized to GET {url_path} ({message}): the access \
                 token is wrong, expired or revoked, or account_id names an account this token \
                 cannot access; check the credentials and account_id in the config"
            ),
            FetchError::Forbidden { url_path } => write!(
                f,
                "Harvest answered 403 Forbidden to GET {url_path}: the Harvest user who owns the \
                 token does not have the permission (an Administrator or Manager role) to read \
                 this; use a token of a user who has it, or deselect the stream"
            ),
            FetchError::NotFound { url_path } => write!(
                f,
                "Harvest answered 404 Not Found to GET {url_path}: the resource does not exist, \
                 or account_id or api_url is wrong"
            ),
            FetchError::Rejected {
                url_path,
                status,
                message,
            } => write!(
                f,
                "Harvest rejected GET {url_path} with HTTP {status}: {message}"
            ),
            FetchError::Transient {
                url_path,
                attempts,
                last_error,
            } => write!(
                f,
                "the request to {url_path} failed {attempts} times in a row, last with: \
                 {last_error}; Harvest or the network may be having trouble, a later run will \
                 resume"
            ),
            FetchError::Unreachable {
                host,
                failures,
                waited_secs,
                last_error,
            } => write!(
                f,
                "cannot reach Harvest at {host}: no request of this sync got an answer, \
                 {failures} connection attempts failed over {waited_secs} s, last with: \
                 {last_error}; check the network, any proxy, and api_url (a later run resumes \
                 from the last STATE)"
            ),
            FetchError::ForeignHost { url } => write!(
                f,
                "refused to request {url}: it is not on the configured api_url's scheme, host \
                 and port (a pagination link pointing elsewhere is never followed)"
            ),
            FetchError::TooLarge { url_path, limit } => write!(
                f,
                "the response to GET {url_path} is larger than {limit} bytes and was refused"
            ),
            FetchError::Config { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for FetchError {}

/// Query parameters whose values are credentials whatever the server put them there for
/// (`account_id` included: Harvest accepts it in the query, and spec.json marks it secret).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "password", "account"]
        .iter()
        .any(|part| name.contains(part))
}

/// A URL's path and query as shown in errors and logs: credential-like parameters are removed.
pub fn shown_path(url: &Url) -> String {
    let mut shown = url.path().to_owned();
    if url.query().is_some() {
        let kept = url.query_pairs().filter(|(name, _)| !is_secret_param(name));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        if !query.is_empty() {
            shown.push('?');
            shown.push_str(&query);
        }
    }
    shown
}

/// A whole URL as shown in errors and logs: no user info, credential-like parameters removed.
pub fn shown_url(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    format!("{origin}{}", shown_path(url))
}

/// A server-provided text cut to a loggable length, on one line.
pub fn truncated(text: &str) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_path_strips_credentials_and_keeps_the_rest() {
        let url = Url::parse(
            "https://api.example/v2/clients?access_token=abc&page=2&client_secret=s&account_id=7&per_page=2000",
        )
        .unwrap();
        assert_eq!(shown_path(&url), "/v2/clients?page=2&per_page=2000");
        let only_token = Url::parse("https://api.example/v2/users/me?access_token=abc").unwrap();
        assert_eq!(shown_path(&only_token), "/v2/users/me");
    }

    #[test]
    fn shown_url_drops_user_info() {
        let url = Url::parse("http://user:pw@evil.example:8080/x?refresh_token=r&a=1").unwrap();
        assert_eq!(shown_url(&url), "http://evil.example:8080/x?a=1");
    }

    #[test]
    fn truncated_keeps_one_short_line() {
        assert_eq!(truncated("  not\nfound \n"), "not found");
        let long = "é".repeat(1000);
        assert_eq!(truncated(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
