//! What the simulator serves, as one table: every resource with its methods and list
//! filters. The router answers a method missing here with 501 (never a misleading 404),
//! the list handlers refuse a query parameter missing here with 400 naming it, and the
//! README's "Simulated resources" table is checked against this one by a test.

use crate::errors::ApiError;

/// One resource of the simulated API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedResource {
    /// The path, with `{…}` for identifiers, as Twilio's API reference writes it.
    pub path: &'static str,
    /// The HTTP methods answered (any other is 501).
    pub methods: &'static [&'static str],
    /// The list filters honoured (a `GET` with any other parameter is 400, besides the
    /// paging parameters [`PAGING_PARAMETERS`]).
    pub filters: &'static [&'static str],
}

/// The paging parameters every list takes: `PageSize` (50 by default, 1000 at most),
/// `Page` (from 0) and `PageToken` (accepted; `Page` decides the position).
pub const PAGING_PARAMETERS: &[&str] = &["PageSize", "Page", "PageToken"];

const ACCOUNT: &str = "/2010-04-01/Accounts/{AccountSid}";

/// Every resource the simulator serves, in the README's order.
///
/// ```
/// use telephony_twilio_simulator::SIMULATED_RESOURCES;
/// let messages = SIMULATED_RESOURCES
///     .iter()
///     .find(|r| r.path == "/2010-04-01/Accounts/{AccountSid}/Messages.json")
///     .unwrap();
/// assert_eq!(messages.methods, ["GET", "POST"]);
/// assert!(messages.filters.contains(&"DateSent>"));
/// ```
pub const SIMULATED_RESOURCES: &[SimulatedResource] = &[
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}.json",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        methods: &["GET", "POST"],
        filters: &["To", "From", "DateSent", "DateSent<", "DateSent>"],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
        methods: &["GET", "POST", "DELETE"],
        filters: &[],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json",
        methods: &["GET"],
        filters: &["DateCreated", "DateCreated<", "DateCreated>"],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json",
        methods: &["GET", "DELETE"],
        filters: &[],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Calls.json",
        methods: &["GET", "POST"],
        filters: &[
            "To",
            "From",
            "ParentCallSid",
            "Status",
            "StartTime",
            "StartTime<",
            "StartTime>",
            "EndTime",
            "EndTime<",
            "EndTime>",
        ],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
        methods: &["GET", "POST"],
        filters: &[],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
        methods: &["GET"],
        filters: &["PhoneNumber"],
    },
    SimulatedResource {
        path: "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
        methods: &["GET", "POST"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v1/Services/{Sid}",
        methods: &["GET", "POST"],
        filters: &[],
    },
];

/// The resource of `path` (a template from [`SIMULATED_RESOURCES`]).
pub(crate) fn resource(path: &str) -> &'static SimulatedResource {
    SIMULATED_RESOURCES
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("{path} is not in SIMULATED_RESOURCES"))
}

/// The path under the account, as a template of [`SIMULATED_RESOURCES`].
pub(crate) fn account_path(rest: &str) -> String {
    format!("{ACCOUNT}{rest}")
}

/// Refuses a query parameter the list of `path` does not honour: Twilio's 400 (20001,
/// "Invalid parameter") naming it, so that a filter is never silently ignored.
pub(crate) fn check_query(path: &str, query: &[(String, String)]) -> Result<(), ApiError> {
    let resource = resource(path);
    match query.iter().find(|(k, _)| {
        !resource.filters.contains(&k.as_str()) && !PAGING_PARAMETERS.contains(&k.as_str())
    }) {
        None => Ok(()),
        Some((key, _)) => Err(ApiError::bad_request(
            20001,
            format!(
                "Invalid parameter {key}: the simulator's {path} honours {} (and {}); it does not support {key}",
                list_or_none(resource.filters),
                PAGING_PARAMETERS.join(", ")
            ),
        )),
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "no filter".to_string()
    } else {
        items.join(", ")
    }
}

/// The answer to a method the simulator does not serve on a resource it has: 501 naming
/// the method, the resource and the methods it does serve.
pub(crate) fn unsupported_method(method: &str, path: &str) -> ApiError {
    let resource = resource(path);
    ApiError::new(
        501,
        20004,
        format!(
            "The simulator does not support {method} {path} (it serves {} there); see the README's simulated resources",
            resource.methods.join(", ")
        ),
    )
}
