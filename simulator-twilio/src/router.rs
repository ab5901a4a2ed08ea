//! The routes: the subset of Twilio's 2010-04-01 API (and the Messaging API's Services)
//! the gateway uses, each answered by the module of its resource.

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::errors::ApiError;
use crate::simulator::Simulator;

/// Every route, each to the handler of its resource; anything else is 404 (20404).
pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(crate::messages::create_message)
                .get(crate::messages::list_messages)
                .fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(crate::messages::fetch_message).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(crate::calls::create_call).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(crate::calls::fetch_call)
                .post(crate::calls::update_call)
                .fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}",
            get(crate::account::fetch_account).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(crate::numbers::list_numbers).fallback(not_found),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(crate::numbers::number)
                .post(crate::numbers::number)
                .fallback(not_found),
        )
        .route(
            "/v1/Services/{sid}",
            get(crate::numbers::service)
                .post(crate::numbers::service)
                .fallback(not_found),
        )
        .fallback(not_found)
        .with_state(sim)
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(uri.path()).into_response()
}

impl Simulator {
    /// The routes as an axum [`Router`](axum::Router), to mount in another app or drive
    /// with `tower::ServiceExt::oneshot`. Status callbacks need a tokio runtime.
    pub fn router(&self) -> axum::Router {
        router(self.clone())
    }
}
