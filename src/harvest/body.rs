//! Reading response bodies without trusting the server: a size cap, and error descriptions
//! that never carry a URL.

use std::error::Error as _;

use bytes::Bytes;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is (or announced itself) larger than the cap; reading stopped there.
    TooLarge,
    /// The connection failed mid-body (reset, timeout, truncated transfer).
    Read(String),
}

/// Reads a whole body, giving up as soon as it is known to exceed `limit` bytes, so a hostile or
/// broken server cannot make the connector buffer an unbounded amount.
pub async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Read(describe(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A reqwest error as a one-line cause: its kind and the chain of sources, without the URL
/// (ours carry no secret, but a server-given link is not ours to print whole).
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response body was cut off".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
