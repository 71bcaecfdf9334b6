//! The signatures CSV, shared by `GET /petitions/{id}/signatures.csv`, the
//! console's download and `clarion export signatures`, so all give the same
//! bytes; and the counts behind `GET /petitions/{id}/counts`.
//!
//! Policy:
//! * The machinery of the export only: who may export, and finding the
//!   petition, are `campaign::petitions`, the one way `web/` and
//!   `commands/` reach this module.
//! * Rows come from the database in chunks of [`CHUNK_ROWS`] by keyset paging
//!   over the signature id, and each chunk is handed on as bytes before the
//!   next is read: memory does not depend on the number of signatures.
//! * RFC 4180: comma-separated, fields quoted when they hold a comma, quote,
//!   CR or LF (quotes doubled), CRLF between records.
//! * Against formula injection (CWE-1236), a cell starting with `=`, `+`,
//!   `-`, `@`, tab or CR is prefixed with `'`, so spreadsheets show it as text.
//! * UTF-8 with a byte-order mark. Excel opens a CSV without one in the
//!   legacy code page and garbles Cyrillic, Arabic or Chinese names; with the
//!   mark Excel, LibreOffice, Numbers and Google Sheets all read UTF-8.
//!   Scripts can ask for no mark (`?bom=false`, `--no-bom`).
//! * Erased signers' rows stay (the export adds up to the counts) with every
//!   personal cell empty.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use crate::db::signature_reports::{self, CsvRow};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::{PetitionId, SignatureStatus};
use serde::Serialize;

pub const CHUNK_ROWS: i64 = 5000;
pub const HEADER: &[&str] = &[
    "signed_at",
    "confirmed_at",
    "first_name",
    "last_name",
    "email",
    "country",
    "postcode",
    "comment",
    "email_opt_in",
];
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Which signatures to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Confirmed,
    Pending,
    All,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        match s {
            "confirmed" => Some(StatusFilter::Confirmed),
            "pending" => Some(StatusFilter::Pending),
            "all" => Some(StatusFilter::All),
            _ => None,
        }
    }

    fn statuses(self) -> &'static [SignatureStatus] {
        match self {
            StatusFilter::Confirmed => &[SignatureStatus::Confirmed],
            StatusFilter::Pending => &[SignatureStatus::Pending],
            StatusFilter::All => &[SignatureStatus::Confirmed, SignatureStatus::Pending],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// `s` as a cell spreadsheets will not evaluate: a leading `= + - @`, tab or
/// CR, or their full-width forms `＝ ＋ － ＠` (which some spreadsheets fold
/// to ASCII before evaluating), gets a `'` in front.
pub fn safe_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some(
            '=' | '+' | '-' | '@' | '\t' | '\r' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}',
        ) => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

fn writer(buf: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(buf)
}

/// The bytes written so far, and a fresh writer for what follows.
fn take(w: csv::Writer<Vec<u8>>) -> std::io::Result<(Vec<u8>, csv::Writer<Vec<u8>>)> {
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok((bytes, writer(Vec::with_capacity(256 * 1024))))
}

fn opt(v: &Option<String>) -> Cow<'_, str> {
    v.as_deref().map(safe_cell).unwrap_or(Cow::Borrowed(""))
}

fn write_row(w: &mut csv::Writer<Vec<u8>>, r: &CsvRow) -> csv::Result<()> {
    w.write_record([
        r.signed_at.as_str(),
        r.confirmed_at.as_deref().unwrap_or(""),
        &opt(&r.first_name),
        &opt(&r.last_name),
        &opt(&r.email),
        &safe_cell(&r.country),
        &opt(&r.postcode),
        &opt(&r.comment),
        if r.email_opt_in { "true" } else { "false" },
    ])
}

/// Signatures of one status read a chunk at a time, in id order.
struct Cursor<'a> {
    db: &'a Db,
    petition_id: &'a PetitionId,
    status: SignatureStatus,
    buf: VecDeque<CsvRow>,
    after: Option<String>,
    done: bool,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Result<Option<&CsvRow>, DbError> {
        if self.buf.is_empty() && !self.done {
            let mut conn = self.db.get()?;
            let rows = signature_reports::csv_page(
                &mut conn,
                self.petition_id,
                self.status,
                self.after.as_deref(),
                CHUNK_ROWS,
            )?;
            self.done = (rows.len() as i64) < CHUNK_ROWS;
            self.after = rows.last().map(|r| r.id.clone());
            self.buf.extend(rows);
        }
        Ok(self.buf.front())
    }
}

/// Writes the CSV of `petition_id`'s signatures, handing each chunk of bytes
/// to `sink` as soon as it is made. With [`StatusFilter::All`] confirmed and
/// pending rows are merged in signing order. Returns the rows written.
pub fn signatures_csv(
    db: &Db,
    petition_id: &PetitionId,
    filter: StatusFilter,
    bom: bool,
    mut sink: impl FnMut(Vec<u8>) -> std::io::Result<()>,
) -> Result<u64, ExportError> {
    let mut w = writer(if bom { BOM.to_vec() } else { Vec::new() });
    w.write_record(HEADER).map_err(csv_io)?;
    let mut cursors: Vec<Cursor> = filter
        .statuses()
        .iter()
        .map(|s| Cursor {
            db,
            petition_id,
            status: *s,
            buf: VecDeque::new(),
            after: None,
            done: false,
        })
        .collect();
    let mut rows = 0u64;
    let mut in_chunk = 0;
    loop {
        // The cursor whose next row has the smallest id goes first.
        let mut next: Option<(usize, String)> = None;
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(r) = c.peek()? {
                if next.as_ref().is_none_or(|(_, id)| r.id < *id) {
                    next = Some((i, r.id.clone()));
                }
            }
        }
        let Some((i, _)) = next else { break };
        let row = cursors[i].buf.pop_front().expect("peeked");
        write_row(&mut w, &row).map_err(csv_io)?;
        rows += 1;
        in_chunk += 1;
        if in_chunk == CHUNK_ROWS {
            in_chunk = 0;
            let (bytes, fresh) = take(w)?;
            w = fresh;
            sink(bytes)?;
        }
    }
    let (rest, _) = take(w)?;
    if !rest.is_empty() {
        sink(rest)?;
    }
    Ok(rows)
}

fn csv_io(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// `key,count` CSV (header included) of `counts`, for `clarion export counts`.
pub fn counts_csv(counts: &[(String, i64)]) -> std::io::Result<Vec<u8>> {
    let mut w = writer(Vec::new());
    w.write_record(["key", "count"]).map_err(csv_io)?;
    for (k, n) in counts {
        w.write_record([safe_cell(k).as_ref(), n.to_string().as_str()])
            .map_err(csv_io)?;
    }
    Ok(take(w)?.0)
}

/// The dossier's `signatures.csv`: `first_name,last_name,country,confirmed_at`
/// of confirmed signatures (never an address), with a byte-order mark.
pub fn names_csv(rows: &[crate::db::signature_reports::NamedRow]) -> std::io::Result<Vec<u8>> {
    let mut w = writer(BOM.to_vec());
    w.write_record(["first_name", "last_name", "country", "confirmed_at"])
        .map_err(csv_io)?;
    for (first, last, country, at) in rows {
        let at = at
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        w.write_record([
            safe_cell(first.as_deref().unwrap_or("")).as_ref(),
            safe_cell(last.as_deref().unwrap_or("")).as_ref(),
            country.as_str(),
            at.as_str(),
        ])
        .map_err(csv_io)?;
    }
    Ok(take(w)?.0)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    pub confirmed: i64,
    pub pending: i64,
    /// Confirmed signatures per key.
    pub by: BTreeMap<String, i64>,
    /// Pending signatures per key.
    pub pending_by: BTreeMap<String, i64>,
}

/// What `by` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    Country,
    Day,
}

impl CountBy {
    pub fn parse(s: &str) -> Option<CountBy> {
        match s {
            "country" => Some(CountBy::Country),
            "day" => Some(CountBy::Day),
            _ => None,
        }
    }
}

/// Counts of one petition, from the signature rows (the same rows an export
/// holds). Shared with `clarion export counts`.
pub fn counts(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
    by: CountBy,
) -> Result<CountsView, DbError> {
    let (confirmed, pending) = signature_reports::totals(conn, petition_id)?;
    let rows = match by {
        CountBy::Country => signature_reports::by_country(conn, petition_id)?,
        CountBy::Day => signature_reports::by_day(conn, petition_id)?,
    };
    let mut view = CountsView {
        confirmed,
        pending,
        by: BTreeMap::new(),
        pending_by: BTreeMap::new(),
    };
    for (status, key, n) in rows {
        let map = match status {
            SignatureStatus::Confirmed => &mut view.by,
            SignatureStatus::Pending => &mut view.pending_by,
        };
        *map.entry(key).or_default() += n;
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_spreadsheets_would_run_are_prefixed() {
        for s in [
            "=SUM(A1)",
            "+1",
            "-2",
            "@cmd",
            "\tx",
            "\rx",
            "＝SUM(A1)",
            "＋1",
            "－2",
            "＠cmd",
        ] {
            assert_eq!(safe_cell(s), format!("'{s}"));
        }
        for s in ["Ann", "", "1+1", "a=b", "'quoted", "Ａnn", "a＝b"] {
            assert_eq!(safe_cell(s), s);
        }
    }

    #[test]
    fn counts_csv_has_a_header_and_crlf() {
        let out = counts_csv(&[("KG".into(), 3), ("GB".into(), 1)]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "key,count\r\nKG,3\r\nGB,1\r\n"
        );
    }
}
