//! A minimal JSON writer straight into a byte buffer.
//!
//! Pages of 2000 time entries must serialise in a few milliseconds, so records are written field
//! by field without building `serde_json::Value` trees. The writer tracks only whether a comma is
//! due; callers are trusted to open and close objects in order.

use crate::time;

/// Money is stored in cents and hours in hundredths: exact sums, rendered as JSON decimals.
pub type Cents = i64;

/// A JSON text under construction.
pub struct Json {
    /// The bytes written so far.
    pub buf: Vec<u8>,
    comma: bool,
}

impl Json {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Json {
        Json {
            buf: Vec::with_capacity(capacity),
            comma: false,
        }
    }

    fn sep(&mut self) {
        if self.comma {
            self.buf.push(b',');
        }
    }

    /// Writes `"name":` (with a leading comma when needed).
    pub fn key(&mut self, name: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.comma = false;
    }

    /// Opens an object as a value (after `key` or inside an array).
    pub fn open(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.comma = false;
    }

    /// Closes the current object.
    pub fn close(&mut self) {
        self.buf.push(b'}');
        self.comma = true;
    }

    /// Opens an array as a value.
    pub fn open_array(&mut self) {
        self.sep();
        self.buf.push(b'[');
        self.comma = false;
    }

    /// Closes the current array.
    pub fn close_array(&mut self) {
        self.buf.push(b']');
        self.comma = true;
    }

    /// Writes pre-rendered JSON as one value.
    pub fn raw(&mut self, json: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(json);
        self.comma = true;
    }

    /// `null`.
    pub fn null(&mut self) {
        self.raw(b"null");
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
    }

    /// An integer.
    pub fn int(&mut self, v: i64) {
        self.sep();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.comma = true;
    }

    /// A decimal number as Harvest writes it (`12.5`, `100.0`).
    pub fn float(&mut self, v: f64) {
        self.sep();
        self.buf
            .extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
        self.comma = true;
    }

    /// A decimal stored in hundredths (cents, centi-hours).
    pub fn hundredths(&mut self, v: i64) {
        self.float(v as f64 / 100.0);
    }

    /// An escaped string.
    pub fn str(&mut self, s: &str) {
        self.sep();
        write_escaped(&mut self.buf, s);
        self.comma = true;
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&mut self, day: i32) {
        self.sep();
        self.buf.push(b'"');
        time::write_date(&mut self.buf, day);
        self.buf.push(b'"');
        self.comma = true;
    }

    /// A `YYYY-MM-DDTHH:MM:SSZ` datetime.
    pub fn datetime(&mut self, secs: i64) {
        self.sep();
        self.buf.push(b'"');
        time::write_datetime(&mut self.buf, secs);
        self.buf.push(b'"');
        self.comma = true;
    }

    /// `"name":<int>`.
    pub fn f_int(&mut self, name: &str, v: i64) {
        self.key(name);
        self.int(v);
    }

    /// `"name":<int or null>`.
    pub fn f_int_opt(&mut self, name: &str, v: Option<i64>) {
        self.key(name);
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// `"name":<bool>`.
    pub fn f_bool(&mut self, name: &str, v: bool) {
        self.key(name);
        self.bool(v);
    }

    /// `"name":"<string>"`.
    pub fn f_str(&mut self, name: &str, v: &str) {
        self.key(name);
        self.str(v);
    }

    /// `"name":"<string>"` or `null`.
    pub fn f_str_opt(&mut self, name: &str, v: Option<&str>) {
        self.key(name);
        match v {
            Some(v) => self.str(v),
            None => self.null(),
        }
    }

    /// `"name":<decimal from hundredths>`.
    pub fn f_cents(&mut self, name: &str, v: Cents) {
        self.key(name);
        self.hundredths(v);
    }

    /// `"name":<decimal from hundredths or null>`.
    pub fn f_cents_opt(&mut self, name: &str, v: Option<Cents>) {
        self.key(name);
        match v {
            Some(v) => self.hundredths(v),
            None => self.null(),
        }
    }

    /// `"name":<decimal>`.
    pub fn f_float(&mut self, name: &str, v: f64) {
        self.key(name);
        self.float(v);
    }

    /// `"name":"YYYY-MM-DD"`.
    pub fn f_date(&mut self, name: &str, day: i32) {
        self.key(name);
        self.date(day);
    }

    /// `"name":"YYYY-MM-DD"` or `null`.
    pub fn f_date_opt(&mut self, name: &str, day: Option<i32>) {
        self.key(name);
        match day {
            Some(d) => self.date(d),
            None => self.null(),
        }
    }

    /// `"name":"YYYY-MM-DDTHH:MM:SSZ"`.
    pub fn f_datetime(&mut self, name: &str, secs: i64) {
        self.key(name);
        self.datetime(secs);
    }

    /// `"name":"YYYY-MM-DDTHH:MM:SSZ"` or `null`.
    pub fn f_datetime_opt(&mut self, name: &str, secs: Option<i64>) {
        self.key(name);
        match secs {
            Some(s) => self.datetime(s),
            None => self.null(),
        }
    }

    /// `"name":{` — the caller writes the members and calls [`Json::close`].
    pub fn f_open(&mut self, name: &str) {
        self.key(name);
        self.open();
    }

    /// `"created_at":…,"updated_at":…`, the tail of nearly every Harvest record.
    pub fn f_stamps(&mut self, created_at: i64, updated_at: i64) {
        self.f_datetime("created_at", created_at);
        self.f_datetime("updated_at", updated_at);
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..=0x1f => {
                    out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                }
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let mut w = Json::with_capacity(64);
        w.open();
        w.f_int("id", 2_147_483_649);
        w.f_str("name", "a \"quoted\"\nline");
        w.f_cents("amount", 10_000);
        w.f_cents_opt("rate", None);
        w.key("tags");
        w.open_array();
        w.str("x");
        w.str("y");
        w.close_array();
        w.f_open("nested");
        w.f_bool("ok", true);
        w.close();
        w.close();
        let v: serde_json::Value = serde_json::from_slice(&w.buf).unwrap();
        assert_eq!(v["id"], 2_147_483_649_i64);
        assert_eq!(v["name"], "a \"quoted\"\nline");
        assert!(String::from_utf8_lossy(&w.buf).contains("\"amount\":100.0"));
        assert_eq!(v["tags"][1], "y");
        assert_eq!(v["nested"]["ok"], true);
    }
}
