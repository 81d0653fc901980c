use proptest::prelude::*;
use serde_json::Value;

use super::*;

#[test]
fn each_record_is_its_exact_text_with_its_keys() {
    let body = "{ \"clients\" : [ { \"i\\u0078\" : 1 ,\n \"a\\\"b\": {\"id\": 9, \"updated_at\": 1}, \"id\":2 , \"updated_at\":\"2024-01-01T00:00:00Z\" } ,\n {} , 7, [1,{}], \"x\", null, {\"id\":1,\"id\":2}, {\"\\u0069d\":5} ] }";
    let page = parse(body, "clients").unwrap();
    let raws: Vec<&str> = page.records.iter().map(|r| r.raw).collect();
    assert_eq!(
        raws,
        [
            "{ \"i\\u0078\" : 1 ,\n \"a\\\"b\": {\"id\": 9, \"updated_at\": 1}, \"id\":2 , \"updated_at\":\"2024-01-01T00:00:00Z\" }",
            "{}",
            "",
            "",
            "",
            "",
            "{\"id\":1,\"id\":2}",
            "{\"\\u0069d\":5}",
        ]
    );
    let keys = page.records[0].keys.as_ref().unwrap();
    assert_eq!(keys.id().unwrap(), 2);
    assert_eq!(keys.updated_at().unwrap(), "2024-01-01T00:00:00Z");
    assert!(page.records[1].keys.as_ref().unwrap().id.is_none());
    for record in &page.records[2..6] {
        assert!(record
            .keys
            .as_ref()
            .unwrap_err()
            .contains("not a JSON object"));
    }
    assert!(page.records[6]
        .keys
        .as_ref()
        .unwrap_err()
        .contains("names id twice"));
    assert_eq!(page.records[7].keys.as_ref().unwrap().id(), Ok(5));
}

#[test]
fn a_records_dates_are_found_while_it_is_parsed_the_first_one_named_counting() {
    let body = r#"{"time_entries": [{"id": 1, "spent_date": "2024-02-29", "x": {"spent_date": "1999-01-01"}, "spent_date": "2024-03-01"}, {"id": 2, "issue_date": "2024-01-05"}]}"#;
    let page = parse(body, "time_entries").unwrap();
    let first = page.records[0].keys.as_ref().unwrap();
    assert_eq!(first.spent_date, Some(r#""2024-02-29""#));
    assert_eq!(first.issue_date, None);
    let second = page.records[1].keys.as_ref().unwrap();
    assert_eq!(
        second.date("issue_date"),
        chrono::NaiveDate::from_ymd_opt(2024, 1, 5)
    );
}

/// JSON values of every kind, nested, with keys that collide with the ones read.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[\\PC\"\\\\{}\\[\\]:,]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("updated_at".to_string()),
                    "[a-z\"\\\\]{0,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Prints `value` as JSON with whitespace taken in turn from `spaces` around every token,
/// the layouts a server may send that neither compact nor pretty printing produces.
fn print_spaced(value: &Value, spaces: &mut impl Iterator<Item = &'static str>, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(spaces.next().unwrap_or(""));
                print_spaced(item, spaces, out);
                out.push_str(spaces.next().unwrap_or(""));
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(spaces.next().unwrap_or(""));
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push_str(spaces.next().unwrap_or(""));
                out.push(':');
                out.push_str(spaces.next().unwrap_or(""));
                print_spaced(item, spaces, out);
                out.push_str(spaces.next().unwrap_or(""));
            }
            out.push('}');
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

proptest! {
    /// Whatever the records and however the page is spaced, each object record's text is
    /// exactly that record, and its keys are its own top-level fields.
    #[test]
    fn records_are_found_exactly(
        records in prop::collection::vec(json_value(), 0..6),
        spaces in prop::collection::vec(prop::sample::select(vec!["", "", " ", "\n", "\t", " \r\n  "]), 0..200),
    ) {
        let page = serde_json::json!({ "results": records, "links": { "next": null } });
        let mut body = String::new();
        print_spaced(&page, &mut spaces.into_iter().cycle(), &mut body);
        let parsed = parse(&body, "results").unwrap();
        prop_assert_eq!(parsed.records.len(), records.len());
        for (record, expected) in parsed.records.iter().zip(&records) {
            match expected {
                Value::Object(fields) => {
                    prop_assert!(record.raw.starts_with('{') && record.raw.ends_with('}'), "{:?}", record.raw);
                    let text: Value = serde_json::from_str(record.raw).unwrap();
                    prop_assert_eq!(&text, expected);
                    let keys = record.keys.as_ref().unwrap();
                    let field = |name: &str| fields.get(name).map(|v| serde_json::from_str::<Value>(v.to_string().as_str()).unwrap());
                    prop_assert_eq!(keys.id.map(|t| serde_json::from_str::<Value>(t).unwrap()), field("id"));
                    prop_assert_eq!(keys.updated_at.map(|t| serde_json::from_str::<Value>(t).unwrap()), field("updated_at"));
                }
                _ => prop_assert!(record.keys.is_err()),
            }
        }
    }
}

#[test]
fn records_nested_deeper_than_the_limit_are_found() {
    let nested = |n: usize| format!("{{\"x\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
    assert!(!nests_deeper_than(&nested(MAX_DEPTH), MAX_DEPTH));
    assert!(nests_deeper_than(&nested(MAX_DEPTH + 1), MAX_DEPTH));
    // Many brackets, side by side or in strings, are not depth.
    let flat = format!(
        "{{\"a\":[{}],\"s\":\"{}\\\"{}\"}}",
        "{},".repeat(200) + "{}",
        "[".repeat(200),
        "{".repeat(200)
    );
    assert!(
        serde_json::from_str::<serde_json::Value>(&flat).is_ok(),
        "{flat}"
    );
    assert!(!nests_deeper_than(&flat, MAX_DEPTH));
    let page = format!(r#"{{"clients":[{},{{"id":2}}]}}"#, nested(MAX_DEPTH + 1));
    let page = parse(&page, "clients").unwrap();
    assert!(page.records[0].nests_too_deep());
    assert!(!page.records[1].nests_too_deep());
}

#[test]
fn reads_records_next_and_total() {
    let body = r#"{"clients":[{"id":1,"name":"A"},{"id":2}],"per_page":2000,"total_pages":1,"total_entries":2,
        "next_page":null,"previous_page":null,"page":1,"links":{"first":"x","next":"http://h/v2/clients?page=2","previous":null,"last":"y"}}"#;
    let page = parse(body, "clients").unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(page.records[0].raw, r#"{"id":1,"name":"A"}"#);
    assert_eq!(page.records[1].keys.as_ref().unwrap().id, Some("2"));
    assert_eq!(page.next.as_deref(), Some("http://h/v2/clients?page=2"));
    assert_eq!(page.total_entries, Some(2));
    assert_eq!(page.total_pages, Some(1));
}

#[test]
fn the_hint_comes_from_the_envelope_end() {
    let page = |records: &str, links: &str| {
        format!(r#"{{"clients":[{records}],"total_entries":4001,"page":1,"links":{links}}}"#)
    };
    let next = r#"{"first":"f","next":"/v2/clients?page=2","previous":null,"last":"l"}"#;
    let last = r#"{"first":"f","next":null,"previous":null,"last":"l"}"#;
    assert_eq!(
        hint(&page("", next)),
        Some(Hint {
            next: "/v2/clients?page=2".into(),
            total_entries: Some(4001)
        })
    );
    assert_eq!(hint(&page("", last)), None);
    assert_eq!(hint(r#"{"links":{"next":"x"},"page":1}"#), None);
    assert_eq!(hint(r#"{"clients":[]}"#), None);
    // A key that merely ends in `links` does not fool the parse, only the hint.
    let escaped = r#"{"clients":[],"links":{"next":null},"\"links":{"next":"/v2/x"}}"#;
    assert_eq!(hint(escaped).map(|h| h.next).as_deref(), Some("/v2/x"));
    assert_eq!(parse(escaped, "clients").unwrap().next, None);
}

#[test]
fn a_missing_array_or_garbage_is_an_error() {
    for body in [r#"{"users":[]}"#, r#"[1,2]"#, r#"{"clients":{}}"#] {
        let e = parse(body, "clients").unwrap_err();
        assert!(e.contains("`clients`"), "{body}: {e}");
    }
}
