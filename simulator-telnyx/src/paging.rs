//! Telnyx's list pages: `page[number]` (from 1) and `page[size]` in, `{"data": […],
//! "meta": {"page_number", "page_size", "total_pages", "total_results"}}` out. The SDKs
//! stop at `total_pages`, so every list answers `meta`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::surface::param;

const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 250;

/// This page of `all` (the matching items, in list order) as Telnyx's list body.
pub(crate) fn page<T: Serialize>(query: &[(String, String)], all: &[T]) -> Value {
    let number = |key: &str| param(query, key).and_then(|v| v.trim().parse::<usize>().ok());
    let size = number("page[size]")
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let page = number("page[number]").unwrap_or(1).max(1);
    let data: Vec<&T> = all
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    json!({
        "data": data,
        "meta": {
            "page_number": page,
            "page_size": size,
            "total_pages": all.len().div_ceil(size).max(1),
            "total_results": all.len(),
        }
    })
}
