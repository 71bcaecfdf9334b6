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
}
