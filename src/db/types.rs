//! How the domain's ids, statuses, roles and kinds are stored: as the same
//! text they always were, through diesel's `ToSql`/`FromSql`, so rows read
//! straight into typed fields and queries take typed values.
//!
//! The domain types know nothing of SQL; everything diesel needs of them is
//! implemented here. `AsExpression` and `Queryable` come from diesel's own
//! derives applied to proxy structs (`foreign_derive`); `ToSql`/`FromSql` are
//! written once for every backend whose `str`/`String` are text.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Text};

use crate::domain::{
    AlertId, AlertStatus, CaseId, CaseStatus, DeliveryId, DeliveryKind, DeliveryStatus, ListId,
    PetitionId, PetitionStatus, Role, SignatureId, SignatureStatus, SupporterId, SupporterStatus,
    TokenId, UserId,
};

/// A value stored as text: its words out, `parse` back in.
macro_rules! text_column {
    ($($ty:ident => $proxy:ident),+ $(,)?) => {$(
        #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(foreign_derive, sql_type = Text)]
        #[allow(dead_code)]
        struct $proxy($ty);

        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                $ty::parse(&s).map_err(|e| format!("{}: {e} ({s:?})", stringify!($ty)).into())
            }
        }
    )+};
}

text_column!(
    CaseId => CaseIdColumn,
    PetitionId => PetitionIdColumn,
    SignatureId => SignatureIdColumn,
    SupporterId => SupporterIdColumn,
    ListId => ListIdColumn,
    AlertId => AlertIdColumn,
    UserId => UserIdColumn,
    TokenId => TokenIdColumn,
    CaseStatus => CaseStatusColumn,
    PetitionStatus => PetitionStatusColumn,
    SignatureStatus => SignatureStatusColumn,
    SupporterStatus => SupporterStatusColumn,
    AlertStatus => AlertStatusColumn,
    DeliveryStatus => DeliveryStatusColumn,
    DeliveryKind => DeliveryKindColumn,
    Role => RoleColumn,
);

#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(foreign_derive, sql_type = BigInt)]
#[allow(dead_code)]
struct DeliveryIdColumn(DeliveryId);

impl<DB> ToSql<BigInt, DB> for DeliveryId
where
    DB: Backend,
    i64: ToSql<BigInt, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        <i64 as ToSql<BigInt, DB>>::to_sql(&self.0, out)
    }
}

impl<DB> FromSql<BigInt, DB> for DeliveryId
where
    DB: Backend,
    i64: FromSql<BigInt, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        <i64 as FromSql<BigInt, DB>>::from_sql(bytes).map(DeliveryId)
    }
}

/// A moment in a row being inserted: bound exactly as diesel binds a
/// `NaiveDateTime` (on SQLite the text `%F %T%.f`, on PostgreSQL its own
/// binary form), but on SQLite written digit by digit rather than through
/// chrono's format machinery. Why: a new signature's rows carry seven
/// timestamps, and formatting them was 9 % of the signature writer's time
/// under bench/surge. Rows that are only inserted use it; reads keep
/// `NaiveDateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Timestamp)]
pub struct Stamp(pub chrono::NaiveDateTime);

impl From<chrono::NaiveDateTime> for Stamp {
    fn from(t: chrono::NaiveDateTime) -> Stamp {
        Stamp(t)
    }
}

impl ToSql<diesel::sql_types::Timestamp, diesel::sqlite::Sqlite> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
        out.set_value(sqlite_text(&self.0));
        Ok(serialize::IsNull::No)
    }
}

impl ToSql<diesel::sql_types::Timestamp, diesel::pg::Pg> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
        <chrono::NaiveDateTime as ToSql<diesel::sql_types::Timestamp, diesel::pg::Pg>>::to_sql(
            &self.0, out,
        )
    }
}

/// `t` as diesel writes it to SQLite: `t.format("%F %T%.f")`, the
/// fraction in 0, 3, 6 or 9 digits as it needs (years outside 0–9999 and
/// leap seconds go through chrono itself).
pub fn sqlite_text(t: &chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format("%F %T%.f").to_string();
    }
    fn digits(s: &mut String, v: u32, width: u32) {
        for i in (0..width).rev() {
            let d = (v / 10u32.pow(i)) % 10;
            s.push(char::from(b'0' + d as u8));
        }
    }
    let mut s = String::with_capacity(29);
    digits(&mut s, year as u32, 4);
    s.push('-');
    digits(&mut s, t.month(), 2);
    s.push('-');
    digits(&mut s, t.day(), 2);
    s.push(' ');
    digits(&mut s, t.hour(), 2);
    s.push(':');
    digits(&mut s, t.minute(), 2);
    s.push(':');
    digits(&mut s, t.second(), 2);
    if nanos != 0 {
        s.push('.');
        if nanos.is_multiple_of(1_000_000) {
            digits(&mut s, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            digits(&mut s, nanos / 1_000, 6);
        } else {
            digits(&mut s, nanos, 9);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;
    use crate::db::{DbConnection, DbUrl, Manager};

    #[test]
    fn typed_values_go_in_and_come_out_as_their_words() {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::parse(&format!("sqlite://{}/t.db", dir.path().display())).unwrap();
        let mut c: DbConnection = Manager::connect_once(&url).unwrap();
        let word: String = diesel::select(CaseStatus::Resolved.into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(word, "resolved");
        let back: Role = diesel::select("campaigner".into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(back, Role::Campaigner);
        let id = PetitionId::new();
        let same: PetitionId = diesel::select((&id).into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(same, id);
        let bad: QueryResult<AlertStatus> =
            diesel::select("shipped".into_sql::<Text>()).get_result(&mut c);
        assert!(bad.is_err(), "an unknown word is an error, not a default");
    }

    #[test]
    fn a_stamp_is_written_to_sqlite_exactly_as_diesel_writes_the_moment() {
        use chrono::NaiveDate;
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let mut moments = vec![
            NaiveDate::from_ymd_opt(1, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 999_999_999)
                .unwrap(),
            NaiveDate::from_ymd_opt(-5, 3, 1)
                .unwrap()
                .and_hms_opt(1, 2, 3)
                .unwrap(),
            NaiveDate::from_ymd_opt(12345, 3, 1)
                .unwrap()
                .and_hms_opt(1, 2, 3)
                .unwrap(),
            day.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap(),
        ];
        // Every shape of fraction: none, milli-, micro- and nanoseconds.
        let mut n: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            let nanos = match n % 4 {
                0 => 0,
                1 => (n >> 8) as u32 % 1000 * 1_000_000,
                2 => (n >> 8) as u32 % 1_000_000 * 1000,
                _ => (n >> 8) as u32 % 1_000_000_000,
            };
            let secs = (n >> 40) as u32 % 86_400;
            let date = day + chrono::Days::new((n >> 20) % 40_000) - chrono::Days::new(20_000);
            moments.push(date.and_time(
                chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).unwrap(),
            ));
        }
        for t in moments {
            assert_eq!(
                super::sqlite_text(&t),
                t.format("%F %T%.f").to_string(),
                "{t:?}"
            );
        }
    }
}
