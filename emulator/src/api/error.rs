//! Error answers with Harvest's status codes, bodies and headers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the API.
#[derive(Debug)]
pub enum ApiError {
    /// 422 `{"message": …}`: a bad parameter or a business rule.
    Invalid(String),
    /// 404 `{"status":404,"error":"Not Found"}`: an unknown id.
    NotFound,
}

impl ApiError {
    /// A 422 with this message.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::Invalid(message.into())
    }
}

/// A JSON response with Harvest's content type.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A `{"message": …}` body.
pub fn message_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Invalid(m) => {
                json_response(StatusCode::UNPROCESSABLE_ENTITY, message_body(&m))
            }
            ApiError::NotFound => not_found(),
        }
    }
}

/// 404 for an unknown id.
pub fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        br#"{"status":404,"error":"Not Found"}"#.to_vec(),
    )
}

/// 404 for a path Harvest has no route for: an HTML page, as Harvest's router answers.
pub fn no_route() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The page you were looking for doesn't exist.</p></body></html>",
    )
}

/// An HTML response (Harvest's 404 pages, 429s and 5xx pages are HTML, not JSON).
pub fn html(status: StatusCode, body: &'static str) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}
