//! A loan's life: asked for by a borrower, approved (possibly narrowed) or rejected by a
//! custodian whose scope covers what is lent, returned by the borrower or revoked by a
//! custodian. Every transition is a change committed with its audit event.

use std::collections::HashMap;

use uuid::Uuid;

use super::approval::LoanApproval;
use super::loan::{
    Borrower, Loan, LoanAct, LoanItem, LoanNote, LoanRecord, LoanRequest, LoanState, LoanTarget,
};
use crate::domain::names::LoanName;
use crate::domain::records::retention::acted_by;
use crate::domain::{
    AccountNumber, Actor, Archive, Error, Grant, OrgUnitCode, Permission, PersonalData, Resource,
};

/// How a loan ends before its due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanEnding {
    /// The borrower gives it back.
    Return,
    /// A custodian withdraws it.
    Revoke,
}

impl Archive {
    /// Records a loan request; the caller is the borrower.
    pub async fn request_loan(&self, actor: &Actor, request: LoanRequest) -> Result<Loan, Error> {
        let loan_id = Uuid::now_v7();
        let resource = loan_resource(LoanName(loan_id), request.items.iter().map(|i| &i.target));
        self.audited_change(actor, "RequestLoan", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::RequestLoans)?;
            let now = self.clock.now();
            let (start, due) = request.period(now)?;
            let loan = Loan {
                id: loan_id,
                borrower: Borrower {
                    acted_by: acted_by(actor),
                    person: actor.person.clone(),
                    role: actor.role.clone(),
                    org_unit: actor.org_unit.clone(),
                },
                purpose: request.purpose,
                purpose_note: request.purpose_note,
                requested: request.items,
                lent: Vec::new(),
                start,
                due,
                record: LoanRecord::Requested,
                request_time: now,
                personal_data: None,
                decision: None,
                end: None,
            };
            let event = event.with_details(serde_json::json!({
                "loan": loan.name().to_string(),
                "items": item_names(&loan.requested),
                "purpose": loan.purpose.code(),
                "note": loan.purpose_note.as_str(),
                "start": start,
                "due": due,
            }));
            self.db.insert_loan(&loan, &event).await?;
            Ok(loan)
        })
        .await
    }

    /// Approves a requested loan, lending all of it or less, with the personal data shown as
    /// chosen.
    pub async fn approve_loan(
        &self,
        actor: &Actor,
        name: LoanName,
        approval: LoanApproval,
    ) -> Result<Loan, Error> {
        self.audited_change(
            actor,
            "ApproveLoan",
            Resource::named(name.to_string()),
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                let mut loan = self.loan_to_decide(&grant, name).await?;
                let now = self.clock.now();
                let super::approval::Lending {
                    items: lent,
                    start,
                    due,
                } = approval.narrow(&loan, now)?;
                let units = self
                    .require_reach(&grant, lent.iter().map(|i| &i.target))
                    .await?;
                self.check_lendable(&grant, &lent, &units).await?;
                let act = LoanAct {
                    by: acted_by(actor),
                    time: now,
                    note: approval.note,
                };
                let event = event.with_details(serde_json::json!({
                    "loan": name.to_string(),
                    "lent": item_names(&lent),
                    "start": start,
                    "due": due,
                    "personal_data": personal_data_code(approval.personal_data),
                    "note": act.note.as_ref().map(LoanNote::as_str),
                }));
                loan.lent = lent;
                loan.start = start;
                loan.due = due;
                loan.personal_data = Some(approval.personal_data);
                loan.record = LoanRecord::Approved;
                loan.decision = Some(act);
                self.commit_decision(&loan, &event).await?;
                Ok(loan)
            },
        )
        .await
    }

    /// Rejects a requested loan with a reason.
    pub async fn reject_loan(
        &self,
        actor: &Actor,
        name: LoanName,
        note: LoanNote,
    ) -> Result<Loan, Error> {
        self.audited_change(
            actor,
            "RejectLoan",
            Resource::named(name.to_string()),
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                let mut loan = self.loan_to_decide(&grant, name).await?;
                self.require_reach(&grant, loan.requested.iter().map(|i| &i.target))
                    .await?;
                let event = event.with_details(serde_json::json!({
                    "loan": name.to_string(),
                    "reason": note.as_str(),
                }));
                loan.record = LoanRecord::Rejected;
                loan.decision = Some(LoanAct {
                    by: acted_by(actor),
                    time: self.clock.now(),
                    note: Some(note),
                });
                self.commit_decision(&loan, &event).await?;
                Ok(loan)
            },
        )
        .await
    }

    /// Ends an approved loan before its due time: returned by its borrower or revoked by a
    /// custodian whose scope covers what it lends.
    pub async fn end_loan(
        &self,
        actor: &Actor,
        name: LoanName,
        ending: LoanEnding,
        note: Option<LoanNote>,
    ) -> Result<Loan, Error> {
        let action = match ending {
            LoanEnding::Return => "ReturnLoan",
            LoanEnding::Revoke => "RevokeLoan",
        };
        self.audited_change(
            actor,
            action,
            Resource::named(name.to_string()),
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                let mut loan = match ending {
                    LoanEnding::Return => {
                        grant.require(Permission::RequestLoans)?;
                        self.db
                            .loan(name.0)
                            .await?
                            .filter(|loan| loan.borrower.acted_by == acted_by(actor))
                            .ok_or_else(|| loan_not_found(name))?
                    }
                    LoanEnding::Revoke => {
                        grant.require(Permission::ApproveLoans)?;
                        let loan = self
                            .db
                            .loan(name.0)
                            .await?
                            .ok_or_else(|| loan_not_found(name))?;
                        self.require_reach(&grant, loan.lent.iter().map(|i| &i.target))
                            .await?;
                        loan
                    }
                };
                let now = self.clock.now();
                let state = loan.state(now);
                let endable = match ending {
                    // A loan past due may still be given back: the register shows when.
                    LoanEnding::Return => {
                        matches!(
                            state,
                            LoanState::Approved | LoanState::Active | LoanState::Expired
                        )
                    }
                    LoanEnding::Revoke => matches!(state, LoanState::Approved | LoanState::Active),
                };
                if !endable {
                    return Err(Error::FailedPrecondition(format!(
                        "loan {name} is {state:?}: only an approved loan that has not ended can be \
                         {}",
                        match ending {
                            LoanEnding::Return => "returned",
                            LoanEnding::Revoke => "revoked",
                        }
                    )));
                }
                let event = event.with_details(serde_json::json!({
                    "loan": name.to_string(),
                    "state": format!("{state:?}"),
                    "reason": note.as_ref().map(LoanNote::as_str),
                }));
                loan.record = match ending {
                    LoanEnding::Return => LoanRecord::Returned,
                    LoanEnding::Revoke => LoanRecord::Revoked,
                };
                loan.end = Some(LoanAct {
                    by: acted_by(actor),
                    time: now,
                    note,
                });
                if !self.db.end_loan(&loan, &event).await? {
                    return Err(changed_meanwhile(name));
                }
                Ok(loan)
            },
        )
        .await
    }

    /// Returns a loan to its borrower or to a custodian whose scope covers all of it.
    pub async fn get_loan(&self, actor: &Actor, name: LoanName) -> Result<Loan, Error> {
        self.audited(actor, "GetLoan", Resource::named(name.to_string()), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            let loan = self.visible_loan(&grant, name).await?;
            self.present_loans(&grant, vec![loan])
                .await
                .map(|mut loans| loans.remove(0))
        })
        .await
    }

    /// The loan if the caller is its borrower or a custodian (approve-loans) whose scope covers
    /// every account it asks for; else `NotFound`.
    pub(crate) async fn visible_loan(
        &self,
        grant: &Grant<'_>,
        name: LoanName,
    ) -> Result<Loan, Error> {
        let loan = self
            .db
            .loan(name.0)
            .await?
            .ok_or_else(|| loan_not_found(name))?;
        if loan.borrower.acted_by == acted_by(grant.actor) {
            return Ok(loan);
        }
        if grant.allows(Permission::ApproveLoans) {
            let units = self.org_units(loan.accounts().into_iter()).await?;
            if out_of_reach(grant, loan.accounts().into_iter(), &units).is_empty() {
                return Ok(loan);
            }
        }
        Err(loan_not_found(name))
    }

    /// A loan waiting for a decision that the caller may take: approve-loans, not the borrower.
    async fn loan_to_decide(&self, grant: &Grant<'_>, name: LoanName) -> Result<Loan, Error> {
        grant.require(Permission::ApproveLoans)?;
        let loan = self
            .db
            .loan(name.0)
            .await?
            .ok_or_else(|| loan_not_found(name))?;
        if loan.borrower.person == grant.actor.person {
            return Err(Error::PermissionDenied(format!(
                "loan {name} is your own request: another custodian decides it"
            )));
        }
        if loan.record != LoanRecord::Requested {
            return Err(Error::FailedPrecondition(format!(
                "loan {name} was already decided ({:?})",
                loan.record
            )));
        }
        Ok(loan)
    }

    /// The org units of the targets' accounts, or PERMISSION_DENIED naming every account
    /// outside the grant's reach: a loan spanning several custodians' scopes is refused, and the
    /// borrower asks each of them (an approval may also leave the other accounts out).
    async fn require_reach<'t>(
        &self,
        grant: &Grant<'_>,
        targets: impl Iterator<Item = &'t LoanTarget> + Clone,
    ) -> Result<HashMap<AccountNumber, OrgUnitCode>, Error> {
        let units = self
            .org_units(targets.clone().map(LoanTarget::account))
            .await?;
        let outside = out_of_reach(grant, targets.map(LoanTarget::account), &units);
        if !outside.is_empty() {
            return Err(Error::PermissionDenied(format!(
                "accounts {} lie outside your scope: a custodian whose scope covers every \
                 account lent decides, or lend only the accounts in your scope and the borrower \
                 asks for the rest separately",
                outside.join(", ")
            )));
        }
        Ok(units)
    }

    /// Fails unless every lent document exists and the approver may see it, and every lent
    /// archive exists.
    async fn check_lendable(
        &self,
        grant: &Grant<'_>,
        lent: &[LoanItem],
        units: &HashMap<AccountNumber, OrgUnitCode>,
    ) -> Result<(), Error> {
        for item in lent {
            match &item.target {
                LoanTarget::Archive(account) => {
                    if !units.contains_key(account) {
                        return Err(Error::FailedPrecondition(format!(
                            "customers/{account} does not exist: leave it out or reject the loan"
                        )));
                    }
                }
                LoanTarget::Document(name) => match self.db.document(name).await? {
                    Some((document, _)) => {
                        if !grant.sees(&document.document_type, document.confidentiality) {
                            return Err(Error::PermissionDenied(format!(
                                "you may not see {name} ({}), so you cannot lend it",
                                document.document_type
                            )));
                        }
                    }
                    None => {
                        return Err(Error::FailedPrecondition(format!(
                            "{name} does not exist: leave it out or reject the loan"
                        )));
                    }
                },
            }
        }
        Ok(())
    }

    async fn commit_decision(
        &self,
        loan: &Loan,
        event: &crate::domain::AuditEvent,
    ) -> Result<(), Error> {
        if self.db.decide_loan(loan, event).await? {
            Ok(())
        } else {
            Err(changed_meanwhile(loan.name()))
        }
    }

    async fn org_units<'a>(
        &self,
        accounts: impl Iterator<Item = &'a AccountNumber>,
    ) -> Result<HashMap<AccountNumber, OrgUnitCode>, Error> {
        let accounts: Vec<&AccountNumber> = accounts.collect();
        Ok(self.db.org_units_of(&accounts).await?.into_iter().collect())
    }
}

/// The accounts (each once) that are unknown or outside the grant's reach.
fn out_of_reach<'a>(
    grant: &Grant<'_>,
    accounts: impl Iterator<Item = &'a AccountNumber>,
    units: &HashMap<AccountNumber, OrgUnitCode>,
) -> Vec<String> {
    let mut outside: Vec<String> = Vec::new();
    for account in accounts {
        let reached = units
            .get(account)
            .is_some_and(|unit| grant.reaches_account(account, unit));
        if !reached && !outside.iter().any(|a| a == account.as_str()) {
            outside.push(account.to_string());
        }
    }
    outside
}

/// The audit resource of a loan: its name, and its account when it names only one.
fn loan_resource<'a>(name: LoanName, targets: impl Iterator<Item = &'a LoanTarget>) -> Resource {
    let resource = Resource::named(name.to_string());
    let mut accounts = targets.map(LoanTarget::account);
    match accounts.next() {
        Some(first) if accounts.all(|other| other == first) => resource.account(first),
        _ => resource,
    }
}

fn item_names(items: &[LoanItem]) -> Vec<serde_json::Value> {
    items
        .iter()
        .map(|item| match &item.pages {
            None => serde_json::json!(item.target.to_string()),
            Some(pages) => serde_json::json!({ "name": item.target.to_string(), "pages": pages }),
        })
        .collect()
}

pub(crate) fn personal_data_code(personal_data: PersonalData) -> &'static str {
    match personal_data {
        PersonalData::Full => "full",
        PersonalData::Masked => "masked",
    }
}

pub(crate) fn loan_not_found(name: LoanName) -> Error {
    Error::NotFound(format!("loan {name} not found"))
}

fn changed_meanwhile(name: LoanName) -> Error {
    Error::Aborted(format!(
        "loan {name} changed while this call was deciding it: read it again"
    ))
}
