//! JSON output: the byte writer, one writer per record type, and in-place edits of rendered JSON.

pub mod json;
pub mod patch;
pub mod records;
