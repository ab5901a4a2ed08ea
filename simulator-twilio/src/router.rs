//! The routes: the subset of Twilio's 2010-04-01 API (and the Messaging API's Services)
//! the gateway uses, each answered by the module of its resource.

use axum::Router;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::errors::ApiError;
use crate::simulator::Simulator;
use crate::surface::unsupported_method;

/// Every route of [`SIMULATED_RESOURCES`](crate::SIMULATED_RESOURCES), each to the
/// handler of its resource; another method on one of them is 501 naming it; any other
/// path is 404 (20404).
pub(crate) fn router(sim: Simulator) -> Router {
    let account = |rest: &str| format!("/2010-04-01/Accounts/{{account}}{rest}");
    Router::new()
        .route(
            &account("/Messages.json"),
            post(crate::messages::create_message)
                .get(crate::messages::list_messages)
                .fallback(unsupported(
                    "/2010-04-01/Accounts/{AccountSid}/Messages.json",
                )),
        )
        .route(
            &account("/Messages/{file}"),
            get(crate::messages::fetch_message)
                .post(crate::messages::update_message)
                .delete(crate::messages::delete_message)
                .fallback(unsupported(
                    "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
                )),
        )
        .route(
            &account("/Messages/{message}/Media.json"),
            get(crate::media::list_media).fallback(unsupported(
                "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json",
            )),
        )
        .route(
            &account("/Messages/{message}/Media/{file}"),
            get(crate::media::fetch_media)
                .delete(crate::media::delete_media)
                .fallback(unsupported(
                    "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json",
                )),
        )
        .route(
            &account("/Calls.json"),
            post(crate::calls::create_call)
                .get(crate::call_list::list_calls)
                .fallback(unsupported("/2010-04-01/Accounts/{AccountSid}/Calls.json")),
        )
        .route(
            &account("/Calls/{file}"),
            get(crate::calls::fetch_call)
                .post(crate::calls::update_call)
                .fallback(unsupported(
                    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
                )),
        )
        .route(
            &account("/Recordings/{file}"),
            get(crate::recordings::fetch_recording).fallback(unsupported(
                "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}",
            )),
        )
        .route(
            "/2010-04-01/Accounts/{account}",
            get(crate::account::fetch_account)
                .fallback(unsupported("/2010-04-01/Accounts/{AccountSid}.json")),
        )
        .route(
            &account("/IncomingPhoneNumbers.json"),
            get(crate::numbers::list_numbers).fallback(unsupported(
                "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
            )),
        )
        .route(
            &account("/IncomingPhoneNumbers/{file}"),
            get(crate::numbers::number)
                .post(crate::numbers::number)
                .fallback(unsupported(
                    "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
                )),
        )
        .route(
            "/v1/Services/{sid}",
            get(crate::numbers::service)
                .post(crate::numbers::service)
                .fallback(unsupported("/v1/Services/{Sid}")),
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
