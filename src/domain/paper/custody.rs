//! The custody of a paper original, free of I/O: where it is kept, who has it out, whether it
//! was lost, and what a stocktake of one shelf or box finds.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::access::identifier_masks::mask_phone;
use crate::domain::documents::document::text_field;
use crate::domain::names::{DocumentName, LoanName};
use crate::domain::{Error, LoanNote, OrgUnitCode, PersonalData};

text_field!(
    /// A room, shelf or cabinet of the archive room, e.g. `A-2` or `12-3`.
    PlaceName,
    max = 64,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

text_field!(
    /// A box or item number, e.g. `0042`.
    PlaceNumber,
    max = 32,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

text_field!(
    /// The name of the person a paper is signed out to.
    HolderName,
    max = 100,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

text_field!(
    /// A phone number or other contact of a holder: personal data.
    HolderContact,
    max = 64,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

/// Where a paper is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperPlace {
    pub room: PlaceName,
    pub shelf: PlaceName,
    pub box_number: Option<PlaceNumber>,
    pub item: Option<PlaceNumber>,
}

impl PaperPlace {
    /// Whether the paper is kept on `shelf` of `room`, and in `box_number` when one is named.
    pub fn is_at(
        &self,
        room: &PlaceName,
        shelf: &PlaceName,
        box_number: Option<&PlaceNumber>,
    ) -> bool {
        self.room == *room
            && self.shelf == *shelf
            && box_number.is_none_or(|number| self.box_number.as_ref() == Some(number))
    }
}

/// One revision of where a paper is: a place, or `None` for a record with no paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperLocation {
    pub document: DocumentName,
    pub revision: u32,
    pub place: Option<PaperPlace>,
    pub set_by: String,
    pub set_time: DateTime<Utc>,
    pub reason: LoanNote,
}

/// How a paper came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperCondition {
    Complete,
    Damaged,
    PagesMissing,
    /// It never came back: reported lost while out.
    Lost,
}

/// Who has a paper out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperHolder {
    pub name: HolderName,
    pub org_unit: Option<OrgUnitCode>,
    pub contact: Option<HolderContact>,
}

/// The sign-in that closed a sign-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub by: String,
    pub time: DateTime<Utc>,
    pub condition: PaperCondition,
    pub note: Option<LoanNote>,
}

/// One sign-out of a paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOut {
    pub id: Uuid,
    pub document: DocumentName,
    pub holder: PaperHolder,
    pub due: DateTime<Utc>,
    pub loan: Option<LoanName>,
    pub by: String,
    pub time: DateTime<Utc>,
    pub sign_in: Option<SignIn>,
}

impl SignOut {
    /// `customers/{account}/documents/{id}/signOuts/{sign_out}`.
    pub fn name(&self) -> String {
        format!("{}/signOuts/{}", self.document, self.id)
    }

    /// Due passed at `now` while still out.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.sign_in.is_none() && self.due <= now
    }

    /// The sign-out as a reader who sees personal data as `personal_data` may read it: the
    /// holder's contact is personal data (their name is a member of staff's, kept).
    pub fn presented(mut self, personal_data: PersonalData) -> Self {
        if personal_data == PersonalData::Masked {
            self.holder.contact = self.holder.contact.map(|contact| contact.map(mask_phone));
        }
        self
    }
}

/// A report that a paper is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperLoss {
    pub by: String,
    pub time: DateTime<Utc>,
    pub note: LoanNote,
}

/// Where a paper stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperState {
    In,
    Out,
    Lost,
    /// The record has no paper.
    None,
}

/// A document's paper: its current location, its open sign-out and its loss, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paper {
    pub location: PaperLocation,
    pub sign_out: Option<SignOut>,
    pub loss: Option<PaperLoss>,
}

impl Paper {
    pub fn state(&self) -> PaperState {
        if self.loss.is_some() {
            PaperState::Lost
        } else if self.location.place.is_none() {
            PaperState::None
        } else if self.sign_out.is_some() {
            PaperState::Out
        } else {
            PaperState::In
        }
    }

    /// Fails unless the paper may be signed out now: it exists, is in, and is not lost.
    pub fn check_can_sign_out(&self) -> Result<(), Error> {
        let name = &self.location.document;
        match self.state() {
            PaperState::In => Ok(()),
            PaperState::Out => Err(Error::FailedPrecondition(format!(
                "the paper of {name} is out (signed out to {} until {}): it must be signed back \
                 in before it is signed out again",
                self.sign_out
                    .as_ref()
                    .map_or("", |s| s.holder.name.as_str()),
                self.sign_out.as_ref().map(|s| s.due).unwrap_or_default()
            ))),
            PaperState::Lost => Err(Error::FailedPrecondition(format!(
                "the paper of {name} was reported lost"
            ))),
            PaperState::None => Err(Error::FailedPrecondition(format!(
                "{name} has no paper original (born digital)"
            ))),
        }
    }
}

/// One event of a paper's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaperEvent {
    Located(PaperLocation),
    SignedOut(SignOut),
    SignedIn(SignOut),
    Lost(PaperLoss),
}

impl PaperEvent {
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Self::Located(location) => location.set_time,
            Self::SignedOut(sign_out) => sign_out.time,
            Self::SignedIn(sign_out) => sign_out.sign_in.as_ref().map_or(sign_out.time, |s| s.time),
            Self::Lost(loss) => loss.time,
        }
    }
}

/// The shelf or box a stocktake counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StocktakePlace {
    pub room: PlaceName,
    pub shelf: PlaceName,
    pub box_number: Option<PlaceNumber>,
}

/// A paper found where its record does not put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    pub document: DocumentName,
    /// What the record says; `None` when no location was ever recorded.
    pub recorded: Option<Paper>,
}

/// What a stocktake of one place found, against the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StocktakeReport {
    pub present: usize,
    /// Recorded here, not found, not out: to be searched for.
    pub missing: Vec<Paper>,
    /// Found here, recorded elsewhere (or with no place recorded).
    pub misplaced: Vec<Misplaced>,
    /// Recorded here, not found, signed out.
    pub out: Vec<Paper>,
    /// Recorded here and reported lost.
    pub lost: Vec<Paper>,
    /// Found names that are not documents within the caller's reach.
    pub unknown: Vec<DocumentName>,
}

impl StocktakeReport {
    /// Compares what was found at `place` with `recorded` (the papers recorded there) and
    /// `found_records` (the found documents within reach, with their papers where recorded);
    /// `unknown` are the found names that are not such documents.
    pub fn compare(
        place: &StocktakePlace,
        found: &[DocumentName],
        recorded: Vec<Paper>,
        found_records: Vec<(DocumentName, Option<Paper>)>,
        unknown: Vec<DocumentName>,
    ) -> Self {
        let found: HashSet<&DocumentName> = found.iter().collect();
        let mut report = Self {
            unknown,
            ..Self::default()
        };
        for paper in recorded {
            let here = paper
                .location
                .place
                .as_ref()
                .is_some_and(|p| p.is_at(&place.room, &place.shelf, place.box_number.as_ref()));
            if !here {
                continue;
            }
            if found.contains(&paper.location.document) {
                report.present += 1;
            } else {
                match paper.state() {
                    PaperState::Out => report.out.push(paper),
                    PaperState::Lost => report.lost.push(paper),
                    _ => report.missing.push(paper),
                }
            }
        }
        report.misplaced = found_records
            .into_iter()
            .filter(|(_, paper)| {
                paper.as_ref().is_none_or(|paper| {
                    paper.location.place.as_ref().is_none_or(|p| {
                        !p.is_at(&place.room, &place.shelf, place.box_number.as_ref())
                    })
                })
            })
            .map(|(document, recorded)| Misplaced { document, recorded })
            .collect();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u128) -> DocumentName {
        DocumentName {
            account: crate::domain::AccountNumber::parse("1201000001").unwrap(),
            document_id: Uuid::from_u128(n),
        }
    }

    fn paper(n: u128, shelf: &str, box_number: &str) -> Paper {
        Paper {
            location: PaperLocation {
                document: name(n),
                revision: 1,
                place: Some(PaperPlace {
                    room: PlaceName::parse("A").unwrap(),
                    shelf: PlaceName::parse(shelf).unwrap(),
                    box_number: Some(PlaceNumber::parse(box_number).unwrap()),
                    item: None,
                }),
                set_by: "archive-desk/li".into(),
                set_time: Utc::now(),
                reason: LoanNote::parse("filed").unwrap(),
            },
            sign_out: None,
            loss: None,
        }
    }

    fn out(mut paper: Paper) -> Paper {
        paper.sign_out = Some(SignOut {
            id: Uuid::now_v7(),
            document: paper.location.document.clone(),
            holder: PaperHolder {
                name: HolderName::parse("王五").unwrap(),
                org_unit: None,
                contact: Some(HolderContact::parse("13812345678").unwrap()),
            },
            due: Utc::now(),
            loan: None,
            by: "archive-desk/li".into(),
            time: Utc::now(),
            sign_in: None,
        });
        paper
    }

    #[test]
    fn a_stocktake_finds_the_missing_the_misplaced_and_the_papers_out() {
        let place = StocktakePlace {
            room: PlaceName::parse("A").unwrap(),
            shelf: PlaceName::parse("1").unwrap(),
            box_number: Some(PlaceNumber::parse("7").unwrap()),
        };
        let recorded = vec![
            paper(1, "1", "7"),
            paper(2, "1", "7"),
            out(paper(3, "1", "7")),
            // Another box of the same shelf is not counted.
            paper(4, "1", "8"),
        ];
        let found = vec![
            (name(1), Some(paper(1, "1", "7"))),
            (name(5), Some(paper(5, "2", "1"))),
            (name(6), None),
        ];
        let report = StocktakeReport::compare(
            &place,
            &[name(1), name(5), name(6)],
            recorded,
            found,
            vec![],
        );
        assert_eq!(report.present, 1);
        assert_eq!(report.missing.len(), 1);
        assert_eq!(report.missing[0].location.document, name(2));
        assert_eq!(report.out[0].location.document, name(3));
        let misplaced: Vec<_> = report.misplaced.iter().map(|m| &m.document).collect();
        assert_eq!(misplaced, vec![&name(5), &name(6)]);
    }

    #[test]
    fn a_paper_out_cannot_be_signed_out_again() {
        assert!(paper(1, "1", "7").check_can_sign_out().is_ok());
        let error = out(paper(1, "1", "7")).check_can_sign_out().unwrap_err();
        assert!(error.to_string().contains("signed back in"), "{error}");
    }

    #[test]
    fn a_holders_contact_is_masked_for_masked_readers() {
        let sign_out = out(paper(1, "1", "7")).sign_out.unwrap();
        let masked = sign_out.clone().presented(PersonalData::Masked);
        assert_eq!(masked.holder.contact.unwrap().as_str(), "138****5678");
        assert_eq!(masked.holder.name.as_str(), "王五");
        let full = sign_out.presented(PersonalData::Full);
        assert_eq!(full.holder.contact.unwrap().as_str(), "13812345678");
    }
}
