//! The listeners bind before the database is ready, so that `/health` answers (a liveness probe
//! must not kill a pod in the middle of a long migration) and `/ready` says 503 until it is.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower::service_fn;

use super::error::ApiError;
use super::routes::health::health;

/// The router that answers while the platform starts, then hands every request to the full
/// router once it is installed.
#[derive(Debug, Clone, Default)]
pub struct LateRouter(Arc<OnceLock<Router>>);

impl LateRouter {
    /// Installs the full router; later requests go to it.
    pub fn install(&self, router: Router) {
        let _ = self.0.set(router);
    }

    pub fn router(&self) -> Router {
        let late = self.clone();
        Router::new().fallback_service(service_fn(move |request: Request| {
            let late = late.clone();
            async move { Ok::<_, Infallible>(late.respond(request).await) }
        }))
    }

    async fn respond(&self, request: Request) -> Response {
        if let Some(router) = self.0.get() {
            return match router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        if request.uri().path() == "/health" {
            return health().await.into_response();
        }
        ApiError::Starting.into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;

    use super::*;

    async fn status(router: &Router, path: &str) -> StatusCode {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        router.clone().oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn answers_health_and_503_until_the_full_router_is_installed() {
        let late = LateRouter::default();
        let router = late.router();
        assert_eq!(status(&router, "/health").await, StatusCode::OK);
        assert_eq!(status(&router, "/ready").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            status(&router, "/api/v1/me").await,
            StatusCode::SERVICE_UNAVAILABLE
        );

        late.install(Router::new().route("/ready", get(|| async { "ready" })));
        assert_eq!(status(&router, "/ready").await, StatusCode::OK);
        assert_eq!(
            status(&router, "/health").await,
            StatusCode::NOT_FOUND,
            "the full router decides now"
        );
    }
}
