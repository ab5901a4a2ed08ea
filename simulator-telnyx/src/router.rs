//! The routes: the subset of the Messaging API v2 (and the number and messaging profile
//! APIs) the gateway uses, each answered by the module of its resource.

use axum::Router;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::errors::ApiError;
use crate::simulator::Simulator;
use crate::surface::unsupported_method;

/// Every route of [`SIMULATED_RESOURCES`](crate::SIMULATED_RESOURCES), each to the
/// handler of its resource; another method on one of them is 501 naming it; anything else
/// is 404 (10005).
pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route(
            "/v2/messages",
            post(crate::messages::create_message).fallback(unsupported("/v2/messages")),
        )
        .route(
            "/v2/messages/long_code",
            post(crate::messages::send_long_code).fallback(unsupported("/v2/messages/long_code")),
        )
        .route(
            "/v2/messages/{id}",
            get(crate::detail_records::fetch_message).fallback(unsupported("/v2/messages/{id}")),
        )
        .route(
            "/v2/detail_records",
            get(crate::detail_records::list).fallback(unsupported("/v2/detail_records")),
        )
        .route(
            "/v2/phone_numbers",
            get(crate::numbers::list_numbers).fallback(unsupported("/v2/phone_numbers")),
        )
        .route(
            "/v2/phone_numbers/messaging",
            get(crate::listings::messaging_numbers)
                .fallback(unsupported("/v2/phone_numbers/messaging")),
        )
        .route(
            "/v2/phone_numbers/{id}/messaging",
            get(crate::numbers::number_messaging)
                .fallback(unsupported("/v2/phone_numbers/{id}/messaging")),
        )
        .route(
            "/v2/messaging_profiles",
            get(crate::listings::list_profiles).fallback(unsupported("/v2/messaging_profiles")),
        )
        .route(
            "/v2/messaging_profiles/{id}",
            get(crate::numbers::get_profile)
                .patch(crate::numbers::patch_profile)
                .fallback(unsupported("/v2/messaging_profiles/{id}")),
        )
        .route(
            "/v2/messaging_profiles/{id}/phone_numbers",
            get(crate::listings::profile_numbers)
                .fallback(unsupported("/v2/messaging_profiles/{id}/phone_numbers")),
        )
        .route(
            "/v2/call_control_applications/{id}",
            get(crate::call_control_apps::get_app)
                .patch(crate::call_control_apps::patch_app)
                .fallback(unsupported("/v2/call_control_applications/{id}")),
        )
        .route(
            "/v2/calls",
            post(crate::call_commands::dial).fallback(unsupported("/v2/calls")),
        )
        .route(
            "/_simulator/calls",
            post(crate::sandbox_calls::place).fallback(unsupported("/_simulator/calls")),
        )
        .route(
            "/v2/calls/{id}",
            get(crate::call_commands::retrieve).fallback(unsupported("/v2/calls/{id}")),
        )
        .route(
            "/v2/calls/{id}/actions/{name}",
            post(crate::call_commands::command)
                .put(crate::call_commands::command)
                .fallback(unsupported("/v2/calls/{id}/actions/{action}")),
        )
        .route(
            "/v2/recordings/{id}",
            get(crate::recordings::retrieve).fallback(not_found),
        )
        .route(
            "/_simulator/recordings/{file}",
            get(crate::recordings::download).fallback(not_found),
        )
        .fallback(not_found)
        .with_state(sim)
}

/// The fallback of a resource's route: 501 naming the method and the resource.
fn unsupported(
    path: &'static str,
) -> impl Fn(Method) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move |method: Method| {
        std::future::ready(unsupported_method(method.as_str(), path).into_response())
    }
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

impl Simulator {
    /// The routes as an axum [`Router`](axum::Router), to mount in another app or drive
    /// with `tower::ServiceExt::oneshot`. Webhooks need a tokio runtime.
    pub fn router(&self) -> axum::Router {
        router(self.clone())
    }
}
