//! `source-harvest configure`: the configured catalog `read` needs, built from the catalog
//! `discover` prints, for people running the connector by hand (the Airbyte platform writes its
//! own). It needs no config and no Harvest account, and prints plain JSON, not Airbyte messages,
//! so that `> catalog.json` gives a file `read --catalog` accepts.

use std::process::ExitCode;

use serde_json::{json, Value};

use source_harvest::catalog;

/// Prints the configured catalog, or the error (exit code 2, as for a bad argument).
pub fn run(streams: &[String], mode: Mode) -> ExitCode {
    match configured_catalog(streams, mode) {
        Ok(catalog) => {
            println!("{catalog:#}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// How the selected streams are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Incremental (append + dedup) where the stream supports it, full refresh elsewhere.
    Incremental,
    /// Every stream read whole (overwrite).
    #[value(name = "full_refresh")]
    FullRefresh,
}

/// The configured catalog of `streams` (every stream when empty), in the order `discover`
/// lists them; an unknown name is an error that lists the known ones.
pub fn configured_catalog(streams: &[String], mode: Mode) -> Result<Value, String> {
    let discovered = serde_json::to_value(catalog::discovered())
        .map_err(|e| format!("cannot serialize the catalog: {e}"))?;
    let all = discovered["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name_of = |s: &Value| s["name"].as_str().unwrap_or_default().to_string();
    let unknown: Vec<&str> = streams
        .iter()
        .filter(|wanted| !all.iter().any(|s| name_of(s) == **wanted))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<String> = all.iter().map(name_of).collect();
        return Err(format!(
            "unknown stream{} {}; the streams are: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let configured: Vec<Value> = all
        .into_iter()
        .filter(|s| streams.is_empty() || streams.contains(&name_of(s)))
        .map(|stream| catalog::configure_stream(stream, mode == Mode::Incremental))
        .collect();
    Ok(json!({ "streams": configured }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(catalog: &Value) -> Vec<&str> {
        catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stream"]["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn no_streams_means_every_stream() {
        let catalog = configured_catalog(&[], Mode::Incremental).unwrap();
        assert_eq!(
            names(&catalog).len(),
            source_harvest::streams::STREAMS.len()
        );
    }

    #[test]
    fn selected_streams_come_in_discover_order_with_their_modes() {
        let wanted = [
            "users".to_string(),
            "clients".to_string(),
            "company".to_string(),
        ];
        let catalog = configured_catalog(&wanted, Mode::Incremental).unwrap();
        assert_eq!(names(&catalog), ["clients", "company", "users"]);
        let clients = &catalog["streams"][0];
        assert_eq!(clients["sync_mode"], "incremental");
        assert_eq!(clients["destination_sync_mode"], "append_dedup");
        assert_eq!(clients["cursor_field"], json!(["updated_at"]));
        assert_eq!(clients["primary_key"], json!([["id"]]));
        let company = &catalog["streams"][1];
        assert_eq!(
            company["sync_mode"], "full_refresh",
            "company has no cursor"
        );
        assert!(company.get("cursor_field").is_none());
    }

    #[test]
    fn full_refresh_overwrites_every_stream() {
        let catalog = configured_catalog(&["clients".to_string()], Mode::FullRefresh).unwrap();
        assert_eq!(catalog["streams"][0]["sync_mode"], "full_refresh");
        assert_eq!(catalog["streams"][0]["destination_sync_mode"], "overwrite");
    }

    #[test]
    fn an_unknown_stream_names_the_known_ones() {
        let error = configured_catalog(&["clints".to_string()], Mode::Incremental).unwrap_err();
        assert!(
            error.starts_with("unknown stream clints; the streams are: clients,"),
            "{error}"
        );
    }
}
