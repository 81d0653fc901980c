//! The client against a scripted HTTP server on 127.0.0.1: each test says what the server
//! answers to the n-th request and checks what the client sent and returned.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::config::{Credentials, RateLimit, Secret};

const PAT: &str = "pat-SECRET-1111";
const CLIENT_SECRET: &str = "client-SECRET-2222";
const REFRESH_TOKEN: &str = "refresh-SECRET-3333";
const ALL_SECRETS: [&str; 3] = [PAT, CLIENT_SECRET, REFRESH_TOKEN];

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct SeenRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl SeenRequest {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// A scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
    /// Sent only once the test releases it.
    held: Option<Arc<tokio::sync::Notify>>,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "application/json".to_owned())],
        body: Body::from(body.to_owned()),
        held: None,
    }
}

fn ok() -> Reply {
    reply(200, r#"{"clients":[{"id":1}],"links":{"next":null}}"#)
}

impl Reply {
    fn held_until(mut self, release: Arc<tokio::sync::Notify>) -> Reply {
        self.held = Some(release);
        self
    }

    fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

type Script = dyn Fn(usize, &SeenRequest) -> Reply + Send + Sync;

/// Every request the server received, in order.
type Log = Arc<Mutex<Vec<SeenRequest>>>;

struct Server {
    addr: SocketAddr,
    seen: Log,
}

impl Server {
    /// Serves `script(n, request)` for the n-th request (0-based, all paths together).
    async fn start(
        script: impl Fn(usize, &SeenRequest) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let seen = Log::default();
        let state: (Arc<Script>, Log) = (Arc::new(script), seen.clone());
        let app = axum::Router::new().fallback(answer).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { addr, seen }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    fn api_requests(&self) -> Vec<SeenRequest> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with("/v2/"))
            .collect()
    }

    fn token_requests(&self) -> Vec<SeenRequest> {
        self.seen()
            .into_iter()
            .filter(|s| s.path == "/oauth2/token")
            .collect()
    }

    fn config(&self, credentials: Credentials) -> Config {
        Config {
            account_id: "424242".to_owned(),
            start_date: Utc::now(),
            end_date: None,
            credentials,
            api_url: self.url("/v2"),
            oauth_token_url: self.url("/oauth2/token"),
            general_limit: RateLimit {
                requests: 100,
                window: Duration::from_secs(15),
            },
            reports_limit: RateLimit {
                requests: 100,
                window: Duration::from_secs(900),
            },
            page_size: 2000,
            max_concurrency: 4,
            checkpoint_interval: 10_000,
            child_sweep: None,
            capture_deletions: true,
            report_lookback_days: 62,
            request_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(2),
        }
    }

    fn pat_client(&self) -> HarvestClient {
        HarvestClient::new(&self.config(pat())).unwrap()
    }

    fn oauth_client(&self) -> HarvestClient {
        HarvestClient::new(&self.config(oauth())).unwrap()
    }
}

async fn answer(
    State((script, seen)): State<(Arc<Script>, Log)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let request = SeenRequest {
        method,
        path: uri.path_and_query().unwrap().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    let reply = script(n, &request);
    if let Some(release) = &reply.held {
        release.notified().await;
    }
    let mut response = axum::response::Response::new(reply.body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn pat() -> Credentials {
    Credentials::PersonalToken {
        api_token: Secret::new(PAT),
    }
}

fn oauth() -> Credentials {
    Credentials::OAuth {
        client_id: "client-id".to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        refresh_token: Secret::new(REFRESH_TOKEN),
    }
}

/// A token endpoint answer granting `access` (and optionally rotating the refresh token).
fn grant(access: &str, refresh: Option<&str>) -> Reply {
    let refresh = refresh.map_or(String::new(), |r| format!(r#","refresh_token":"{r}""#));
    reply(
        200,
        &format!(
            r#"{{"access_token":"{access}","token_type":"bearer","expires_in":64799{refresh}}}"#
        ),
    )
}

/// Collects every refresh token the client hands over for persisting.
fn record_rotations(client: &HarvestClient) -> Arc<Mutex<Vec<String>>> {
    let handed: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = handed.clone();
    client.on_refresh_token_rotated(Box::new(move |token| {
        sink.lock().unwrap().push(token.expose().to_owned());
    }));
    handed
}

/// Asserts that neither the error's Display nor its Debug shows any configured secret.
fn assert_no_secret(error: &FetchError, more: &[&str]) {
    let shown = format!("{error} {error:?}");
    for secret in ALL_SECRETS.iter().chain(more) {
        assert!(
            !shown.contains(secret),
            "secret {secret} leaked in: {shown}"
        );
    }
}

#[tokio::test]
async fn sends_bearer_account_user_agent_and_accept_headers() {
    let server = Server::start(|_, _| ok()).await;
    let client = server.pat_client();
    let response = client
        .get(&client.url("/users/me", &[]), Bucket::General)
        .await
        .unwrap();
    assert!(
        response.date.is_some(),
        "the server's Date header is returned"
    );
    let [request] = server.seen().try_into().unwrap();
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.path, "/v2/users/me");
    assert_eq!(request.header("authorization"), format!("Bearer {PAT}"));
    assert_eq!(request.header("harvest-account-id"), "424242");
    assert_eq!(request.header("accept"), "application/json");
    assert_eq!(
        request.header("user-agent"),
        format!(
            "source-harvest/{} ({})",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_REPOSITORY")
        )
    );
}

#[tokio::test]
async fn url_joins_the_api_path_and_encodes_the_query() {
    let server = Server::start(|_, _| ok()).await;
    let client = server.pat_client();
    let url = client.url(
        "/reports/time/clients",
        &[("from", "20240101".to_owned()), ("q", "a b&c".to_owned())],
    );
    assert_eq!(
        url.as_str(),
        format!(
            "http://{}/v2/reports/time/clients?from=20240101&q=a+b%26c",
            server.addr
        )
    );
    assert_eq!(client.url("clients", &[]).path(), "/v2/clients");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = Server::start(|n, _| match n {
        0 => reply(500, "oops"),
        1 => reply(503, "<html>busy</html>"),
        _ => ok(),
    })
    .await;
    let client = server.pat_client();
    let response = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    assert!(response.body.starts_with(b"{\"clients\""));
    assert_eq!(server.seen().len(), 3);
    let stats = client.stats();
    assert_eq!((stats.general_requests, stats.retries), (3, 2));
}

#[tokio::test]
async fn a_429_waits_retry_after_and_counts_the_throttle() {
    let server = Server::start(|n, _| match n {
        0 => reply(429, "").with("retry-after", "1"),
        _ => ok(),
    })
    .await;
    let client = server.pat_client();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(1));
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test]
async fn malformed_json_bodies_are_retried() {
    let server = Server::start(|n, _| match n {
        0 => reply(200, r#"{"clients":[{"id":1"#),
        1 => reply(200, ""),
        _ => ok(),
    })
    .await;
    let client = server.pat_client();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_connection_cut_mid_body_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let answers = [
            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"clients\":[",
            "HTTP/1.1 200 OK\r\ncontent-length: 14\r\nconnection: close\r\n\r\n{\"clients\":[]}",
        ];
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    let server = Server {
        addr,
        seen: Arc::default(),
    };
    let client = server.pat_client();
    let response = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"{\"clients\":[]}");
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = Server::start(|n, _| match n {
        0 => Reply {
            status: 200,
            headers: vec![],
            body: Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>()),
            held: None,
        },
        _ => ok(),
    })
    .await;
    let mut config = server.config(pat());
    config.request_timeout = Duration::from_secs(1);
    let client = HarvestClient::new(&config).unwrap();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn retries_run_out_into_a_transient_error() {
    let server = Server::start(|_, _| reply(502, "bad gateway")).await;
    let client = server.pat_client();
    let error = client
        .get(
            &client.url("/clients", &[("page", "2".into())]),
            Bucket::General,
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        FetchError::Transient {
            url_path: "/v2/clients?page=2".into(),
            attempts: 4,
            last_error: "HTTP 502".into(),
        }
    );
    assert_eq!(server.seen().len(), 4, "max_retries (3) + 1 attempts");
}

#[tokio::test]
async fn a_pat_401_is_final_after_one_request() {
    let server = Server::start(|_, _| {
        reply(401, r#"{"error":"invalid_token","error_description":"The access token provided is expired, revoked, malformed or invalid for other reasons."}"#)
    })
    .await;
    let client = server.pat_client();
    let error = client
        .get(&client.url("/users/me", &[]), Bucket::General)
        .await
        .unwrap_err();
    let FetchError::Unauthorized { url_path, message } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(url_path, "/v2/users/me");
    assert!(message.starts_with("The access token provided is expired"));
    assert_eq!(server.seen().len(), 1);
    assert_no_secret(&error, &[]);
}

#[tokio::test]
async fn forbidden_not_found_and_unprocessable_are_not_retried() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/v2/clients" => reply(403, r#"{"message":"Not authorized!"}"#),
        "/v2/missing" => reply(404, r#"{"status":404,"error":"Not Found"}"#),
        _ => reply(422, r#"{"message":"per_page must be at most 2000"}"#),
    })
    .await;
    let client = server.pat_client();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(&client.url(path, &[]), Bucket::General)
                .await
                .unwrap_err()
        }
    };
    assert_eq!(
        get("/clients").await,
        FetchError::Forbidden {
            url_path: "/v2/clients".into()
        }
    );
    assert_eq!(
        get("/missing").await,
        FetchError::NotFound {
            url_path: "/v2/missing".into()
        }
    );
    assert_eq!(
        get("/tasks").await,
        FetchError::Rejected {
            url_path: "/v2/tasks".into(),
            status: 422,
            message: "per_page must be at most 2000".into(),
        }
    );
    assert_eq!(server.seen().len(), 3);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn foreign_urls_are_refused_without_a_request() {
    let server = Server::start(|_, _| ok()).await;
    let client = server.pat_client();
    let port = server.addr.port();
    for foreign in [
        format!("http://evil.example:{port}/v2/clients"),
        format!("http://127.0.0.1:{}/v2/clients", port.wrapping_add(1)),
        format!("https://127.0.0.1:{port}/v2/clients"),
        format!("http://user:pw@127.0.0.1:{port}/v2/clients"),
    ] {
        let url = Url::parse(&foreign).unwrap();
        let error = client.get(&url, Bucket::General).await.unwrap_err();
        assert!(
            matches!(error, FetchError::ForeignHost { .. }),
            "{foreign}: {error:?}"
        );
    }
    assert!(server.seen().is_empty());
    assert_eq!(client.stats(), ClientStats::default());
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_whether_announced_or_streamed() {
    let big = format!(r#"{{"clients":"{}"}}"#, "x".repeat(4096));
    let server = Server::start(move |n, _| match n {
        0 => reply(200, &big),
        _ => {
            let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 128]));
            Reply {
                status: 200,
                headers: vec![],
                body: Body::from_stream(futures::stream::iter(chunks)),
                held: None,
            }
        }
    })
    .await;
    let client =
        HarvestClient::with_limits(&server.config(pat()), 1024, UNREACHABLE_AFTER).unwrap();
    let url = client.url("/clients", &[]);
    for _ in 0..2 {
        let error = client.get(&url, Bucket::General).await.unwrap_err();
        assert_eq!(
            error,
            FetchError::TooLarge {
                url_path: "/v2/clients".into(),
                limit: 1024
            }
        );
    }
    assert_eq!(server.seen().len(), 2, "not retried");
}

#[tokio::test]
async fn requests_are_counted_per_bucket() {
    let server = Server::start(|_, _| ok()).await;
    let client = server.pat_client();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    for _ in 0..2 {
        let url = client.url("/reports/time/clients", &[]);
        client.get(&url, Bucket::Reports).await.unwrap();
    }
    let stats = client.stats();
    assert_eq!((stats.general_requests, stats.reports_requests), (1, 2));
}

#[tokio::test]
async fn oauth_obtains_a_token_first_and_reuses_it() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/oauth2/token" => grant("access-1", None),
        _ => ok(),
    })
    .await;
    let client = server.oauth_client();
    for _ in 0..3 {
        client
            .get(&client.url("/clients", &[]), Bucket::General)
            .await
            .unwrap();
    }
    let [token_request] = server.token_requests().try_into().unwrap();
    assert_eq!(token_request.method, Method::POST);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(token_request.body.as_bytes())
        .into_owned()
        .collect();
    let expected = [
        ("grant_type", "refresh_token"),
        ("client_id", "client-id"),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(form, expected);
    assert!(token_request.header("harvest-account-id").is_empty());
    let api = server.api_requests();
    assert_eq!(api.len(), 3);
    assert!(api
        .iter()
        .all(|r| r.header("authorization") == "Bearer access-1"));
    assert_eq!(client.stats().token_refreshes, 1);
}

#[tokio::test]
async fn an_oauth_401_renews_the_token_once_and_retries_with_the_rotated_refresh_token() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/oauth2/token" if seen.body.contains(REFRESH_TOKEN) => {
            grant("access-1", Some("refresh-2"))
        }
        "/oauth2/token" => grant("access-2", None),
        _ if seen.header("authorization") == "Bearer access-2" => ok(),
        _ => reply(401, r#"{"error":"invalid_token"}"#),
    })
    .await;
    let client = server.oauth_client();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    let tokens = server.token_requests();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[1].body.contains("refresh_token=refresh-2"));
    assert_eq!(server.api_requests().len(), 2);
    assert_eq!(client.stats().token_refreshes, 2);
}

#[tokio::test]
async fn each_new_refresh_token_is_handed_over_once() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/oauth2/token" if seen.body.contains(REFRESH_TOKEN) => {
            grant("access-1", Some("refresh-2"))
        }
        "/oauth2/token" => grant("access-2", Some("refresh-2")),
        _ if seen.header("authorization") == "Bearer access-2" => ok(),
        _ => reply(401, r#"{"error":"invalid_token"}"#),
    })
    .await;
    let client = server.oauth_client();
    let handed = record_rotations(&client);
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    // Two grants, but only the first changed the refresh token.
    assert_eq!(server.token_requests().len(), 2);
    assert_eq!(*handed.lock().unwrap(), ["refresh-2"]);
}

#[tokio::test]
async fn a_renewal_outlives_the_request_that_started_it() {
    let (arrived, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (tell, held) = (arrived.clone(), release.clone());
    let server = Server::start(move |_, seen| match seen.path.as_str() {
        "/oauth2/token" => {
            tell.notify_one();
            grant("access-1", Some("refresh-2")).held_until(held.clone())
        }
        _ if seen.header("authorization") == "Bearer access-1" => ok(),
        _ => reply(401, r#"{"error":"invalid_token"}"#),
    })
    .await;
    let client = server.oauth_client();
    let handed = record_rotations(&client);
    // A request (a prefetch, say) starts the renewal and is cancelled while Harvest ID, which
    // has already rotated the refresh token, is still answering.
    let request = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get(&client.url("/clients", &[]), Bucket::General)
                .await
        })
    };
    arrived.notified().await;
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    release.notify_one();
    client.settle().await;
    assert_eq!(
        *handed.lock().unwrap(),
        ["refresh-2"],
        "the rotated token is kept"
    );
    // The next request uses the renewed token, with no second exchange.
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    assert_eq!(server.token_requests().len(), 1);
}

#[tokio::test]
async fn an_oauth_401_that_persists_after_renewal_is_unauthorized() {
    let server = Server::start(|n, seen| match seen.path.as_str() {
        "/oauth2/token" => grant(&format!("access-{n}"), None),
        _ => reply(401, r#"{"error":"invalid_token"}"#),
    })
    .await;
    let client = server.oauth_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Unauthorized { .. }),
        "{error:?}"
    );
    assert_eq!(
        (server.token_requests().len(), server.api_requests().len()),
        (2, 2)
    );
    assert_no_secret(&error, &["access-0", "access-2"]);
}

#[tokio::test]
async fn a_renewed_token_that_expires_while_its_request_waits_is_renewed_again() {
    // `/v2/a` is refused with access-1; its 401 with access-2 is held until `/v2/b` has
    // succeeded with access-2. So access-2 worked and then expired while `/v2/a` waited, as
    // under a long retry, and a third token is worth getting.
    let at_gate = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let grants = std::sync::atomic::AtomicUsize::new(0);
    let (gate, opened) = (at_gate.clone(), release.clone());
    let server =
        Server::start(
            move |_, seen| match (seen.path.as_str(), seen.header("authorization")) {
                ("/oauth2/token", _) => {
                    let n = grants.fetch_add(1, Ordering::Relaxed) + 1;
                    grant(&format!("access-{n}"), None)
                }
                (_, "Bearer access-3") | ("/v2/b", "Bearer access-2") => ok(),
                ("/v2/a", "Bearer access-2") => {
                    gate.notify_one();
                    let opened = opened.clone();
                    let body = futures::stream::once(async move {
                        opened.notified().await;
                        Ok::<_, std::io::Error>(r#"{"error":"invalid_token"}"#)
                    });
                    Reply {
                        status: 401,
                        headers: vec![("content-type", "application/json".to_owned())],
                        body: Body::from_stream(body),
                        held: None,
                    }
                }
                _ => reply(401, r#"{"error":"invalid_token"}"#),
            },
        )
        .await;
    let client = server.oauth_client();
    let a = tokio::spawn({
        let client = client.clone();
        async move { client.get(&client.url("/a", &[]), Bucket::General).await }
    });
    at_gate.notified().await;
    client
        .get(&client.url("/b", &[]), Bucket::General)
        .await
        .unwrap();
    release.notify_one();
    a.await.unwrap().unwrap();
    assert_eq!(server.token_requests().len(), 3);
    assert_eq!(client.stats().token_refreshes, 3);
}

#[tokio::test]
async fn concurrent_401s_share_one_renewal() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/oauth2/token" if seen.body.contains(REFRESH_TOKEN) => grant("stale", Some("refresh-2")),
        "/oauth2/token" => grant("fresh", None),
        _ if seen.header("authorization") == "Bearer fresh" => ok(),
        _ => reply(401, r#"{"error":"invalid_token"}"#),
    })
    .await;
    let client = server.oauth_client();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .get(&client.url("/clients", &[]), Bucket::General)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        server.token_requests().len(),
        2,
        "one initial grant, one renewal"
    );
}

#[tokio::test]
async fn a_rejected_refresh_token_is_a_config_error_and_no_api_request_is_made() {
    let server = Server::start(|_, _| {
        reply(
            400,
            &format!(
                r#"{{"error":"invalid_grant","error_description":"refresh token {REFRESH_TOKEN} is revoked"}}"#
            ),
        )
    })
    .await;
    let client = server.oauth_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    let FetchError::Config { message } = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("invalid_grant") && message.contains("reconnect the source"),
        "{message}"
    );
    assert!(
        message.contains("refresh token *** is revoked"),
        "{message}"
    );
    assert_eq!(server.seen().len(), 1, "not retried, API never called");
    assert_no_secret(&error, &[]);
}

#[tokio::test]
async fn a_rejected_client_is_a_config_error_naming_the_fields() {
    let server = Server::start(|_, _| reply(401, r#"{"error":"invalid_client"}"#)).await;
    let client = server.oauth_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("check client_id and client_secret"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_then_transient() {
    let server = Server::start(|_, _| reply(503, "down")).await;
    let client = server.oauth_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    let FetchError::Transient {
        url_path, attempts, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(url_path, &format!("http://{}/oauth2/token", server.addr));
    assert_eq!(*attempts, 4);
    assert_eq!(server.token_requests().len(), 4);
}

#[tokio::test]
async fn secrets_echoed_by_the_server_never_reach_an_error() {
    let server = Server::start(|_, seen| {
        let echo = format!(
            "you sent {} with {}",
            seen.header("authorization"),
            seen.body.replace('&', " ")
        );
        let body = serde_json::json!({ "message": echo }).to_string();
        match seen.path.as_str() {
            "/oauth2/token" => grant("access-SECRET-4444", None),
            "/v2/denied" => reply(401, &body),
            _ => reply(422, &body),
        }
    })
    .await;
    let client = server.oauth_client();
    for path in ["/denied", "/rejected"] {
        let url = client.url(path, &[("access_token", "access-SECRET-4444".into())]);
        let error = client.get(&url, Bucket::General).await.unwrap_err();
        assert!(error.to_string().contains("you sent Bearer ***"), "{error}");
        assert_no_secret(&error, &["access-SECRET-4444"]);
    }
    let pat_client = server.pat_client();
    let error = pat_client
        .get(&pat_client.url("/rejected", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert_no_secret(&error, &[]);
    let foreign = Url::parse(&format!("http://evil.example/x?token={PAT}&t={PAT}")).unwrap();
    let error = pat_client.get(&foreign, Bucket::General).await.unwrap_err();
    assert_no_secret(&error, &[]);
}

#[tokio::test]
async fn tokens_replaced_by_a_renewal_are_still_scrubbed_from_what_the_server_echoes() {
    let server = Server::start(|_, seen| match seen.path.as_str() {
        "/oauth2/token" if seen.body.contains(REFRESH_TOKEN) => {
            grant("access-SECRET-A", Some("refresh-SECRET-R2"))
        }
        "/oauth2/token" => grant("access-SECRET-B", Some("refresh-SECRET-R3")),
        _ if seen.header("authorization") == "Bearer access-SECRET-A" => {
            reply(401, r#"{"error":"invalid_token"}"#)
        }
        // A server repeating, after the renewal, every token it ever saw.
        _ => reply(
            422,
            r#"{"message":"access-SECRET-A refresh-SECRET-R2 access-SECRET-B refresh-SECRET-R3"}"#,
        ),
    })
    .await;
    let client = server.oauth_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert_eq!(server.token_requests().len(), 2, "renewed once");
    assert!(error.to_string().contains("*** *** *** ***"), "{error}");
    assert_no_secret(
        &error,
        &[
            "access-SECRET-A",
            "refresh-SECRET-R2",
            "access-SECRET-B",
            "refresh-SECRET-R3",
        ],
    );
}

/// A port on 127.0.0.1 where nothing listens: every connection is refused.
async fn refusing_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_host_that_refuses_every_connection_fails_all_requests_once_one_runs_out() {
    let server = Server {
        addr: refusing_port().await,
        seen: Arc::default(),
    };
    let client = server.pat_client();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    let FetchError::Unreachable {
        host,
        failures,
        last_error,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(host, &server.addr.to_string());
    assert_eq!(*failures, 4, "max_retries (3) + 1 attempts");
    assert!(last_error.starts_with("could not connect"), "{last_error}");
    assert!(
        error.to_string().contains(&server.addr.to_string()),
        "{error}"
    );
    // Every later request fails with the same verdict without trying.
    let sent = client.stats().general_requests;
    let later = client
        .get(&client.url("/users", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert_eq!(later, error);
    assert_eq!(client.stats().general_requests, sent);
}

#[tokio::test]
async fn requests_waiting_to_retry_end_at_once_when_the_budget_is_spent() {
    let addr = refusing_port().await;
    let server = Server {
        addr,
        seen: Arc::default(),
    };
    let mut config = server.config(pat());
    // Each request alone would try for hours; the run's budget ends them all together.
    config.max_retries = 50;
    config.retry_base_delay = Duration::from_millis(50);
    let client = HarvestClient::with_limits(&config, MAX_BODY, Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let requests: Vec<_> = ["/clients", "/users", "/projects", "/tasks"]
        .into_iter()
        .map(|path| {
            let client = client.clone();
            tokio::spawn(async move { client.get(&client.url(path, &[]), Bucket::General).await })
        })
        .collect();
    for request in requests {
        let error = request.await.unwrap().unwrap_err();
        assert!(matches!(error, FetchError::Unreachable { .. }), "{error:?}");
    }
    println!(
        "4 requests to a refusing host ended after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_host_that_answered_once_gets_every_requests_full_retry_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // One answer, then the host goes away: later refusals are retried, request by request.
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let body = r#"{"clients":[]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let server = Server {
        addr,
        seen: Arc::default(),
    };
    let client =
        HarvestClient::with_limits(&server.config(pat()), MAX_BODY, Duration::ZERO).unwrap();
    client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap();
    for _ in 0..2 {
        let error = client
            .get(&client.url("/clients", &[]), Bucket::General)
            .await
            .unwrap_err();
        let FetchError::Transient { attempts, .. } = error else {
            panic!("{error:?}");
        };
        assert_eq!(attempts, 4, "max_retries (3) + 1 attempts");
    }
}

#[tokio::test]
async fn timeouts_and_server_errors_never_make_a_host_unreachable() {
    let server = Server::start(|n, _| match n {
        0 => Reply {
            status: 200,
            headers: vec![],
            body: Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>()),
            held: None,
        },
        _ => reply(503, "busy"),
    })
    .await;
    let mut config = server.config(pat());
    config.request_timeout = Duration::from_millis(300);
    let client = HarvestClient::with_limits(&config, MAX_BODY, Duration::ZERO).unwrap();
    let error = client
        .get(&client.url("/clients", &[]), Bucket::General)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Transient { attempts: 4, .. }),
        "{error:?}"
    );
}
