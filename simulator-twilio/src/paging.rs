//! Twilio's list pages: `PageSize` (50 by default, 1000 at most) and `Page` (from 0) in,
//! the items under the resource's key with `page`, `page_size`, `uri`, `first_page_uri`,
//! `next_page_uri`, `previous_page_uri`, `start` and `end` out. The SDKs follow
//! `next_page_uri`, so the filters go back into every page URI.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::form::first;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

/// The page a list request asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub(crate) page: u32,
    pub(crate) page_size: u32,
}

impl Paging {
    pub(crate) fn from_query(query: &[(String, String)]) -> Self {
        let number = |key: &str| first(query, key).and_then(|v| v.trim().parse::<u32>().ok());
        Paging {
            page: number("Page").unwrap_or(0),
            page_size: number("PageSize")
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        }
    }

    /// This page of `all` (the matching items, in list order) as Twilio's page body:
    /// the items under `key`, the paging fields with `path?filters&PageSize&Page`.
    pub(crate) fn page<T: Serialize>(
        &self,
        key: &str,
        all: &[T],
        path: &str,
        filters: &[(String, String)],
    ) -> Value {
        let start = (self.page as usize).saturating_mul(self.page_size as usize);
        let items: Vec<&T> = all
            .iter()
            .skip(start)
            .take(self.page_size as usize)
            .collect();
        let has_next = start + items.len() < all.len();
        let uri = |p: u32| {
            let mut q = filters.to_vec();
            q.push(("PageSize".into(), self.page_size.to_string()));
            q.push(("Page".into(), p.to_string()));
            format!(
                "{path}?{}",
                serde_urlencoded::to_string(&q).unwrap_or_default()
            )
        };
        let start_u32 = u32::try_from(start).unwrap_or(u32::MAX);
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let mut body = Map::new();
        body.insert(
            key.to_string(),
            serde_json::to_value(items).unwrap_or_default(),
        );
        body.insert("page".into(), self.page.into());
        body.insert("page_size".into(), self.page_size.into());
        body.insert("uri".into(), uri(self.page).into());
        body.insert("first_page_uri".into(), uri(0).into());
        body.insert(
            "next_page_uri".into(),
            has_next.then(|| uri(self.page + 1)).into(),
        );
        body.insert(
            "previous_page_uri".into(),
            (self.page > 0).then(|| uri(self.page - 1)).into(),
        );
        body.insert("start".into(), start_u32.into());
        body.insert("end".into(), (start_u32 + count.saturating_sub(1)).into());
        Value::Object(body)
    }
}
