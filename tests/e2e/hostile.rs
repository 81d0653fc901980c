//! Hostile server (issue 5, point 5): an enormous body, a `links.next` that loops, a
//! `links.next` to another host, records without their primary key and records with wrong
//! types. Each is detected and reported — the body is capped, the loop is broken, the foreign
//! host is never contacted, the bad record is named by stream and id — and the stream it hits
//! ends INCOMPLETE with a trace saying why, never silently COMPLETE; the other streams finish.
//! Records without their cursor, which the emulator cannot serve, come from a small server of
//! this file.

use std::collections::BTreeMap;
use std::net::TcpListener;

use crate::common::*;
use crate::resilience::*;
use harvest_emulator::{Emulator, FaultKind, Faults, Scale};
use serde_json::{json, Value};

/// The stream under attack and a bystander that must not be harmed.
const STREAMS: [&str; 2] = ["clients", "projects"];

/// A sync of [`STREAMS`] with every response of `/v2/clients` carrying `kind`.
fn attacked(kind: FaultKind, page_size: u32) -> (Emulator, Run) {
    let emu = emulator(Scale::Tiny);
    emu.set_faults(Faults {
        paths: vec!["/v2/clients".into()],
        ..Faults::mix(5, 1.0, &[kind])
    });
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": page_size})),
        &STREAMS,
        "incremental",
    );
    let run = input.read(None);
    (emu, run)
}

/// The common verdict: non-zero exit, clients INCOMPLETE with one error trace for it (returned),
/// projects COMPLETE with all its records.
fn clients_stopped_projects_complete(what: &str, emu: &Emulator, run: &Run) -> Value {
    let counts = emu.request_counts();
    println!(
        "{what}: {} requests ({} to /v2/clients), faults injected {:?}; connector: {}",
        counts.total,
        counts.path("/v2/clients"),
        counts.faults,
        client_figures(run)
    );
    assert_ne!(run.code, 0, "{what}: an incomplete sync exits non-zero");
    let statuses = last_statuses(run);
    assert_eq!(statuses["clients"], "INCOMPLETE", "{what}");
    assert_eq!(statuses["projects"], "COMPLETE", "{what}");
    assert_eq!(
        run.stream("projects").len() as u64,
        emu.expected_counts()["projects"],
        "{what}: the bystander has all its records"
    );
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{what}: {errors:?}");
    assert_eq!(errors[0]["stream_descriptor"]["name"], "clients", "{what}");
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    errors[0].clone()
}

#[test]
fn an_enormous_body_is_cut_at_the_cap_and_reported() {
    let (emu, run) = attacked(FaultKind::HugeBody, 2000);
    let error = clients_stopped_projects_complete("huge body", &emu, &run);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("is larger than 67108864 bytes, the most the connector reads, even in a page of one record"),
        "{message}"
    );
    assert_eq!(error["failure_type"], "system_error");
    // Each answer is cut at the cap; the page is asked for again in halves (a legitimate page
    // over the cap gets through that way), 2000 down to 1 record: 11 requests, never a retry
    // of the same one, which would read the same 512 MiB.
    assert_eq!(emu.request_counts().path("/v2/clients"), 11);
    let halvings = run
        .logs()
        .lines()
        .filter(|l| {
            l.starts_with("\"WARN\" stream clients: the page at")
                && l.contains("reading the same records again in pages of")
        })
        .count();
    assert_eq!(halvings, 10, "{}", run.logs());
    assert!(run.stream("clients").is_empty());
}

#[test]
fn a_next_link_loop_is_broken_and_reported() {
    let (emu, run) = attacked(FaultKind::NextLinkLoop, 2);
    let error = clients_stopped_projects_complete("loop", &emu, &run);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("points back to a page already read") && message.contains("endless loop"),
        "{message}"
    );
    // The page is read once (or twice, if the server's spelling of the link differs from the
    // connector's), never followed around the loop.
    let requests = emu.request_counts().path("/v2/clients");
    assert!(requests <= 2, "{requests} requests for one page");
    assert!(run.stream("clients").len() <= 2 * requests as usize);
}

#[test]
fn a_next_link_to_another_host_is_refused_and_never_requested() {
    // The foreign link names 127.0.0.2 on the emulator's port, where the emulator (bound to
    // 127.0.0.1) does not listen: listen there, to see that the connector never connects.
    let emu = emulator(Scale::Tiny);
    let port = emu.addr().port();
    let foreign = TcpListener::bind(("127.0.0.2", port)).expect("listen on 127.0.0.2");
    foreign.set_nonblocking(true).unwrap();
    emu.set_faults(Faults {
        paths: vec!["/v2/clients".into()],
        ..Faults::mix(5, 1.0, &[FaultKind::ForeignNextLink])
    });
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 2})),
        &STREAMS,
        "incremental",
    );
    let run = input.read(None);
    let error = clients_stopped_projects_complete("foreign", &emu, &run);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("refused to request http://127.0.0.2:{port}")),
        "{message}"
    );
    assert_eq!(
        foreign.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing connected to the foreign host"
    );
    assert_eq!(emu.request_counts().path("/v2/clients"), 1, "one page read");
    // A page whose next link is hostile is not trusted: its records are not emitted either
    // (the next run reads them again).
    assert!(run.stream("clients").is_empty());
}

#[test]
fn a_record_without_its_primary_key_is_reported_and_the_stream_is_not_complete() {
    let (emu, run) = attacked(FaultKind::MissingPrimaryKey, 2);
    let error = clients_stopped_projects_complete("missing id", &emu, &run);
    let pages = emu.request_counts().path("/v2/clients");
    let logs = run.logs();
    let reported: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("\"ERROR\" stream clients: a record"))
        .collect();
    assert_eq!(reported.len() as u64, pages, "one per page: {logs}");
    assert!(
        reported.iter().all(|l| l.contains("it has no id")),
        "{logs}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{pages} records were malformed")),
        "{error}"
    );
    // The bad records are not emitted, the good ones are, and every emitted one has its key.
    let clients = run.stream("clients");
    assert_eq!(
        clients.len() as u64,
        emu.expected_counts()["clients"] - pages
    );
    assert!(!clients.is_empty() && clients.iter().all(|c| c["id"].is_i64()));
    // The cursor did not move past the bad records: the next run reads them again.
    assert!(run
        .final_stream_states()
        .get("clients")
        .is_none_or(|s| s.get("updated_at").is_none()));
}

#[test]
fn a_record_with_wrong_types_is_reported_with_its_id() {
    let (emu, run) = attacked(FaultKind::WrongTypes, 2);
    clients_stopped_projects_complete("wrong types", &emu, &run);
    let pages = emu.request_counts().path("/v2/clients");
    let logs = run.logs();
    let reported: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("\"ERROR\" stream clients: a record (id \""))
        .collect();
    assert_eq!(reported.len() as u64, pages, "one per page, named: {logs}");
    assert!(
        reported
            .iter()
            .all(|l| l.contains("its id is not an integer")),
        "{logs}"
    );
    let clients = run.stream("clients");
    assert!(!clients.is_empty() && clients.iter().all(|c| c["id"].is_i64()));
}

/// A server whose `/v2/clients` page holds one good record and two without a cursor, for the
/// one hostile shape the emulator cannot produce.
fn start_cursorless_server() -> std::net::SocketAddr {
    let page = axum::routing::get(|| async {
        (
            [("content-type", "application/json")],
            r#"{"clients":[
                {"id":1,"name":"Good","updated_at":"2024-01-01T00:00:00Z"},
                {"id":2,"name":"No cursor"},
                {"id":3,"name":"Null cursor","updated_at":null}
            ],"per_page":2000,"total_pages":1,"total_entries":3,"page":1,
            "links":{"first":null,"next":null,"previous":null,"last":null}}"#,
        )
    });
    serve(axum::Router::new().route("/v2/clients", page))
}

#[test]
fn records_without_their_cursor_are_reported_with_their_ids() {
    let addr = start_cursorless_server();
    let files = Files::new();
    let config = json!({
        "account_id": "1",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "a-token"},
        "api_url": format!("http://{addr}/v2"),
        "max_retries": 0
    });
    let config = files.json("config.json", &config);
    let catalog = files.json("catalog.json", &catalog(&["clients"], "incremental"));
    let run = run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    assert_ne!(run.code, 0);
    assert_eq!(last_statuses(&run)["clients"], "INCOMPLETE");
    let logs = run.logs();
    for id in [2, 3] {
        assert!(
            logs.contains(&format!(
                "\"ERROR\" stream clients: a record (id {id}) was not emitted: it has no updated_at"
            )),
            "{logs}"
        );
    }
    let clients = run.stream("clients");
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["id"], 1);
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("2 records were malformed"),
        "{}",
        errors[0]
    );
    assert!(
        run.final_stream_states().is_empty(),
        "no STATE moves the cursor past the bad records"
    );
}

/// A malformed record is read again by the next sync, never resumed past: no STATE follows it,
/// so resuming from the last one emitted reads it again — on a cursor-paginated list
/// (contacts), where no step back would rescue it, and in a child stream (invoice_payments),
/// whose STATE names the last parent done — and the two runs together hold every record.
#[test]
fn a_malformed_record_is_read_again_by_the_next_sync_not_resumed_past() {
    let cases = [
        ("contacts", "/v2/contacts"),
        ("invoice_payments", "/v2/invoices/"),
    ];
    for (stream, path) in cases {
        for mode in ["incremental", "full_refresh"] {
            let emu = emulator(Scale::Small);
            emu.set_faults(Faults {
                paths: vec![path.into()],
                ..Faults::mix(1, 0.34, &[FaultKind::MissingPrimaryKey])
            });
            let input = ReadInput::new(
                &config(&emu, json!({"page_size": 5, "checkpoint_interval": 1})),
                &[stream],
                mode,
            );
            let first = input.read(None);
            assert_ne!(first.code, 0, "{stream} {mode}: {}", first.logs());
            let faults = emu.request_counts().faults;
            emu.set_faults(Faults::none());
            let second = input.read(Some(&first.final_state()));
            assert_eq!(second.code, 0, "{stream} {mode}: {}", second.logs());
            let ids: std::collections::BTreeSet<i64> = first
                .stream(stream)
                .iter()
                .chain(&second.stream(stream))
                .map(|r| r["id"].as_i64().expect("emitted records have their id"))
                .collect();
            println!(
                "{stream} {mode}: faults {faults:?}; first run {} records and {} STATEs, second {} records",
                first.stream(stream).len(),
                first.of_type("STATE").len(),
                second.stream(stream).len()
            );
            assert_eq!(
                ids.len() as u64,
                emu.expected_counts()[stream],
                "{stream} {mode}: every record in one of the two runs"
            );
        }
    }
}

/// What a pretty-printing proxy in front of the emulator forwarded: each JSON body's records
/// (a list's array, or the body itself for a single record), by path.
type Forwarded = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A proxy to `emu` that forwards every GET and answers with the emulator's JSON indented, as
/// a debugging proxy or a gateway can: `\n` line ends, `\r\n` for `company`. Links in the
/// bodies point back at the proxy (the host the client asked for).
fn start_pretty_proxy(emu: &Emulator, forwarded: Forwarded) -> std::net::SocketAddr {
    let upstream = format!("http://{}", emu.addr());
    let handler = move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
        let (upstream, forwarded) = (upstream.clone(), forwarded.clone());
        async move {
            let host = headers
                .get("host")
                .expect("a Host header")
                .to_str()
                .unwrap();
            let own = format!("http://{host}");
            let mut request = reqwest::Client::new().get(format!("{upstream}{uri}"));
            for name in ["authorization", "harvest-account-id", "user-agent"] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.as_bytes());
                }
            }
            let response = request.send().await.expect("the emulator answers");
            let status = response.status().as_u16();
            let date = response.headers().get("date").cloned();
            let text = response.text().await.unwrap().replace(&upstream, &own);
            let body: Value = serde_json::from_str(&text).expect("the emulator sends JSON");
            let path = uri.path().to_string();
            let records = match path.strip_prefix("/v2/") {
                Some("company") => vec![body.clone()],
                Some(key) => body[key].as_array().cloned().unwrap_or_default(),
                None => Vec::new(),
            };
            forwarded
                .lock()
                .unwrap()
                .extend(records.into_iter().map(|r| (path.clone(), r)));
            let mut pretty = serde_json::to_string_pretty(&body).unwrap() + "\n";
            if path == "/v2/company" {
                pretty = pretty.replace('\n', "\r\n");
            }
            let mut response = axum::http::Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if let Some(date) = date {
                response = response.header("date", date);
            }
            response.body(axum::body::Body::from(pretty)).unwrap()
        }
    };
    serve(axum::Router::new().fallback(handler))
}

/// Issue 22, point 3: a server that indents its bodies (a debugging proxy, a gateway) must not
/// make a record span several lines: every stdout line is one message, and the records are
/// the server's.
#[test]
fn pretty_printed_bodies_are_written_one_message_per_line() {
    let emu = emulator(Scale::Tiny);
    let forwarded = Forwarded::default();
    let addr = start_pretty_proxy(&emu, forwarded.clone());
    let mut config = config(&emu, json!({"page_size": 2}));
    config["api_url"] = json!(format!("http://{addr}/v2"));
    let input = ReadInput::new(&config, &["clients", "company"], "full_refresh");
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(!lines.is_empty());
    assert_eq!(lines.len(), run.messages.len(), "one message per line");
    assert!(!run.stdout.contains('\r'), "no carriage return on stdout");
    let forwarded = forwarded.lock().unwrap();
    let served = |path: &str| -> Vec<Value> {
        let records: Vec<Value> = forwarded
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect();
        assert!(!records.is_empty(), "the proxy forwarded {path}");
        records
    };
    let clients = served("/v2/clients");
    assert!(
        clients.len() > 2,
        "several pages of clients: {}",
        clients.len()
    );
    assert_eq!(clients.len() as u64, emu.expected_counts()["clients"]);
    assert_eq!(run.stream("clients"), clients);
    assert_eq!(run.stream("company"), served("/v2/company"));
    assert_eq!(
        last_statuses(&run),
        [("clients", "COMPLETE"), ("company", "COMPLETE")]
            .into_iter()
            .map(|(s, v)| (s.to_string(), v.to_string()))
            .collect()
    );
}

/// A server whose `/v2/clients` never ends: page N holds two new clients and links to page
/// N + 1, while every page promises one page of two records. Counts the pages it served.
fn start_endless_server(
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> std::net::SocketAddr {
    let page = move |axum::extract::Query(query): axum::extract::Query<
        BTreeMap<String, String>,
    >,
                     headers: axum::http::HeaderMap| {
        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let n: u64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let host = headers["host"].to_str().unwrap().to_string();
        async move {
            let client = |id: u64| json!({"id": id, "name": format!("Client {id}"), "updated_at": "2024-01-01T00:00:00Z"});
            let body = json!({
                "clients": [client(2 * n - 1), client(2 * n)],
                "per_page": 2, "total_pages": 1, "total_entries": 2, "page": n,
                "links": {"next": format!("http://{host}/v2/clients?page={}&per_page=2", n + 1)}
            });
            ([("content-type", "application/json")], body.to_string())
        }
    };
    serve(axum::Router::new().route("/v2/clients", axum::routing::get(page)))
}

/// Issue 22, point 4: `links.next` that always leads to a new page of new records is followed
/// no further than twice what the first page promised (plus five pages), and the stream fails
/// naming the figures.
#[test]
fn endless_distinct_pages_stop_at_twice_the_promise_and_are_reported() {
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let addr = start_endless_server(served.clone());
    let files = Files::new();
    let config = json!({
        "account_id": "1",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "a-token"},
        "api_url": format!("http://{addr}/v2"),
        "page_size": 2,
        "max_retries": 0
    });
    let config = files.json("config.json", &config);
    let catalog = files.json("catalog.json", &catalog(&["clients"], "full_refresh"));
    let run = run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    assert_ne!(run.code, 0);
    assert_eq!(last_statuses(&run)["clients"], "INCOMPLETE");
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["stream_descriptor"]["name"], "clients");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "stream clients stopped after 14 records: links.next still leads on after 7 pages"
        ) && message.contains("total_pages 1 and total_entries 2"),
        "{message}"
    );
    // 2 × 1 + 5 pages read, each page's records written once.
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 7);
    let ids: Vec<i64> = run
        .stream("clients")
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=14).collect::<Vec<_>>());
}

/// A server answering `/v2/clients` and `/v2/company` with the given bodies, whatever they are.
fn start_body_server(clients: Vec<u8>, company: Vec<u8>) -> std::net::SocketAddr {
    let body = |bytes: Vec<u8>| {
        axum::routing::get(move || {
            let bytes = bytes.clone();
            async move { ([("content-type", "application/json")], bytes) }
        })
    };
    serve(
        axum::Router::new()
            .route("/v2/clients", body(clients))
            .route("/v2/company", body(company)),
    )
}

/// Reads clients and company from a server answering with `clients` and `company`.
fn read_bodies(clients: Vec<u8>, company: Vec<u8>) -> Run {
    let addr = start_body_server(clients, company);
    let files = Files::new();
    let config = json!({
        "account_id": "1",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "a-token"},
        "api_url": format!("http://{addr}/v2"),
        "max_retries": 0
    });
    let config = files.json("config.json", &config);
    let catalog = files.json(
        "catalog.json",
        &catalog(&["clients", "company"], "full_refresh"),
    );
    run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ])
}

/// A clients page around `record` (a record's text).
fn clients_page(record: &[u8]) -> Vec<u8> {
    let mut page = br#"{"clients":["#.to_vec();
    page.extend_from_slice(record);
    page.extend_from_slice(
        br#"],"per_page":2000,"total_pages":1,"total_entries":1,"page":1,"links":{"next":null}}"#,
    );
    page
}

/// Issue 22, point 4: bodies that are not UTF-8, nested deeper than serde_json's recursion
/// limit (which keeps the connector off a stack overflow), or cut short end their stream with a TRACE error naming it (the ERROR log naming why, for the
/// company body, which is its one record), never a panic, a stack overflow or a broken line.
#[test]
fn bodies_not_utf8_nested_too_deep_or_cut_short_fail_their_stream_with_a_trace() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let not_utf8 = b"{\"id\":1,\"name\":\"\xff\xfe\",\"updated_at\":\"2024-01-01T00:00:00Z\"}";
    let nested = format!(
        r#"{{"id":1,"updated_at":"2024-01-01T00:00:00Z","x":{}}}"#,
        deep(100_000)
    );
    // What the case is, the clients and company bodies, and what each stream's error says.
    type Case<'a> = (&'a str, Vec<u8>, Vec<u8>, &'a str, &'a str);
    let cases: [Case; 3] = [
        (
            "not UTF-8",
            clients_page(not_utf8),
            not_utf8.to_vec(),
            "/v2/clients answered with a body that is not UTF-8 (at byte 28)",
            "did not answer with a JSON object",
        ),
        (
            "nested 100000 deep",
            clients_page(nested.as_bytes()),
            nested.clone().into_bytes(),
            "a record (id 1) was not emitted: it nests deeper than 128 levels",
            "recursion limit exceeded",
        ),
        (
            "cut short",
            clients_page(br#"{"id":1,"#),
            br#"{"id":1,"name":"A""#.to_vec(),
            "HTTP 200 with a body that is not valid JSON",
            "EOF while parsing an object",
        ),
    ];
    for (what, clients, company, clients_error, company_error) in cases {
        let run = read_bodies(clients, company);
        assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
        assert_eq!(run.code, 1, "{what}: an incomplete sync, not a crash");
        assert!(run.stream("clients").is_empty() && run.stream("company").is_empty());
        let statuses = last_statuses(&run);
        assert_eq!(statuses["clients"], "INCOMPLETE", "{what}");
        assert_eq!(statuses["company"], "INCOMPLETE", "{what}");
        let errors = run.errors();
        assert_eq!(errors.len(), 2, "{what}: {errors:?}");
        let logs = run.logs();
        for (stream, expected) in [("clients", clients_error), ("company", company_error)] {
            let error = errors
                .iter()
                .find(|e| e["stream_descriptor"]["name"] == stream)
                .unwrap_or_else(|| panic!("{what}: no trace for {stream}: {errors:?}"));
            let message = error["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("stream {stream} stopped after 0 records")),
                "{what}: {message}"
            );
            assert!(
                message.contains(expected) || logs.contains(expected),
                "{what}: {stream} says {expected:?}: {message}\n{logs}"
            );
        }
    }
}
