//! Numbered pages of a listing, as the console shows them (`?page=N`): a
//! page size, an offset, and whether another page follows. The API pages
//! by cursor instead (contract §4); this is for people clicking through.
//!
//! Policy: a request is always valid: a page number or size out of range is
//! brought into range, never an error, so a hand-edited link still shows a
//! page. Whether a next page exists is read by fetching one row more than
//! the page holds, so no listing needs a count of its whole table.

/// Rows on a page unless the link asks for another size.
pub const DEFAULT_PAGE_SIZE: i64 = 100;
/// The most rows a page may hold.
pub const MAX_PAGE_SIZE: i64 = 500;
/// The highest page number: keeps the offset far from overflowing.
const MAX_PAGE: i64 = 1_000_000;

/// Which page of a listing, counted from 1, of how many rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: i64,
    pub size: i64,
}

impl PageRequest {
    /// Page `number` (default 1) of `size` rows (default
    /// [`DEFAULT_PAGE_SIZE`]), each brought into range.
    pub fn new(number: Option<i64>, size: Option<i64>) -> PageRequest {
        PageRequest {
            number: number.unwrap_or(1).clamp(1, MAX_PAGE),
            size: size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        }
    }

    /// Rows before this page.
    pub fn offset(self) -> i64 {
        (self.number - 1) * self.size
    }

    /// Rows to read: one more than the page holds, to learn whether
    /// another page follows.
    pub fn fetch(self) -> i64 {
        self.size + 1
    }
}

impl Default for PageRequest {
    fn default() -> PageRequest {
        PageRequest::new(None, None)
    }
}

/// One page of rows, and whether a next page exists.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub request: PageRequest,
    pub has_next: bool,
}

impl<T> Paged<T> {
    /// The page from rows read with [`PageRequest::fetch`] as the limit.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Paged<T> {
        let size = usize::try_from(request.size).unwrap_or(usize::MAX);
        let has_next = rows.len() > size;
        rows.truncate(size);
        Paged {
            items: rows,
            request,
            has_next,
        }
    }

    /// The same page with each row turned into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            request: self.request,
            has_next: self.has_next,
        }
    }

    /// The number of the first row on this page (1-based), for "rows 101–200".
    pub fn first_row(&self) -> i64 {
        self.request.offset() + 1
    }

    /// The number of the last row on this page.
    pub fn last_row(&self) -> i64 {
        self.request.offset() + self.items.len() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_out_of_range_is_brought_into_range() {
        assert_eq!(
            PageRequest::new(Some(0), Some(0)),
            PageRequest::new(Some(1), Some(1))
        );
        assert_eq!(PageRequest::new(Some(-5), Some(10_000)).size, MAX_PAGE_SIZE);
        let far = PageRequest::new(Some(i64::MAX), Some(i64::MAX));
        assert!(far.offset() > 0, "no overflow");
        assert_eq!(PageRequest::default().offset(), 0);
        assert_eq!(PageRequest::new(Some(3), Some(100)).offset(), 200);
    }

    #[test]
    fn one_row_more_than_the_page_says_another_page_follows() {
        let req = PageRequest::new(Some(2), Some(3));
        let p = Paged::from_rows(vec![1, 2, 3, 4], req);
        assert_eq!(p.items, [1, 2, 3]);
        assert!(p.has_next);
        assert_eq!((p.first_row(), p.last_row()), (4, 6));
        let p = Paged::from_rows(vec![1, 2, 3], req);
        assert!(!p.has_next);
        let p = Paged::from_rows(Vec::<i32>::new(), req);
        assert!(!p.has_next && p.items.is_empty());
    }
}
