//! CompletenessService: the completeness rules, an account's completeness and the org-unit
//! report.

use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use crate::domain::{
    AccountCompleteness, AccountNumber, Archive, Case, Condition, CustomerClass, DocumentName,
    DocumentTypeCode, Error, IncompleteArchive, Item, ItemStatus, Narrowing, OrgUnitCode,
    ReportItem, ReportSummary, Rule, RuleClass, RuleKey, WorkOrderNumber, customer_name,
    parse_customer_name,
};
use crate::grpc::convert::{optional, parse_process, process_to_proto, required};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct Completeness {
    archive: Archive,
}

impl Completeness {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::completeness_service_server::CompletenessService for Completeness {
    async fn list_completeness_rules(
        &self,
        request: Request<pb::ListCompletenessRulesRequest>,
    ) -> Result<Response<pb::ListCompletenessRulesResponse>, Status> {
        let actor = actor(&request)?;
        let process = parse_process("business_process", request.into_inner().business_process)?;
        let rules = self.archive.completeness_rules(&actor, process).await?;
        Ok(Response::new(pb::ListCompletenessRulesResponse {
            rules: rules.iter().map(rule_to_proto).collect(),
        }))
    }

    async fn set_completeness_rule(
        &self,
        request: Request<pb::SetCompletenessRuleRequest>,
    ) -> Result<Response<pb::CompletenessRule>, Status> {
        let actor = actor(&request)?;
        let rule = request
            .into_inner()
            .rule
            .ok_or_else(|| Error::invalid("rule", "is required"))?;
        let rule = parse_rule(rule)?;
        let rule = self.archive.set_completeness_rule(&actor, rule).await?;
        Ok(Response::new(rule_to_proto(&rule)))
    }

    async fn delete_completeness_rule(
        &self,
        request: Request<pb::DeleteCompletenessRuleRequest>,
    ) -> Result<Response<()>, Status> {
        let actor = actor(&request)?;
        let key = RuleKey::parse_name("name", &request.into_inner().name)?;
        self.archive.delete_completeness_rule(&actor, &key).await?;
        Ok(Response::new(()))
    }

    async fn get_completeness(
        &self,
        request: Request<pb::GetCompletenessRequest>,
    ) -> Result<Response<pb::Completeness>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let account = parse_completeness_name(&request.name)?;
        let narrowing = Narrowing {
            business_process: parse_process("business_process", request.business_process)?,
            work_order: optional(
                "work_order_number",
                &request.work_order_number,
                WorkOrderNumber::parse,
            )?,
        };
        let completeness = self
            .archive
            .completeness(&actor, &account, &narrowing)
            .await?;
        Ok(Response::new(completeness_to_proto(&completeness)))
    }

    type StreamCompletenessReportStream =
        BoxStream<'static, Result<pb::StreamCompletenessReportResponse, Status>>;

    async fn stream_completeness_report(
        &self,
        request: Request<pb::StreamCompletenessReportRequest>,
    ) -> Result<Response<Self::StreamCompletenessReportStream>, Status> {
        let actor = actor(&request)?;
        let unit = required(
            "org_unit_code",
            &request.into_inner().org_unit_code,
            OrgUnitCode::parse,
        )?;
        let report = self.archive.completeness_report(&actor, &unit).await?;
        let messages = report.map(|item| {
            let item = match item? {
                ReportItem::Incomplete(archive) => {
                    pb::stream_completeness_report_response::Item::IncompleteArchive(
                        incomplete_to_proto(&archive),
                    )
                }
                ReportItem::Summary(summary) => {
                    pb::stream_completeness_report_response::Item::Summary(summary_to_proto(
                        &summary,
                    ))
                }
            };
            Ok(pb::StreamCompletenessReportResponse { item: Some(item) })
        });
        Ok(Response::new(messages.boxed()))
    }
}

/// Parses `customers/{account_number}/completeness`.
fn parse_completeness_name(name: &str) -> Result<AccountNumber, Error> {
    let customer = name.strip_suffix("/completeness").ok_or_else(|| {
        Error::invalid(
            "name",
            format!("expected `customers/{{account_number}}/completeness`, got {name:?}"),
        )
    })?;
    parse_customer_name("name", customer)
}

fn parse_rule(rule: pb::CompletenessRule) -> Result<Rule, Error> {
    let key = RuleKey {
        business_process: parse_process("rule.business_process", rule.business_process)?
            .ok_or_else(|| Error::invalid("rule.business_process", "is required"))?,
        customer_class: match pb::CustomerClass::try_from(rule.customer_class) {
            Ok(pb::CustomerClass::Unspecified) => RuleClass::Any,
            Ok(pb::CustomerClass::Residential) => RuleClass::Only(CustomerClass::Residential),
            Ok(pb::CustomerClass::NonResidential) => RuleClass::Only(CustomerClass::NonResidential),
            Err(_) => {
                return Err(Error::invalid(
                    "rule.customer_class",
                    format!("{} is not a customer class", rule.customer_class),
                ));
            }
        },
        document_type: required(
            "rule.document_type",
            &rule.document_type,
            DocumentTypeCode::parse,
        )?,
    };
    let condition = match pb::RequirementCondition::try_from(rule.condition) {
        Ok(pb::RequirementCondition::Unspecified | pb::RequirementCondition::Always) => {
            Condition::Always
        }
        Ok(pb::RequirementCondition::OnFile) => Condition::OnFile,
        Ok(pb::RequirementCondition::AccountClosed) => Condition::AccountClosed,
        Err(_) => {
            return Err(Error::invalid(
                "rule.condition",
                format!("{} is not a requirement condition", rule.condition),
            ));
        }
    };
    Rule::new(key, rule.min_count.into(), condition)
}

fn condition_to_proto(condition: Condition) -> pb::RequirementCondition {
    match condition {
        Condition::Always => pb::RequirementCondition::Always,
        Condition::OnFile => pb::RequirementCondition::OnFile,
        Condition::AccountClosed => pb::RequirementCondition::AccountClosed,
    }
}

fn class_to_proto(class: CustomerClass) -> pb::CustomerClass {
    match class {
        CustomerClass::Residential => pb::CustomerClass::Residential,
        CustomerClass::NonResidential => pb::CustomerClass::NonResidential,
    }
}

fn rule_to_proto(rule: &Rule) -> pb::CompletenessRule {
    pb::CompletenessRule {
        name: rule.key.name(),
        business_process: process_to_proto(rule.key.business_process).into(),
        customer_class: match rule.key.customer_class {
            RuleClass::Any => pb::CustomerClass::Unspecified,
            RuleClass::Only(class) => class_to_proto(class),
        }
        .into(),
        document_type: rule.key.document_type.to_string(),
        min_count: rule.min_count as i32,
        condition: condition_to_proto(rule.condition).into(),
    }
}

fn completeness_to_proto(completeness: &AccountCompleteness) -> pb::Completeness {
    let account = &completeness.account;
    pb::Completeness {
        name: format!("{}/completeness", customer_name(account)),
        account_number: account.to_string(),
        customer_class: class_to_proto(completeness.customer_class).into(),
        complete: completeness.is_complete(),
        cases: completeness
            .cases
            .iter()
            .map(|case| case_to_proto(account, case))
            .collect(),
    }
}

fn case_to_proto(account: &AccountNumber, case: &Case) -> pb::CompletenessCase {
    pb::CompletenessCase {
        business_process: process_to_proto(case.business_process).into(),
        work_order_number: case
            .work_order
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        complete: case.is_complete(),
        items: case
            .items
            .iter()
            .map(|item| item_to_proto(account, item))
            .collect(),
    }
}

fn item_to_proto(account: &AccountNumber, item: &Item) -> pb::RequiredItem {
    pb::RequiredItem {
        document_type: item.document_type.to_string(),
        condition: condition_to_proto(item.condition).into(),
        required_count: item.required as i32,
        present_count: item.present as i32,
        status: match item.status() {
            ItemStatus::Present => pb::ItemStatus::Present,
            ItemStatus::PartlyPresent => pb::ItemStatus::PartlyPresent,
            ItemStatus::Missing => pb::ItemStatus::Missing,
        }
        .into(),
        documents: item
            .documents
            .iter()
            .map(|id| {
                DocumentName {
                    account: account.clone(),
                    document_id: *id,
                }
                .to_string()
            })
            .collect(),
    }
}

fn incomplete_to_proto(archive: &IncompleteArchive) -> pb::IncompleteArchive {
    pb::IncompleteArchive {
        customer: customer_name(&archive.account),
        account_number: archive.account.to_string(),
        org_unit_code: archive.org_unit.as_str().to_owned(),
        customer_class: class_to_proto(archive.customer_class).into(),
        incomplete_cases: archive
            .cases
            .iter()
            .map(|case| case_to_proto(&archive.account, case))
            .collect(),
    }
}

fn summary_to_proto(summary: &ReportSummary) -> pb::CompletenessSummary {
    pb::CompletenessSummary {
        org_unit_code: summary.org_unit.as_str().to_owned(),
        archives: summary.archives as i64,
        complete_archives: summary.complete_archives as i64,
        completeness_rate: summary.completeness_rate(),
        cases: summary.cases as i64,
        incomplete_cases: summary.incomplete_cases as i64,
    }
}
