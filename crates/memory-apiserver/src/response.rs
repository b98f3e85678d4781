//! How the server writes a JSON answer: `application/json`, with kube-apiserver's `Warning`
//! headers.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// A JSON response (`application/json`) with `Warning` headers.
pub fn json_response(status: u16, body: &Value, warnings: &[String]) -> Response {
    let mut response = Response::new(Body::from(crate::encoding::to_vec(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        let escaped = warning.replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}
