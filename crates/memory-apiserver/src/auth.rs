//! Bearer-token authentication, as kube-apiserver's token authenticator with anonymous
//! requests allowed only where its default RBAC lets `system:unauthenticated` in (`/version`
//! and the health checks). A request without the token is answered 401 `Unauthorized`.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::status::ApiError;

/// Paths anyone may read (kube-apiserver's `system:public-info-viewer`).
const PUBLIC: &[&str] = &["/version", "/healthz", "/livez", "/readyz"];

/// Whether a request to `path` with `headers` may go on when the server wants `token`.
pub(crate) fn authorized(token: &str, path: &str, headers: &HeaderMap) -> bool {
    if PUBLIC.contains(&path.trim_end_matches('/')) {
        return true;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, credentials) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        })
        .is_some_and(|given| given == token)
}

/// The API server's answer to a request it could not authenticate.
pub(crate) fn unauthorized() -> Response {
    ApiError::new(401, "Unauthorized", "Unauthorized", None).into_response()
}
