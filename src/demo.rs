//! The demo case loaded by `serve --demo` into a database with no case: a
//! real urgent action, told in Clarion's own words, so a newcomer sees real
//! content at once.
//!
//! It writes through `db` directly, not the campaign actions: the seed is
//! the service's own, audited as `demo`, not any campaigner's action.

use crate::db::cases::Case;
use crate::db::petitions::Petition;
use crate::db::{self, DbConnection, DbError};
use crate::domain::{CaseId, CaseStatus, PetitionId, PetitionStatus};

pub const CASE_SLUG: &str = "azimjan-askarov";
pub const PETITION_SLUG: &str = "free-azimjan-askarov";

const SUMMARY: &str = "Azimjan Askarov, an ethnic Uzbek human rights defender from southern \
Kyrgyzstan, has been serving a life sentence since September 2010. The UN Human Rights \
Committee found in April 2016 that he was arbitrarily detained, tortured and denied a fair \
trial. Kyrgyzstan's Supreme Court reviews his case on 11 July 2016.";

const BODY: &str =
    "For years Azimjan Askarov documented police abuse in Bazar-Korgon and, in 2005, \
helped refugees who fled the Andijan killings across the border in Uzbekistan.

In June 2010 several days of violence between ethnic Kyrgyz and ethnic Uzbek communities \
tore through southern Kyrgyzstan. Afterwards Askarov was charged with complicity in the \
murder of a police officer. Three months later a court sentenced him to life in prison. \
Before the trial he was beaten and ill-treated in custody and refused medical care.

We believe the charges were invented and politically motivated, and that he is a prisoner \
of conscience, held only for peacefully speaking out.

In April 2016 the UN Human Rights Committee called for his immediate release. Under \
Kyrgyzstan's criminal procedure, such a decision allows a case to be reopened on new \
grounds, and the Supreme Court will review it on 11 July 2016. Earlier hearings linked \
to the 2010 violence saw lawyers for ethnic Uzbek defendants attacked; everyone who wants \
to attend this one, lawyers and journalists included, must be able to do so safely.";

const PETITION_BODY: &str = "We call on you to release Azimjan Askarov immediately and \
unconditionally, as the UN Human Rights Committee has asked, and to quash a conviction \
that rests on a trial marred by torture.

Until he is free, ensure he receives the medical care he needs, and guarantee that the \
Supreme Court hearing on 11 July is public and that lawyers, relatives, observers and \
journalists can attend it in safety.";

/// Seeds the demo case and its open petition; does nothing if any case
/// exists. Returns whether it seeded.
pub fn seed(conn: &mut DbConnection) -> Result<bool, DbError> {
    db::write_tx(conn, |conn| {
        if db::cases::count(conn)? > 0 {
            return Ok(false);
        }
        let now = db::now();
        let case = Case {
            id: CaseId::new(),
            slug: CASE_SLUG.into(),
            title: "Azimjan Askarov: a human rights defender serving life in Kyrgyzstan".into(),
            summary: SUMMARY.into(),
            subject_name: Some("Azimjan Askarov".into()),
            country: Some("KG".into()),
            body: Some(BODY.into()),
            status: CaseStatus::Open,
            created_at: now,
            updated_at: now,
            retention_days: None,
            ended_at: None,
            retention_done_at: None,
        };
        db::cases::insert(conn, &case)?;
        let petition = Petition {
            id: PetitionId::new(),
            case_id: case.id.clone(),
            slug: PETITION_SLUG.into(),
            title: "Free Azimjan Askarov before the Supreme Court review".into(),
            target: "The Supreme Court and the Prosecutor General of the Kyrgyz Republic".into(),
            body: PETITION_BODY.into(),
            goal: Some(10_000),
            status: PetitionStatus::Open,
            require_confirmation: true,
            confirmed_count: 0,
            pending_count: 0,
            public_min_count: 0,
            created_at: now,
            updated_at: now,
        };
        db::petitions::insert(conn, &petition)?;
        db::audit::record(
            conn,
            "demo",
            "demo.seed",
            "case",
            Some(case.id.as_str()),
            None,
        )?;
        Ok(true)
    })
}
