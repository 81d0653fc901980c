//! The bearer token each request carries: a Personal Access Token as configured, or an OAuth
//! access token obtained with the refresh token, renewed before it expires and after a 401.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use url::Url;

use super::body::{describe, read_capped};
use super::error::{shown_url, truncated};
use super::retry::{parse_retry_after, Failure, RetryPolicy};
use super::{Counters, FetchError};
use crate::config::{Credentials, Secret};

/// A token endpoint answer is a few hundred bytes; anything past this is not one.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// The longest head start a renewal takes on expiry: enough for any request (or limiter wait on
/// the general bucket) in flight to finish with the old token.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Lifetime assumed when the token endpoint omits `expires_in`: short, because renewing early
/// costs one request while using an expired token costs a 401 and a retry.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The longest lifetime believed, so that a hostile `expires_in` cannot overflow the clock.
const MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The token to send, with the generation it belongs to so that a 401 can tell whether someone
/// else already renewed it.
pub struct Bearer {
    /// The token for `Authorization: Bearer …`.
    pub token: Secret,
    /// Which OAuth access token this is (0 for a PAT).
    pub generation: u64,
}

/// The connector's credentials and, for OAuth, the current access token.
pub struct Auth {
    kind: CredentialKind,
}

enum CredentialKind {
    Pat(Secret),
    OAuth(Arc<OAuth>),
}

struct OAuth {
    client_id: String,
    client_secret: Secret,
    token_url: Url,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Every refresh and access token this client held before the current ones (the config's
    /// refresh token first): a server may still echo one in a message (the answer to a request
    /// sent before a renewal), so they are scrubbed as long as the run lasts. A handful.
    retired: Mutex<Vec<Secret>>,
    /// The newest refresh token (Harvest may rotate it on each refresh).
    refresh_token: Mutex<Secret>,
    /// Told of each new refresh token, so the platform can persist it before the old one stops
    /// working.
    on_rotation: OnceLock<RotationSink>,
    /// The access token. The async mutex is held across a renewal, so however many streams need
    /// a token at once, one renewal is in flight and the others wait for its result. A renewal
    /// runs in a task of its own that holds the lock (see [`OAuth::renew`]).
    current: Arc<tokio::sync::Mutex<Option<AccessToken>>>,
    /// The access token's value, readable without waiting, to scrub it from server messages.
    current_value: Mutex<Option<Secret>>,
}

struct AccessToken {
    value: Secret,
    renew_at: Instant,
    generation: u64,
}

/// The token endpoint's success body. Not `Debug`: it holds secrets in plain strings.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// The token endpoint's error body (RFC 6749 §5.2).
#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Called with each new refresh token Harvest issues in place of the previous one.
pub type RotationSink = Box<dyn Fn(&Secret) + Send + Sync>;

impl Auth {
    /// Registers who persists rotated refresh tokens; a no-op for a personal access token, and
    /// only the first registration counts.
    pub fn on_refresh_token_rotated(&self, sink: RotationSink) {
        if let CredentialKind::OAuth(oauth) = &self.kind {
            let _ = oauth.on_rotation.set(sink);
        }
    }

    /// The credentials of the config. OAuth renewals go through `http` and are retried by
    /// `retry` like any API request.
    pub fn new(
        credentials: &Credentials,
        token_url: &Url,
        http: &reqwest::Client,
        retry: RetryPolicy,
    ) -> Auth {
        let kind = match credentials {
            Credentials::PersonalToken { api_token } => CredentialKind::Pat(api_token.clone()),
            Credentials::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => CredentialKind::OAuth(Arc::new(OAuth {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                token_url: token_url.clone(),
                http: http.clone(),
                retry,
                retired: Mutex::new(Vec::new()),
                refresh_token: Mutex::new(refresh_token.clone()),
                on_rotation: OnceLock::new(),
                current: Arc::new(tokio::sync::Mutex::new(None)),
                current_value: Mutex::new(None),
            })),
        };
        Auth { kind }
    }

    /// The token to send now, obtaining or renewing an OAuth access token first if it has none
    /// or the one it has is about to expire.
    pub async fn bearer(&self, counters: &Arc<Counters>) -> Result<Bearer, FetchError> {
        match &self.kind {
            CredentialKind::Pat(token) => Ok(Bearer {
                token: token.clone(),
                generation: 0,
            }),
            CredentialKind::OAuth(oauth) => {
                let current = oauth.current.clone().lock_owned().await;
                match current.as_ref() {
                    Some(token) if Instant::now() < token.renew_at => Ok(token.bearer()),
                    _ => OAuth::renew(oauth, current, counters).await,
                }
            }
        }
    }

    /// After the API answered 401 to `rejected`: renews the OAuth access token unless another
    /// request already did, and says whether the request is worth sending again (never for a
    /// PAT, whose 401 is final).
    pub async fn renew_after_401(
        &self,
        rejected: u64,
        counters: &Arc<Counters>,
    ) -> Result<bool, FetchError> {
        match &self.kind {
            CredentialKind::Pat(_) => Ok(false),
            CredentialKind::OAuth(oauth) => {
                let current = oauth.current.clone().lock_owned().await;
                let renewed_since = current
                    .as_ref()
                    .is_some_and(|token| token.generation != rejected);
                if !renewed_since {
                    OAuth::renew(oauth, current, counters).await?;
                }
                Ok(true)
            }
        }
    }

    /// Waits for a token renewal under way (one a cancelled request left running) to finish,
    /// so that the run does not end in the middle of it.
    pub async fn settle(&self) {
        if let CredentialKind::OAuth(oauth) = &self.kind {
            drop(oauth.current.lock().await);
        }
    }

    /// `text` (something a server said) with every secret this client knows replaced by `***`,
    /// in case a server echoes a credential back.
    pub fn scrub(&self, text: &str) -> String {
        match &self.kind {
            CredentialKind::Pat(token) => scrub(text, std::slice::from_ref(token)),
            CredentialKind::OAuth(oauth) => scrub(text, &oauth.secrets()),
        }
    }
}

impl AccessToken {
    fn bearer(&self) -> Bearer {
        Bearer {
            token: self.value.clone(),
            generation: self.generation,
        }
    }
}

impl OAuth {
    /// Renews the access token in a task of its own, which holds the token lock until done.
    /// The caller may be cancelled meanwhile (a prefetch the walk no longer needs): the
    /// exchange still finishes, so a refresh token Harvest rotated in its answer is kept and
    /// handed over rather than lost with the old one already invalid; and the next caller
    /// waits for the lock, then uses the new token.
    async fn renew(
        oauth: &Arc<OAuth>,
        mut current: OwnedMutexGuard<Option<AccessToken>>,
        counters: &Arc<Counters>,
    ) -> Result<Bearer, FetchError> {
        let (oauth, counters) = (Arc::clone(oauth), Arc::clone(counters));
        let shown = shown_url(&oauth.token_url);
        let exchange = tokio::spawn(async move { oauth.exchange(&mut current, &counters).await });
        match exchange.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(FetchError::Transient {
                url_path: shown,
                attempts: 0,
                last_error: "the token renewal was stopped with the run".into(),
            }),
        }
    }

    /// Exchanges the refresh token for a new access token and stores it in `current`.
    async fn exchange(
        &self,
        current: &mut Option<AccessToken>,
        counters: &Counters,
    ) -> Result<Bearer, FetchError> {
        let shown = shown_url(&self.token_url);
        let granted = self
            .retry
            .run(&shown, counters, || self.request_token())
            .await?;
        counters.token_refreshes.fetch_add(1, Ordering::Relaxed);
        let lifetime = granted
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs)
            .min(MAX_LIFETIME);
        if let Some(rotated) = granted.refresh_token.filter(|token| !token.is_empty()) {
            let rotated = Secret::new(rotated);
            let changed = {
                let mut newest = lock(&self.refresh_token);
                let previous = std::mem::replace(&mut *newest, rotated.clone());
                let changed = previous.expose() != rotated.expose();
                if changed {
                    lock(&self.retired).push(previous);
                }
                changed
            };
            if let Some(sink) = self.on_rotation.get().filter(|_| changed) {
                sink(&rotated);
            }
        }
        let value = Secret::new(granted.access_token);
        if let Some(previous) = lock(&self.current_value).replace(value.clone()) {
            lock(&self.retired).push(previous);
        }
        let token = AccessToken {
            value,
            renew_at: Instant::now() + lifetime - renewal_margin(lifetime),
            generation: current
                .as_ref()
                .map_or(1, |previous| previous.generation + 1),
        };
        let bearer = token.bearer();
        *current = Some(token);
        Ok(bearer)
    }

    /// One POST to the token endpoint, its outcome classified for the retry policy.
    async fn request_token(&self) -> Result<TokenResponse, Failure> {
        let refresh_token = lock(&self.refresh_token).clone();
        let mut response = self
            .http
            .post(self.token_url.clone())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", refresh_token.expose()),
            ])
            .send()
            .await
            .map_err(|e| Failure::retryable(describe(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, None));
        let body = match read_capped(&mut response, MAX_TOKEN_RESPONSE).await {
            Ok(body) => body,
            Err(_) if status.is_client_error() => Default::default(),
            Err(_) => {
                return Err(Failure::retryable(
                    "the token endpoint's answer was unreadable",
                ))
            }
        };
        if status.is_success() {
            return match serde_json::from_slice::<TokenResponse>(&body) {
                Ok(granted) if !granted.access_token.is_empty() => Ok(granted),
                _ => Err(Failure::retryable(
                    "the token endpoint answered without a usable access_token",
                )),
            };
        }
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            return Err(Failure::Retryable {
                cause: format!("the token endpoint answered HTTP {}", status.as_u16()),
                retry_after,
            });
        }
        let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
        Err(Failure::Final(FetchError::Config {
            message: self.rejection_message(status.as_u16(), &error),
        }))
    }

    /// What to tell the user when the token endpoint refuses the refresh.
    fn rejection_message(&self, status: u16, error: &TokenError) -> String {
        // Scrubbed before it is cut: a cut could leave the start of a secret that the scrub
        // of the whole message would no longer recognise.
        let code = truncated(&scrub(&error.error, &self.secrets()));
        let described = if error.error_description.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                truncated(&scrub(&error.error_description, &self.secrets()))
            )
        };
        let message = match code.as_str() {
            "invalid_grant" => format!(
                "the OAuth refresh token was rejected (invalid_grant){described}: it has expired or \
                 been revoked; reconnect the source to Harvest (authorize the OAuth application \
                 again) to get a new refresh token"
            ),
            "invalid_client" | "unauthorized_client" => format!(
                "the OAuth client was rejected ({code}){described}: check client_id and \
                 client_secret in the config against the OAuth2 application in Harvest ID"
            ),
            _ => format!(
                "the OAuth token endpoint {} refused to renew the access token (HTTP {status}{}){described}: \
                 check oauth credentials (client_id, client_secret, refresh_token) in the config",
                shown_url(&self.token_url),
                if code.is_empty() { String::new() } else { format!(", {code}") },
            ),
        };
        scrub(&message, &self.secrets())
    }

    /// Every secret this OAuth client holds or held, current access token included.
    fn secrets(&self) -> Vec<Secret> {
        let mut secrets = vec![
            self.client_secret.clone(),
            lock(&self.refresh_token).clone(),
        ];
        secrets.extend(lock(&self.current_value).clone());
        secrets.extend(lock(&self.retired).iter().cloned());
        secrets
    }
}

/// `text` with each of `secrets` replaced by `***`.
fn scrub(text: &str, secrets: &[Secret]) -> String {
    secrets
        .iter()
        .map(Secret::expose)
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| text.replace(secret, "***"))
}

/// How long before expiry a token is renewed: a tenth of its lifetime, at most five minutes.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_RENEWAL_MARGIN)
}

/// Locks a mutex whose data stays consistent even if a holder panicked (it is only ever
/// replaced whole).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_margin_is_a_tenth_of_the_lifetime_at_most_five_minutes() {
        assert_eq!(
            renewal_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(64_799)),
            Duration::from_secs(300)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
    }
}
