//! PaperService: the custody of paper originals.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, DocumentName, Error, HolderContact, HolderName, LoanName, LoanNote, OrgUnitCode,
    Paper, PaperCondition, PaperEvent, PaperHolder, PaperPlace, PaperState, PlaceName, PlaceNumber,
    SignOut, SignOutQuery, SignOutRequest, StocktakePlace,
};
use crate::grpc::convert::{optional, parse_timestamp, required, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

/// Sign-outs listed when the caller names no page size, and the most.
const DEFAULT_SIGN_OUTS: usize = 50;
const MAX_SIGN_OUTS: usize = 1000;

pub struct PaperService {
    archive: Archive,
}

impl PaperService {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }

    fn reply(&self, paper: &Paper) -> Response<pb::Paper> {
        Response::new(paper_to_proto(paper, self.archive.now()))
    }
}

#[tonic::async_trait]
impl pb::paper_service_server::PaperService for PaperService {
    async fn set_paper_location(
        &self,
        request: Request<pb::SetPaperLocationRequest>,
    ) -> Result<Response<pb::Paper>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let document = DocumentName::parse("document", &request.document)?;
        let place = match (request.exists_on_paper, request.location) {
            (true, Some(location)) => Some(parse_place(location)?),
            (true, None) => {
                return Err(Error::invalid(
                    "location",
                    "is required when the paper exists (room and shelf at least)",
                )
                .into());
            }
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Error::invalid(
                    "location",
                    "must be unset for a record with no paper (exists_on_paper false)",
                )
                .into());
            }
        };
        let reason = required("reason", &request.reason, LoanNote::parse)?;
        let paper = self
            .archive
            .set_paper_location(&actor, &document, place, reason)
            .await?;
        Ok(self.reply(&paper))
    }

    async fn get_paper(
        &self,
        request: Request<pb::GetPaperRequest>,
    ) -> Result<Response<pb::Paper>, Status> {
        let actor = actor(&request)?;
        let document = DocumentName::parse("document", &request.into_inner().document)?;
        let paper = self.archive.paper(&actor, &document).await?;
        Ok(self.reply(&paper))
    }

    async fn sign_out_paper(
        &self,
        request: Request<pb::SignOutPaperRequest>,
    ) -> Result<Response<pb::Paper>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let holder = request
            .holder
            .ok_or_else(|| Error::invalid("holder", "is required: who takes the paper"))?;
        let request = SignOutRequest {
            document: DocumentName::parse("document", &request.document)?,
            holder: PaperHolder {
                name: required("holder.name", &holder.name, HolderName::parse)?,
                org_unit: optional(
                    "holder.org_unit_code",
                    &holder.org_unit_code,
                    OrgUnitCode::parse,
                )?,
                contact: optional("holder.contact", &holder.contact, HolderContact::parse)?,
            },
            due: parse_timestamp("due_time", request.due_time)?
                .ok_or_else(|| Error::invalid("due_time", "is required"))?,
            loan: if request.loan.is_empty() {
                None
            } else {
                Some(LoanName::parse("loan", &request.loan)?)
            },
        };
        let paper = self.archive.sign_out_paper(&actor, request).await?;
        Ok(self.reply(&paper))
    }

    async fn sign_in_paper(
        &self,
        request: Request<pb::SignInPaperRequest>,
    ) -> Result<Response<pb::Paper>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let document = DocumentName::parse("document", &request.document)?;
        let condition = match pb::PaperCondition::try_from(request.condition) {
            Ok(pb::PaperCondition::Complete) => PaperCondition::Complete,
            Ok(pb::PaperCondition::Damaged) => PaperCondition::Damaged,
            Ok(pb::PaperCondition::PagesMissing) => PaperCondition::PagesMissing,
            _ => {
                return Err(Error::invalid(
                    "condition",
                    "is required: complete, damaged or pages missing",
                )
                .into());
            }
        };
        let note = optional("note", &request.note, LoanNote::parse)?;
        let paper = self
            .archive
            .sign_in_paper(&actor, &document, condition, note)
            .await?;
        Ok(self.reply(&paper))
    }

    async fn report_paper_lost(
        &self,
        request: Request<pb::ReportPaperLostRequest>,
    ) -> Result<Response<pb::Paper>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let document = DocumentName::parse("document", &request.document)?;
        let note = required("note", &request.note, LoanNote::parse)?;
        let paper = self
            .archive
            .report_paper_lost(&actor, &document, note)
            .await?;
        tracing::warn!(document = %document, "paper reported lost");
        Ok(self.reply(&paper))
    }

    async fn list_paper_history(
        &self,
        request: Request<pb::ListPaperHistoryRequest>,
    ) -> Result<Response<pb::ListPaperHistoryResponse>, Status> {
        let actor = actor(&request)?;
        let document = DocumentName::parse("document", &request.into_inner().document)?;
        let events = self.archive.paper_history(&actor, &document).await?;
        let now = self.archive.now();
        Ok(Response::new(pb::ListPaperHistoryResponse {
            events: events
                .iter()
                .map(|event| event_to_proto(event, now))
                .collect(),
        }))
    }

    async fn list_sign_outs(
        &self,
        request: Request<pb::ListSignOutsRequest>,
    ) -> Result<Response<pb::ListSignOutsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let limit = match request.page_size {
            0 => DEFAULT_SIGN_OUTS,
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative").into()),
            n => (n as usize).min(MAX_SIGN_OUTS),
        };
        let query = SignOutQuery {
            overdue_only: request.overdue_only,
            include_returned: request.include_returned,
            after: parse_timestamp("signed_out_after", request.signed_out_after)?,
            before: parse_timestamp("signed_out_before", request.signed_out_before)?,
            limit,
        };
        let sign_outs = self.archive.sign_outs(&actor, &query).await?;
        let now = self.archive.now();
        Ok(Response::new(pb::ListSignOutsResponse {
            sign_outs: sign_outs
                .iter()
                .map(|sign_out| sign_out_to_proto(sign_out, now))
                .collect(),
        }))
    }

    async fn stocktake(
        &self,
        request: Request<pb::StocktakeRequest>,
    ) -> Result<Response<pb::StocktakeReport>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let place = StocktakePlace {
            room: required("room", &request.room, PlaceName::parse)?,
            shelf: required("shelf", &request.shelf, PlaceName::parse)?,
            box_number: optional("box", &request.r#box, PlaceNumber::parse)?,
        };
        let found = request
            .found
            .iter()
            .map(|name| DocumentName::parse("found", name))
            .collect::<Result<Vec<_>, _>>()?;
        let report = self.archive.stocktake(&actor, &place, &found).await?;
        let now = self.archive.now();
        let item = |paper: &Paper| pb::StocktakeItem {
            document: paper.location.document.to_string(),
            recorded: paper.location.place.as_ref().map(place_to_proto),
            sign_out: paper
                .sign_out
                .as_ref()
                .map(|sign_out| sign_out_to_proto(sign_out, now)),
        };
        Ok(Response::new(pb::StocktakeReport {
            present: report.present as i32,
            missing: report.missing.iter().map(item).collect(),
            misplaced: report
                .misplaced
                .iter()
                .map(|misplaced| match &misplaced.recorded {
                    Some(paper) => item(paper),
                    None => pb::StocktakeItem {
                        document: misplaced.document.to_string(),
                        ..Default::default()
                    },
                })
                .collect(),
            out: report.out.iter().map(item).collect(),
            lost: report.lost.iter().map(item).collect(),
            unknown: report.unknown.iter().map(ToString::to_string).collect(),
        }))
    }
}

fn parse_place(location: pb::PaperLocation) -> Result<PaperPlace, Error> {
    parse_place_fields(
        location,
        [
            "location.room",
            "location.shelf",
            "location.box",
            "location.item",
        ],
    )
}

/// Parses a place, naming its fields as the request does (room, shelf, box, item).
pub(super) fn parse_place_fields(
    location: pb::PaperLocation,
    [room, shelf, box_number, item]: [&'static str; 4],
) -> Result<PaperPlace, Error> {
    Ok(PaperPlace {
        room: required(room, &location.room, PlaceName::parse)?,
        shelf: required(shelf, &location.shelf, PlaceName::parse)?,
        box_number: optional(box_number, &location.r#box, PlaceNumber::parse)?,
        item: optional(item, &location.item, PlaceNumber::parse)?,
    })
}

fn place_to_proto(place: &PaperPlace) -> pb::PaperLocation {
    pb::PaperLocation {
        room: place.room.to_string(),
        shelf: place.shelf.to_string(),
        r#box: place
            .box_number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        item: place
            .item
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

fn sign_out_to_proto(sign_out: &SignOut, now: chrono::DateTime<chrono::Utc>) -> pb::SignOut {
    let sign_in = sign_out.sign_in.as_ref();
    pb::SignOut {
        name: sign_out.name(),
        document: sign_out.document.to_string(),
        holder: Some(pb::PaperHolder {
            name: sign_out.holder.name.to_string(),
            org_unit_code: sign_out
                .holder
                .org_unit
                .as_ref()
                .map(|unit| unit.as_str().to_owned())
                .unwrap_or_default(),
            contact: sign_out
                .holder
                .contact
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        due_time: Some(timestamp(sign_out.due)),
        loan: sign_out
            .loan
            .map(|loan| loan.to_string())
            .unwrap_or_default(),
        signed_out_by: sign_out.by.clone(),
        sign_out_time: Some(timestamp(sign_out.time)),
        signed_in_by: sign_in.map(|s| s.by.clone()).unwrap_or_default(),
        sign_in_time: sign_in.map(|s| timestamp(s.time)),
        condition: match sign_in.map(|s| s.condition) {
            None => pb::PaperCondition::Unspecified,
            Some(PaperCondition::Complete) => pb::PaperCondition::Complete,
            Some(PaperCondition::Damaged) => pb::PaperCondition::Damaged,
            Some(PaperCondition::PagesMissing) => pb::PaperCondition::PagesMissing,
            Some(PaperCondition::Lost) => pb::PaperCondition::Lost,
        }
        .into(),
        sign_in_note: sign_in
            .and_then(|s| s.note.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        overdue: sign_out.is_overdue(now),
    }
}

fn paper_to_proto(paper: &Paper, now: chrono::DateTime<chrono::Utc>) -> pb::Paper {
    let location = &paper.location;
    let loss = paper.loss.as_ref();
    pb::Paper {
        document: location.document.to_string(),
        location: location.place.as_ref().map(place_to_proto),
        exists_on_paper: location.place.is_some(),
        state: match paper.state() {
            PaperState::In => pb::PaperState::In,
            PaperState::Out => pb::PaperState::Out,
            PaperState::Lost => pb::PaperState::Lost,
            PaperState::None => pb::PaperState::None,
        }
        .into(),
        revision: location.revision as i32,
        set_by: location.set_by.clone(),
        set_time: Some(timestamp(location.set_time)),
        reason: location.reason.to_string(),
        sign_out: paper
            .sign_out
            .as_ref()
            .map(|sign_out| sign_out_to_proto(sign_out, now)),
        lost_by: loss.map(|loss| loss.by.clone()).unwrap_or_default(),
        lost_time: loss.map(|loss| timestamp(loss.time)),
        lost_note: loss.map(|loss| loss.note.to_string()).unwrap_or_default(),
    }
}

fn event_to_proto(event: &PaperEvent, now: chrono::DateTime<chrono::Utc>) -> pb::PaperEvent {
    let time = Some(timestamp(event.time()));
    match event {
        PaperEvent::Located(location) => pb::PaperEvent {
            time,
            kind: "location".into(),
            by: location.set_by.clone(),
            location: location.place.as_ref().map(place_to_proto),
            sign_out: None,
            note: location.reason.to_string(),
        },
        PaperEvent::SignedOut(sign_out) => pb::PaperEvent {
            time,
            kind: "signed_out".into(),
            by: sign_out.by.clone(),
            location: None,
            sign_out: Some(sign_out_to_proto(sign_out, now)),
            note: String::new(),
        },
        PaperEvent::SignedIn(sign_out) => {
            let sign_in = sign_out.sign_in.as_ref();
            pb::PaperEvent {
                time,
                kind: if sign_in.is_some_and(|s| s.condition == PaperCondition::Lost) {
                    "lost_while_out".into()
                } else {
                    "signed_in".into()
                },
                by: sign_in.map(|s| s.by.clone()).unwrap_or_default(),
                location: None,
                sign_out: Some(sign_out_to_proto(sign_out, now)),
                note: sign_in
                    .and_then(|s| s.note.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }
        }
        PaperEvent::Lost(loss) => pb::PaperEvent {
            time,
            kind: "lost".into(),
            by: loss.by.clone(),
            location: None,
            sign_out: None,
            note: loss.note.to_string(),
        },
    }
}
