//! Adding supporters to a list in bulk: from a CSV file (CLI and API) or a
//! JSON array (API). One code path for all three, so they agree.
//!
//! Policy:
//! * Every address goes through `Email::parse`, the project's one
//!   normalisation; other fields through their domain parsers. A row that
//!   fails is rejected with its position and a reason a campaigner can act on.
//! * Memory stays flat: rows are read one at a time and written in batches of
//!   [`BATCH_ROWS`], one transaction each. Duplicates within the file are
//!   found through a temporary table of the addresses met so far (on disk,
//!   private to the import's connection), not a set in memory; the detailed
//!   rejection list is capped at [`MAX_REPORTED`] entries (the counts stay
//!   exact).
//! * An import never re-subscribes anyone: unsubscribed and bounced
//!   supporters are left exactly as they are, and addresses of erased people
//!   (remembered only as a keyed hash, or the unkeyed one of older
//!   erasures: `db::supporters::erased_among`) are not brought back. Such rows are
//!   reported as `skipped`.
//! * Importing the same rows again changes nothing: existing supporters are
//!   only written when a non-empty cell differs from what is stored, and a
//!   membership is only added when missing.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::Serialize;

use crate::db::supporters::{self, Supporter, SupporterDetails};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{
    CountryCode, Email, ListId, PersonName, Postcode, SupporterId, SupporterStatus,
};

/// Rows per transaction: large enough that commits do not dominate, small
/// enough that a writer holds SQLite's lock only briefly.
pub const BATCH_ROWS: usize = 2000;
/// Rejected and skipped rows listed in a report; beyond this only counted.
pub const MAX_REPORTED: usize = 10_000;
/// The CSV columns read; others are ignored.
pub const COLUMNS: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "country",
    "postcode",
    "locale",
];

/// One rejected or skipped row: `line` in a CSV file (the header is line 1),
/// `index` (from 0) in a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// New supporters created and put on the list.
    pub added: u64,
    /// Existing supporters whose details changed or who joined the list.
    pub updated: u64,
    /// Rows that matched a supporter already on the list with the same details.
    pub unchanged: u64,
    /// Rows refused, each with its position and reason (at most 10,000 listed).
    pub rejected: Vec<RowProblem>,
    pub rejected_count: u64,
    /// Valid rows left alone because the person unsubscribed, bounced or was erased.
    pub skipped: Vec<RowProblem>,
    pub skipped_count: u64,
}

impl ImportReport {
    fn sort(&mut self) {
        let key = |p: &RowProblem| (p.line, p.index);
        self.rejected.sort_by_key(key);
        self.skipped.sort_by_key(key);
    }

    fn reject(&mut self, p: RowProblem) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_REPORTED {
            self.rejected.push(p);
        }
    }

    fn skip(&mut self, p: RowProblem) {
        self.skipped_count += 1;
        if self.skipped.len() < MAX_REPORTED {
            self.skipped.push(p);
        }
    }

    /// Rows read, whatever became of them.
    pub fn rows(&self) -> u64 {
        self.added + self.updated + self.unchanged + self.rejected_count + self.skipped_count
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV header has no \"email\" column (columns read: {})", COLUMNS.join(", "))]
    NoEmailColumn,
    #[error("cannot read the CSV: {0}")]
    Read(#[from] csv::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Where a row came from, for reports.
#[derive(Debug, Clone, Copy)]
enum Position {
    Line(u64),
    Index(u64),
}

impl Position {
    fn problem(self, reason: impl Into<String>) -> RowProblem {
        let (line, index) = match self {
            Position::Line(l) => (Some(l), None),
            Position::Index(i) => (None, Some(i)),
        };
        RowProblem {
            line,
            index,
            reason: reason.into(),
        }
    }

    fn describe(self) -> String {
        match self {
            Position::Line(l) => format!("line {l}"),
            Position::Index(i) => format!("index {i}"),
        }
    }
}

/// The raw cells of one row, before parsing.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawRow<'a> {
    pub email: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub country: Option<&'a str>,
    pub postcode: Option<&'a str>,
    pub locale: Option<&'a str>,
}

struct ValidRow {
    email: Email,
    details: SupporterDetails,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A locale tag such as `en`, `ru-KG` or `pt_BR` (BCP 47 shape, loosely).
fn parse_locale(s: &str) -> Result<String, String> {
    let ok = s.len() <= 35
        && s.split(['-', '_'])
            .all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(s.replace('_', "-"))
    } else {
        Err("Use a language tag such as en or ru-KG".into())
    }
}

/// Parses one row; on failure, one reason naming every bad field.
fn parse_row(raw: &RawRow) -> Result<ValidRow, String> {
    let mut errors: Vec<String> = Vec::new();
    let mut field = |name: &str, r: Result<Option<String>, String>| match r {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("{name}: {e}"));
            None
        }
    };
    let email = match non_empty(raw.email) {
        None => {
            field("email", Err("This field is required".into()));
            None
        }
        Some(e) => match Email::parse(e) {
            Ok(e) => Some(e),
            Err(e) => {
                field("email", Err(e.to_string()));
                None
            }
        },
    };
    let name = |s: Option<&str>| -> Result<Option<String>, String> {
        non_empty(s)
            .map(|s| PersonName::parse(s).map(|n| n.as_str().to_string()))
            .transpose()
            .map_err(|e| e.to_string())
    };
    let details = SupporterDetails {
        first_name: field("first_name", name(raw.first_name)),
        last_name: field("last_name", name(raw.last_name)),
        country: field(
            "country",
            non_empty(raw.country)
                .map(|s| CountryCode::parse(s).map(|c| c.as_str().to_string()))
                .transpose()
                .map_err(|e| e.to_string()),
        ),
        postcode: field(
            "postcode",
            Postcode::parse_optional(raw.postcode.unwrap_or(""))
                .map(|p| p.map(|p| p.as_str().to_string()))
                .map_err(|e| e.to_string()),
        ),
        locale: field(
            "locale",
            non_empty(raw.locale).map(parse_locale).transpose(),
        ),
    };
    match email {
        Some(email) if errors.is_empty() => Ok(ValidRow { email, details }),
        _ => Err(errors.join("; ")),
    }
}

/// How new supporters' consent is recorded.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// `import` (CSV) or `api` (JSON members).
    pub source: &'static str,
    /// Who ran it, as in the audit log.
    pub actor: String,
}

/// Feeds rows into batched transactions and keeps the report.
pub struct Importer<'c> {
    conn: &'c mut DbConnection,
    list_id: ListId,
    consent_source: String,
    consent_wording: String,
    batch: Vec<(Position, ValidRow)>,
    /// Addresses in the current batch (earlier batches are in the database).
    in_batch: HashMap<String, Position>,
    report: ImportReport,
}

impl<'c> Importer<'c> {
    pub fn new(
        conn: &'c mut DbConnection,
        list: &db::lists::List,
        provenance: &Provenance,
    ) -> Result<Importer<'c>, DbError> {
        supporters::import_seen_start(conn)?;
        Ok(Importer {
            conn,
            list_id: list.id.clone(),
            consent_source: provenance.source.to_string(),
            consent_wording: format!(
                "Added to the list \"{}\" by {} ({}); consent was collected before the import.",
                list.name, provenance.actor, provenance.source
            ),
            batch: Vec::with_capacity(BATCH_ROWS),
            in_batch: HashMap::new(),
            report: ImportReport::default(),
        })
    }

    fn push(&mut self, pos: Position, raw: &RawRow) -> Result<(), DbError> {
        let row = match parse_row(raw) {
            Ok(r) => r,
            Err(reason) => {
                self.report.reject(pos.problem(reason));
                return Ok(());
            }
        };
        if let Some(first) = self.in_batch.get(row.email.as_str()) {
            self.report.reject(duplicate(pos, *first));
            return Ok(());
        }
        self.in_batch.insert(row.email.as_str().to_string(), pos);
        self.batch.push((pos, row));
        if self.batch.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DbError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.in_batch.clear();
        // On PostgreSQL a concurrent signature may create the same supporter
        // between our lookup and insert; the batch is then simply redone.
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            match write_batch(
                self.conn,
                &self.list_id,
                &self.consent_source,
                &self.consent_wording,
                &batch,
            ) {
                Err(DbError::Query(e)) if db::is_unique_violation(&e) && attempts < 3 => continue,
                other => break other?,
            }
        };
        let r = &mut self.report;
        r.added += outcome.added;
        r.updated += outcome.updated;
        r.unchanged += outcome.unchanged;
        for p in outcome.skipped {
            r.skip(p);
        }
        for p in outcome.duplicates {
            r.reject(p);
        }
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<ImportReport, DbError> {
        self.flush()?;
        supporters::import_seen_finish(self.conn)?;
        self.report.sort();
        Ok(self.report)
    }

    /// Reads a CSV with a header row from `input`.
    pub fn read_csv<R: Read>(
        &mut self,
        input: R,
        mut progress: impl FnMut(&ImportReport, u64),
    ) -> Result<(), ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(LineEnds::new(input));
        let headers = reader.byte_headers()?.clone();
        let mut index: [Option<usize>; 6] = [None; 6];
        for (i, h) in headers.iter().enumerate() {
            let h = String::from_utf8_lossy(h);
            let h = h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase();
            if let Some(c) = COLUMNS.iter().position(|c| *c == h) {
                index[c].get_or_insert(i);
            }
        }
        if index[0].is_none() {
            return Err(ImportError::NoEmailColumn);
        }
        let mut record = csv::ByteRecord::new();
        let mut bytes_read = 0;
        let mut rows = 0u64;
        while reader.read_byte_record(&mut record)? {
            rows += 1;
            let pos = record.position().map(|p| p.line()).unwrap_or(0);
            bytes_read = record.position().map(|p| p.byte()).unwrap_or(bytes_read);
            let mut cells: [Option<&str>; 6] = [None; 6];
            let mut bad_utf8 = false;
            for (c, i) in index.iter().enumerate() {
                if let Some(field) = i.and_then(|i| record.get(i)) {
                    match std::str::from_utf8(field) {
                        Ok(s) => cells[c] = Some(s),
                        Err(_) => bad_utf8 = true,
                    }
                }
            }
            if bad_utf8 {
                self.report.reject(
                    Position::Line(pos)
                        .problem("the row is not UTF-8 text; save the file as UTF-8"),
                );
            } else {
                let raw = RawRow {
                    email: cells[0],
                    first_name: cells[1],
                    last_name: cells[2],
                    country: cells[3],
                    postcode: cells[4],
                    locale: cells[5],
                };
                self.push(Position::Line(pos), &raw)?;
            }
            if rows.is_multiple_of(10_000) {
                progress(&self.report, bytes_read);
            }
        }
        progress(&self.report, bytes_read);
        Ok(())
    }

    /// Adds the rows of a JSON array, reported by index.
    pub fn add_rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = Result<RawRow<'a>, String>>,
    ) -> Result<(), DbError> {
        for (i, row) in rows.into_iter().enumerate() {
            match row {
                Ok(raw) => self.push(Position::Index(i as u64), &raw)?,
                Err(reason) => self
                    .report
                    .reject(Position::Index(i as u64).problem(reason)),
            }
        }
        Ok(())
    }
}

fn duplicate(pos: Position, first: Position) -> RowProblem {
    pos.problem(format!("duplicate: the same email as {}", first.describe()))
}

fn ordinal(pos: Position) -> i64 {
    match pos {
        Position::Line(n) | Position::Index(n) => n as i64,
    }
}

#[derive(Default)]
struct BatchOutcome {
    added: u64,
    updated: u64,
    unchanged: u64,
    skipped: Vec<RowProblem>,
    duplicates: Vec<RowProblem>,
}

fn write_batch(
    conn: &mut DbConnection,
    list_id: &ListId,
    consent_source: &str,
    consent_wording: &str,
    batch: &[(Position, ValidRow)],
) -> Result<BatchOutcome, DbError> {
    db::write_tx(conn, |conn| {
        let now = db::now();
        let mut out = BatchOutcome::default();
        // Addresses met in earlier batches are duplicates; the rest are
        // remembered for the batches to come.
        let all: Vec<&str> = batch.iter().map(|(_, r)| r.email.as_str()).collect();
        let seen: HashMap<String, i64> = supporters::import_seen_among(conn, &all)?
            .into_iter()
            .collect();
        let mut fresh = Vec::with_capacity(batch.len());
        for (pos, row) in batch {
            match seen.get(row.email.as_str()) {
                Some(first) => {
                    let first = match pos {
                        Position::Line(_) => Position::Line(*first as u64),
                        Position::Index(_) => Position::Index(*first as u64),
                    };
                    out.duplicates.push(duplicate(*pos, first));
                }
                None => fresh.push((*pos, row)),
            }
        }
        let remember: Vec<(&str, i64)> = fresh
            .iter()
            .map(|(pos, r)| (r.email.as_str(), ordinal(*pos)))
            .collect();
        supporters::import_seen_add(conn, &remember)?;
        let batch = fresh;
        let emails: Vec<&str> = batch.iter().map(|(_, r)| r.email.as_str()).collect();
        let existing: HashMap<String, Supporter> = supporters::by_emails(conn, &emails)?
            .into_iter()
            .filter_map(|s| s.email.clone().map(|e| (e, s)))
            .collect();
        let unknown: Vec<&str> = emails
            .iter()
            .copied()
            .filter(|e| !existing.contains_key(*e))
            .collect();
        let erased: HashSet<String> = supporters::erased_among(conn, &unknown)?
            .into_iter()
            .collect();
        let active_ids: Vec<SupporterId> = existing
            .values()
            .filter(|s| s.status == SupporterStatus::Active)
            .map(|s| s.id.clone())
            .collect();
        let members: HashSet<SupporterId> = db::lists::members_among(conn, list_id, &active_ids)?
            .into_iter()
            .collect();

        let mut new_rows = Vec::new();
        let mut join = Vec::new();
        for (pos, row) in &batch {
            let email = row.email.as_str();
            match existing.get(email) {
                Some(s) if s.status != SupporterStatus::Active => {
                    out.skipped.push(pos.problem(format!(
                        "{}: an import never re-subscribes anyone",
                        s.status
                    )));
                }
                Some(s) => {
                    let changes = row.details.changes_to(s);
                    if let Some(changes) = &changes {
                        supporters::update_details(conn, &s.id, changes, now)?;
                    }
                    let joins = !members.contains(&s.id);
                    if joins {
                        join.push(s.id.clone());
                    }
                    if changes.is_some() || joins {
                        out.updated += 1;
                    } else {
                        out.unchanged += 1;
                    }
                }
                None if erased.contains(email) => {
                    out.skipped
                        .push(pos.problem("erased: this person asked for their data to be erased"));
                }
                None => {
                    let d = row.details.clone();
                    let id = SupporterId::new();
                    join.push(id.clone());
                    new_rows.push(Supporter {
                        id,
                        email: Some(email.to_string()),
                        first_name: d.first_name,
                        last_name: d.last_name,
                        country: d.country,
                        postcode: d.postcode,
                        locale: d.locale,
                        status: SupporterStatus::Active,
                        email_opt_in: true,
                        consent_at: Some(now),
                        consent_wording: Some(consent_wording.to_string()),
                        consent_source: Some(consent_source.to_string()),
                        unsubscribed_at: None,
                        bounced_at: None,
                        erased_at: None,
                        created_at: now,
                        updated_at: now,
                        unsubscribe_reason: None,
                    });
                    out.added += 1;
                }
            }
        }
        supporters::insert_many(conn, &new_rows)?;
        db::lists::add_members(conn, list_id, &join, now)?;
        Ok(out)
    })
}

/// Reads `inner` with every line end made `\n`: spreadsheets write CRLF
/// and old Macs a bare CR, and the CSV reader counts lines by `\n` only, so
/// without this a CRLF file's rows were reported a line early and a CR-only
/// file's all on line 1. No column of a supporter file may hold a line
/// break, so nothing accepted changes.
struct LineEnds<R> {
    inner: R,
    /// The last byte handed out was a CR: a `\n` right after it is the
    /// second half of the same CRLF.
    after_cr: bool,
}

impl<R: Read> LineEnds<R> {
    fn new(inner: R) -> LineEnds<R> {
        LineEnds {
            inner,
            after_cr: false,
        }
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                match b {
                    b'\n' if self.after_cr => {
                        self.after_cr = false;
                        continue;
                    }
                    b'\r' => {
                        self.after_cr = true;
                        buf[out] = b'\n';
                    }
                    _ => {
                        self.after_cr = false;
                        buf[out] = b;
                    }
                }
                out += 1;
            }
            // A read of nothing but the LF of a CRLF split across reads
            // gives no bytes; read again rather than signal the end.
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn line_ends_become_lf_whatever_the_file_used_and_wherever_reads_split() {
        for (input, expect) in [
            ("a\r\nb\r\n", "a\nb\n"),
            ("a\rb\rc", "a\nb\nc"),
            ("a\nb\r\r\nc", "a\nb\n\nc"),
        ] {
            // One byte a read: a CRLF always splits across two reads.
            struct Drip<'a>(&'a [u8]);
            impl Read for Drip<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let Some((first, rest)) = self.0.split_first() else {
                        return Ok(0);
                    };
                    buf[0] = *first;
                    self.0 = rest;
                    Ok(1)
                }
            }
            for whole in [true, false] {
                let mut out = String::new();
                if whole {
                    LineEnds::new(input.as_bytes())
                        .read_to_string(&mut out)
                        .unwrap();
                } else {
                    LineEnds::new(Drip(input.as_bytes()))
                        .read_to_string(&mut out)
                        .unwrap();
                }
                assert_eq!(out, expect, "{input:?}");
            }
        }
    }

    use super::*;

    #[test]
    fn a_row_reason_names_every_bad_field() {
        let raw = RawRow {
            email: Some("not-an-email"),
            country: Some("XX"),
            first_name: Some("Ann"),
            ..Default::default()
        };
        let reason = parse_row(&raw).err().unwrap();
        assert!(reason.starts_with("email: "), "{reason}");
        assert!(reason.contains("; country: "), "{reason}");
    }

    #[test]
    fn an_empty_optional_cell_is_not_an_error() {
        let raw = RawRow {
            email: Some(" Ann@Example.ORG "),
            country: Some(""),
            postcode: Some(" "),
            ..Default::default()
        };
        let row = parse_row(&raw).unwrap();
        assert_eq!(row.email.as_str(), "ann@example.org");
        assert_eq!(row.details, SupporterDetails::default());
    }

    #[test]
    fn locales_look_like_language_tags() {
        assert_eq!(parse_locale("pt_BR").unwrap(), "pt-BR");
        assert!(parse_locale("ru").is_ok());
        assert!(parse_locale("en gb").is_err());
        assert!(parse_locale("x".repeat(40).as_str()).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// The reference for [`LineEnds`]: CRLF and lone CR become LF.
        fn lf(bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\r' => {
                        out.push(b'\n');
                        if bytes.get(i + 1) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            out
        }

        /// Hands out `bytes` in reads of the given sizes (cycled).
        struct Chunked<'a> {
            bytes: &'a [u8],
            sizes: Vec<usize>,
            n: usize,
        }

        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let want = self.sizes[self.n % self.sizes.len()].min(buf.len());
                self.n += 1;
                let k = want.min(self.bytes.len());
                buf[..k].copy_from_slice(&self.bytes[..k]);
                self.bytes = &self.bytes[k..];
                Ok(k)
            }
        }

        /// Cells as a CSV may hold them: words, names in several scripts,
        /// addresses, and the characters a row must never smuggle in.
        fn cell() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                4 => "[ A-Za-zÀ-ÿА-я0-9.,'@_+-]{0,30}",
                1 => "[a-z]{1,8}@[a-z]{1,8}\\.(org|kg|рф)",
                1 => "[\u{0}-\u{1f}\u{7f}\u{85}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}a ]{0,6}",
                1 => any::<String>(),
            ])
        }

        /// No character a row refuses: controls, bidirectional and
        /// invisible formatting characters, line breaks.
        fn clean(v: &str) -> bool {
            !v.chars()
                .any(|c| c.is_control() || crate::domain::text::is_forbidden_control(c))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the bytes and however the reads split them, the
            /// reader hands on the same text with every line end an LF.
            #[test]
            fn line_ends_are_lf_for_any_bytes_and_any_reads(
                bytes in proptest::collection::vec(
                    prop_oneof![3 => any::<u8>(), 1 => Just(b'\r'), 1 => Just(b'\n')],
                    0..200,
                ),
                sizes in proptest::collection::vec(1usize..9, 1..5),
            ) {
                let mut out = Vec::new();
                LineEnds::new(Chunked { bytes: &bytes, sizes, n: 0 })
                    .read_to_end(&mut out)
                    .unwrap();
                prop_assert!(!out.contains(&b'\r'));
                prop_assert_eq!(out, lf(&bytes));
            }

            /// A row of any cells is parsed without a panic; an accepted row
            /// holds no refused character, and parsing what it holds again
            /// gives the same row (the values are normalised once).
            #[test]
            fn a_row_of_any_cells_parses_to_clean_idempotent_values(
                email in cell(), first in cell(), last in cell(),
                country in cell(), postcode in cell(), locale in cell(),
            ) {
                let raw = RawRow {
                    email: email.as_deref(),
                    first_name: first.as_deref(),
                    last_name: last.as_deref(),
                    country: country.as_deref(),
                    postcode: postcode.as_deref(),
                    locale: locale.as_deref(),
                };
                match parse_row(&raw) {
                    Ok(row) => {
                        let d = &row.details;
                        for v in [Some(row.email.as_str()), d.first_name.as_deref(), d.last_name.as_deref(),
                                  d.country.as_deref(), d.postcode.as_deref(), d.locale.as_deref()]
                            .into_iter()
                            .flatten()
                        {
                            prop_assert!(clean(v), "{:?}", v);
                            prop_assert!(!v.is_empty() && v.trim() == v, "{:?}", v);
                        }
                        let again = parse_row(&RawRow {
                            email: Some(row.email.as_str()),
                            first_name: d.first_name.as_deref(),
                            last_name: d.last_name.as_deref(),
                            country: d.country.as_deref(),
                            postcode: d.postcode.as_deref(),
                            locale: d.locale.as_deref(),
                        });
                        let again = again.map_err(TestCaseError::fail)?;
                        prop_assert_eq!(again.email, row.email.clone());
                        prop_assert_eq!(&again.details, d);
                    }
                    Err(reason) => {
                        // One reason naming only real fields.
                        prop_assert!(!reason.is_empty());
                        for part in reason.split("; ") {
                            let field = part.split(':').next().unwrap_or("");
                            prop_assert!(COLUMNS.contains(&field), "{:?}", reason);
                        }
                    }
                }
            }

            /// An accepted language tag is ASCII letters, digits and
            /// hyphens, and accepted again as it is.
            #[test]
            fn locales_are_normalised_once(s in "[A-Za-z0-9_ -]{0,12}|\\PC{0,12}") {
                if let Ok(tag) = parse_locale(&s) {
                    prop_assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
                    prop_assert_eq!(parse_locale(&tag), Ok(tag.clone()));
                }
            }
        }
    }
}
