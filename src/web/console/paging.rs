//! The page navigation under each console listing: `?page=N` (and
//! `per_page`, for a different page size) read leniently, and the previous
//! and next links, each keeping the listing's filters.
//!
//! Thin: the rows come from a `campaign` action's [`Paged`]; this module
//! only reads the query and writes the links.

use serde_json::{json, Value};

use super::Console;
use crate::campaign::paging::{PageRequest, Paged, DEFAULT_PAGE_SIZE};

/// The paging part of a listing's query. Text, so that no value can make
/// the query unreadable: a page that is not a number is page 1.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl PageQuery {
    pub fn request(&self) -> PageRequest {
        let number = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<i64>().ok());
        PageRequest::new(number(&self.page), number(&self.per_page))
    }
}

/// The link to page `number` of the listing at `path`: the filters that
/// have a value, then the page and size when not the defaults.
fn href(path: &str, filters: &[(&str, &str)], number: i64, size: i64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    if number > 1 {
        q.append_pair("page", &number.to_string());
    }
    if size != DEFAULT_PAGE_SIZE {
        q.append_pair("per_page", &size.to_string());
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// The template data of `partials/admin_pager.html`: which page this is,
/// and the previous and next links (absent at either end), keeping
/// `filters` and a language chosen by `?lang=`.
pub fn nav<T>(c: &Console, path: &str, filters: &[(&str, &str)], paged: &Paged<T>) -> Value {
    let mut kept = filters.to_vec();
    if c.page.lang_in_query {
        kept.push(("lang", c.page.locale.code()));
    }
    let filters = kept.as_slice();
    let req = paged.request;
    let prev = (req.number > 1).then(|| href(path, filters, req.number - 1, req.size));
    let next = paged
        .has_next
        .then(|| href(path, filters, req.number + 1, req.size));
    let loc = c.page.locale;
    let page = loc.number(req.number);
    let summary = if paged.items.is_empty() {
        loc.format("admin_page_empty", &[("page", &page)])
    } else {
        loc.format(
            "admin_page_rows",
            &[
                ("page", &page),
                ("first", &loc.number(paged.first_row())),
                ("last", &loc.number(paged.last_row())),
            ],
        )
    };
    json!({
        "shown": prev.is_some() || next.is_some(),
        "prev": prev, "next": next, "summary": summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_and_leave_out_defaults() {
        assert_eq!(
            href("/admin/cases", &[], 1, DEFAULT_PAGE_SIZE),
            "/admin/cases"
        );
        assert_eq!(
            href(
                "/admin/supporters",
                &[("status", "bounced"), ("email", "")],
                3,
                10
            ),
            "/admin/supporters?status=bounced&page=3&per_page=10"
        );
        assert_eq!(
            href("/admin/x", &[("q", "a b&c")], 2, DEFAULT_PAGE_SIZE),
            "/admin/x?q=a+b%26c&page=2"
        );
        let q = PageQuery {
            page: Some("two".into()),
            per_page: Some(" 25 ".into()),
        };
        assert_eq!(q.request(), PageRequest::new(Some(1), Some(25)));
    }
}
