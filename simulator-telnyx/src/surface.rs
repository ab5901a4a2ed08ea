//! What the simulator serves, as one table: every resource with its methods and list
//! filters. The router answers a method missing here with 501 (never a misleading 404),
//! the list handlers refuse a query parameter missing here with 400 naming it, and the
//! README's "Simulated resources" table is checked against this one by a test.

use crate::errors::ApiError;

/// One resource of the simulated API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedResource {
    /// The path, with `{id}` for identifiers, as Telnyx's API reference writes it.
    pub path: &'static str,
    /// The HTTP methods answered (any other is 501).
    pub methods: &'static [&'static str],
    /// The list filters (and sorts) honoured (a `GET` with any other query parameter is
    /// 400, besides [`PAGING_PARAMETERS`]).
    pub filters: &'static [&'static str],
}

/// The paging parameters every list takes: `page[number]` (from 1) and `page[size]`
/// (20 by default, 250 at most); each list answers `meta` with `page_number`,
/// `page_size`, `total_pages` and `total_results`.
pub const PAGING_PARAMETERS: &[&str] = &["page[number]", "page[size]"];

/// Every resource the simulator serves, in the README's order.
///
/// ```
/// use telephony_telnyx_simulator::SIMULATED_RESOURCES;
/// let retrieve = SIMULATED_RESOURCES.iter().find(|r| r.path == "/v2/messages/{id}").unwrap();
/// assert_eq!(retrieve.methods, ["GET"]);
/// ```
pub const SIMULATED_RESOURCES: &[SimulatedResource] = &[
    SimulatedResource {
        path: "/v2/messages",
        methods: &["POST"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/messages/long_code",
        methods: &["POST"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/messages/{id}",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/detail_records",
        methods: &["GET"],
        filters: &[
            "filter[record_type]",
            "filter[direction]",
            "filter[cli]",
            "filter[cld]",
            "filter[created_at][gte]",
            "filter[created_at][lte]",
            "sort",
        ],
    },
    SimulatedResource {
        path: "/v2/phone_numbers",
        methods: &["GET"],
        filters: &["filter[phone_number]"],
    },
    SimulatedResource {
        path: "/v2/phone_numbers/messaging",
        methods: &["GET"],
        filters: &[
            "filter[messaging_profile_id]",
            "filter[phone_number]",
            "filter[phone_number][contains]",
            "sort[phone_number]",
        ],
    },
    SimulatedResource {
        path: "/v2/phone_numbers/{id}/messaging",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/messaging_profiles",
        methods: &["GET"],
        filters: &["filter[name]", "filter[name][eq]", "filter[name][contains]"],
    },
    SimulatedResource {
        path: "/v2/messaging_profiles/{id}",
        methods: &["GET", "PATCH"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/messaging_profiles/{id}/phone_numbers",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/call_control_applications/{id}",
        methods: &["GET", "PATCH"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/calls",
        methods: &["POST"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/calls/{id}",
        methods: &["GET"],
        filters: &[],
    },
    SimulatedResource {
        path: "/v2/calls/{id}/actions/{action}",
        methods: &["POST", "PUT"],
        filters: &[],
    },
    SimulatedResource {
        path: "/_simulator/calls",
        methods: &["POST"],
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

/// Refuses a query parameter the list of `path` does not honour: 400 (10015) naming it,
/// so that a filter is never silently ignored.
pub(crate) fn check_query(path: &str, query: &[(String, String)]) -> Result<(), ApiError> {
    let resource = resource(path);
    match query.iter().find(|(k, _)| {
        !resource.filters.contains(&k.as_str()) && !PAGING_PARAMETERS.contains(&k.as_str())
    }) {
        None => Ok(()),
        Some((key, _)) => Err(ApiError {
            parameter: Some(key.clone()),
            ..ApiError::new(
                400,
                10015,
                "Bad Request",
                format!(
                    "The simulator's GET {path} does not support the query parameter {key}; it honours {}",
                    if resource.filters.is_empty() {
                        PAGING_PARAMETERS.join(", ")
                    } else {
                        format!(
                            "{}, {}",
                            resource.filters.join(", "),
                            PAGING_PARAMETERS.join(", ")
                        )
                    }
                ),
            )
        }),
    }
}

/// The answer to a method the simulator does not serve on a resource it has: 501 naming
/// the method, the resource and the methods it does serve.
pub(crate) fn unsupported_method(method: &str, path: &str) -> ApiError {
    let resource = resource(path);
    ApiError::new(
        501,
        10015,
        "Not supported by the simulator",
        format!(
            "The simulator does not support {method} {path} (it serves {} there); see the README's simulated resources.",
            resource.methods.join(", ")
        ),
    )
}

/// A list's query string as pairs (400, 10015 when it is not a query string).
pub(crate) fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::new(400, 10015, "Bad Request", "The query string is malformed."))
}

/// The first value of `key` in `query`.
pub(crate) fn param<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
