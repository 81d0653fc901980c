//! Edits of already rendered JSON objects, member by member, keeping the key order.
//!
//! Used where the fast renderers cannot produce the answer alone: records carrying fields set
//! through the control API, and the hostile-server faults that break one record or one link.
//! A small scanner finds the top-level members of an object; edits splice their value spans.

use serde_json::{Map, Value};

/// A top-level member of an object: key and byte span of its value.
pub struct Member<'a> {
    /// The unescaped key (keys we write never need escaping).
    pub key: &'a str,
    /// Start (inclusive) of the member, at its key's opening quote.
    pub start: usize,
    /// Index just past the `:` after the key.
    pub head_end: usize,
    /// The value's span.
    pub value: (usize, usize),
}

/// The members of the object starting at `text[at]` (`{`), and the index just after it.
pub fn members(text: &[u8], at: usize) -> Option<(Vec<Member<'_>>, usize)> {
    let mut i = skip_ws(text, at);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        i = skip_ws(text, i);
        match text.get(i)? {
            b'}' => return Some((out, i + 1)),
            b',' => i += 1,
            b'"' => {
                let start = i;
                let key_end = string_end(text, i)?;
                let key = std::str::from_utf8(&text[i + 1..key_end - 1]).ok()?;
                i = skip_ws(text, key_end);
                if text.get(i) != Some(&b':') {
                    return None;
                }
                let vstart = skip_ws(text, i + 1);
                let vend = value_end(text, vstart)?;
                out.push(Member {
                    key,
                    start,
                    head_end: i + 1,
                    value: (vstart, vend),
                });
                i = vend;
            }
            _ => return None,
        }
    }
}

/// The span of the first element of the array starting at `text[at]`, if any.
pub fn first_element(text: &[u8], at: usize) -> Option<(usize, usize)> {
    let i = skip_ws(text, at);
    if text.get(i) != Some(&b'[') {
        return None;
    }
    let start = skip_ws(text, i + 1);
    if text.get(start) == Some(&b']') {
        return None;
    }
    Some((start, value_end(text, start)?))
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Index just past the string literal starting at `text[i]`.
fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match text.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Index just past the JSON value starting at `text[i]`.
fn value_end(text: &[u8], i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => string_end(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match text.get(j)? {
                    b'"' => {
                        j = string_end(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(text.get(j), None | Some(b',' | b'}' | b']' | b' ' | b'\n')) {
                j += 1;
            }
            Some(j)
        }
    }
}

/// How one member of an object is edited.
pub enum Edit<'a> {
    /// Replace the value with this JSON text.
    Replace(&'a str, Vec<u8>),
    /// Drop the member.
    Remove(&'a str),
}

/// Applies edits to the object `obj` (a complete rendered record). Members not found are
/// left alone; the result keeps the original key order.
pub fn edit_object(obj: &[u8], edits: &[Edit<'_>]) -> Vec<u8> {
    let Some((members, end)) = members(obj, 0) else {
        return obj.to_vec();
    };
    let mut out = Vec::with_capacity(obj.len() + 64);
    out.push(b'{');
    let mut first = true;
    for m in &members {
        let edit = edits.iter().find(|e| match e {
            Edit::Replace(k, _) | Edit::Remove(k) => *k == m.key,
        });
        let value: &[u8] = match edit {
            Some(Edit::Remove(_)) => continue,
            Some(Edit::Replace(_, v)) => v,
            None => &obj[m.value.0..m.value.1],
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&obj[m.start..m.head_end]);
        out.extend_from_slice(value);
    }
    out.push(b'}');
    out.extend_from_slice(&obj[end..]);
    out
}

/// Applies control-API overrides (top-level field → value) to a rendered record.
pub fn apply_overrides(obj: &[u8], overrides: &Map<String, Value>) -> Vec<u8> {
    let edits: Vec<Edit<'_>> = overrides
        .iter()
        .map(|(k, v)| Edit::Replace(k.as_str(), serde_json::to_vec(v).unwrap_or_default()))
        .collect();
    edit_object(obj, &edits)
}

/// The top-level keys of a rendered object, in order.
pub fn keys(obj: &[u8]) -> Vec<String> {
    members(obj, 0)
        .map(|(m, _)| m.iter().map(|m| m.key.to_string()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_order_and_nesting() {
        let obj = br#"{"id":1,"user":{"id":2,"name":"a,}b"},"tags":[1,[2]],"notes":null,"updated_at":"x"}"#;
        let out = edit_object(
            obj,
            &[
                Edit::Remove("id"),
                Edit::Replace("notes", b"\"hi\"".to_vec()),
            ],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"user":{"id":2,"name":"a,}b"},"tags":[1,[2]],"notes":"hi","updated_at":"x"}"#
        );
        assert_eq!(keys(obj), ["id", "user", "tags", "notes", "updated_at"]);
        let arr = br#"[{"a":"]"}, 2]"#;
        assert_eq!(first_element(arr, 0), Some((1, 10)));
    }
}
