//! Completeness of archives: which cases an account has, what the rules in force require of
//! each, and what is present, partly present or missing. The org-unit report applies the same
//! evaluation (see `completeness_report`).
//!
//! A case is one business process of one work order: the archive's documents with the same
//! business process and work order number. Documents filed without a work order form one case
//! per process. Every account also has its opening case (new connection), even before anything
//! is filed. Only each document's current version counts, so a correction that changes a
//! document's type or process moves it to where it now belongs. Completeness never blocks
//! filing: it is reported, and a late document simply completes its case.

use uuid::Uuid;

use super::rules::{Condition, RuleSet};
use crate::domain::Resource;
use crate::domain::{
    AccountNumber, Archive, BusinessProcess, CustomerClass, CustomerStatus, DocumentTypeCode,
    Error, WorkOrderNumber,
};
use crate::domain::{Actor, Confidentiality, Permission};

/// One current document of an archive, as completeness sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledDocument {
    pub id: Uuid,
    pub business_process: BusinessProcess,
    pub work_order: Option<WorkOrderNumber>,
    pub document_type: DocumentTypeCode,
    pub confidentiality: Confidentiality,
}

/// The documents of one type in one case: how many, and which of them the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub business_process: BusinessProcess,
    pub work_order: Option<WorkOrderNumber>,
    pub document_type: DocumentTypeCode,
    /// All of them, whether the caller sees them or not.
    pub count: u32,
    /// The ids of those the caller may see; empty in the report, which names no documents.
    pub visible: Vec<Uuid>,
}

/// How far a required item is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Present,
    /// Some, but fewer than the rule's minimum.
    PartlyPresent,
    Missing,
}

/// One requirement of a case and what meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub document_type: DocumentTypeCode,
    pub condition: Condition,
    pub required: u32,
    pub present: u32,
    /// The documents that count towards it, among those the caller may see.
    pub documents: Vec<Uuid>,
}

impl Item {
    pub fn status(&self) -> ItemStatus {
        if self.present >= self.required {
            ItemStatus::Present
        } else if self.present > 0 {
            ItemStatus::PartlyPresent
        } else {
            ItemStatus::Missing
        }
    }
}

/// One case and each of its requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub business_process: BusinessProcess,
    pub work_order: Option<WorkOrderNumber>,
    pub items: Vec<Item>,
}

impl Case {
    pub fn is_complete(&self) -> bool {
        self.items
            .iter()
            .all(|item| item.status() == ItemStatus::Present)
    }
}

/// Narrows an account's completeness to one business process or one work order, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub business_process: Option<BusinessProcess>,
    pub work_order: Option<WorkOrderNumber>,
}

impl Narrowing {
    fn keeps(&self, process: BusinessProcess, work_order: &Option<WorkOrderNumber>) -> bool {
        self.business_process.is_none_or(|p| p == process)
            && self
                .work_order
                .as_ref()
                .is_none_or(|w| work_order.as_ref() == Some(w))
    }
}

/// Evaluates the rules against what an archive holds, case by case, opening case first, then
/// by process and work order.
///
/// When narrowed to a business process of which the archive has no case yet, the answer is
/// that process's requirements with nothing present (what a work order about to start needs).
pub fn evaluate(
    rules: &RuleSet,
    class: CustomerClass,
    status: CustomerStatus,
    filed: &[Filed],
    narrowing: &Narrowing,
) -> Vec<Case> {
    let mut keys: Vec<(BusinessProcess, Option<WorkOrderNumber>)> = Vec::new();
    for entry in filed {
        let key = (entry.business_process, entry.work_order.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if !keys
        .iter()
        .any(|(process, _)| *process == BusinessProcess::NewConnection)
    {
        keys.push((BusinessProcess::NewConnection, None));
    }
    keys.retain(|(process, work_order)| narrowing.keeps(*process, work_order));
    if let (true, Some(process)) = (keys.is_empty(), narrowing.business_process) {
        keys.push((process, narrowing.work_order.clone()));
    }
    keys.sort_by(|(a, a_order), (b, b_order)| {
        rank(*a).cmp(&rank(*b)).then_with(|| {
            a_order
                .as_ref()
                .map(|w| w.as_str())
                .cmp(&b_order.as_ref().map(|w| w.as_str()))
        })
    });
    keys.into_iter()
        .map(|(process, work_order)| {
            let items = rules
                .applicable(process, class, status)
                .into_iter()
                .map(|rule| {
                    let counted = filed.iter().filter(|entry| {
                        entry.document_type == rule.key.document_type
                            && (rule.condition == Condition::OnFile
                                || (entry.business_process == process
                                    && entry.work_order == work_order))
                    });
                    let mut item = Item {
                        document_type: rule.key.document_type.clone(),
                        condition: rule.condition,
                        required: rule.min_count,
                        present: 0,
                        documents: Vec::new(),
                    };
                    for entry in counted {
                        item.present += entry.count;
                        item.documents.extend_from_slice(&entry.visible);
                    }
                    item
                })
                .collect();
            Case {
                business_process: process,
                work_order,
                items,
            }
        })
        .collect()
}

fn rank(process: BusinessProcess) -> usize {
    BusinessProcess::ALL
        .iter()
        .position(|p| *p == process)
        .unwrap_or(usize::MAX)
}

/// Groups one archive's documents by case and type, keeping the ids of those `sees` allows.
pub fn group(documents: &[FiledDocument], sees: impl Fn(&FiledDocument) -> bool) -> Vec<Filed> {
    let mut filed: Vec<Filed> = Vec::new();
    for document in documents {
        let position = filed.iter().position(|entry| {
            entry.business_process == document.business_process
                && entry.work_order == document.work_order
                && entry.document_type == document.document_type
        });
        let entry = match position {
            Some(position) => &mut filed[position],
            None => {
                filed.push(Filed {
                    business_process: document.business_process,
                    work_order: document.work_order.clone(),
                    document_type: document.document_type.clone(),
                    count: 0,
                    visible: Vec::new(),
                });
                let last = filed.len() - 1;
                &mut filed[last]
            }
        };
        entry.count += 1;
        if sees(document) {
            entry.visible.push(document.id);
        }
    }
    filed
}

/// An account's completeness: each of its cases (as narrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCompleteness {
    pub account: AccountNumber,
    pub customer_class: CustomerClass,
    pub cases: Vec<Case>,
}

impl AccountCompleteness {
    pub fn is_complete(&self) -> bool {
        self.cases.iter().all(Case::is_complete)
    }
}

impl Archive {
    /// Returns an account's completeness, optionally narrowed; documents of types the caller
    /// may not see count, but are not named.
    pub async fn completeness(
        &self,
        actor: &Actor,
        account: &AccountNumber,
        narrowing: &Narrowing,
    ) -> Result<AccountCompleteness, Error> {
        let resource =
            Resource::named(format!("customers/{account}/completeness")).account(account);
        self.audited(actor, "GetCompleteness", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            // All three at once: the reach check costs no extra round trip.
            let (customer, rules, documents) = tokio::join!(
                self.reachable_customer(&grant, account),
                self.db.completeness_rules(),
                self.db.completeness_documents(account),
            );
            let customer = customer?;
            let rules = RuleSet::new(rules?);
            let filed = group(&documents?, |document| {
                grant.sees(&document.document_type, document.confidentiality)
            });
            Ok(AccountCompleteness {
                account: account.clone(),
                customer_class: customer.customer_class,
                cases: evaluate(
                    &rules,
                    customer.customer_class,
                    customer.status,
                    &filed,
                    narrowing,
                ),
            })
        })
        .await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::{Rule, RuleClass, RuleKey};

    use BusinessProcess::{CapacityIncrease, Inspection, NewConnection};

    fn code(text: &str) -> DocumentTypeCode {
        DocumentTypeCode::parse(text).unwrap()
    }

    fn order(text: &str) -> Option<WorkOrderNumber> {
        Some(WorkOrderNumber::parse(text).unwrap())
    }

    fn rule(process: BusinessProcess, document_type: &str, n: i64, condition: Condition) -> Rule {
        let key = RuleKey {
            business_process: process,
            customer_class: RuleClass::Any,
            document_type: code(document_type),
        };
        Rule::new(key, n, condition).unwrap()
    }

    pub(crate) fn rules() -> RuleSet {
        RuleSet::new(vec![
            rule(NewConnection, "application-form", 1, Condition::Always),
            rule(NewConnection, "identity-proof", 2, Condition::Always),
            rule(CapacityIncrease, "application-form", 1, Condition::Always),
            rule(CapacityIncrease, "identity-proof", 1, Condition::OnFile),
            rule(Inspection, "inspection-work-order", 1, Condition::Always),
        ])
    }

    pub(crate) fn filed(
        process: BusinessProcess,
        work_order: &str,
        document_type: &str,
        count: u32,
    ) -> Filed {
        Filed {
            business_process: process,
            work_order: order(work_order),
            document_type: code(document_type),
            count,
            visible: (0..count).map(|_| Uuid::now_v7()).collect(),
        }
    }

    fn run(filed: &[Filed], narrowing: &Narrowing) -> Vec<Case> {
        evaluate(
            &rules(),
            CustomerClass::Residential,
            CustomerStatus::Active,
            filed,
            narrowing,
        )
    }

    fn statuses(case: &Case) -> Vec<ItemStatus> {
        case.items.iter().map(Item::status).collect()
    }

    #[test]
    fn an_empty_archive_has_an_opening_case_with_everything_missing() {
        let cases = run(&[], &Narrowing::default());
        assert_eq!(cases.len(), 1);
        assert_eq!(
            (cases[0].business_process, &cases[0].work_order),
            (NewConnection, &None)
        );
        assert_eq!(
            statuses(&cases[0]),
            [ItemStatus::Missing, ItemStatus::Missing]
        );
        assert!(!cases[0].is_complete());
    }

    #[test]
    fn fewer_documents_than_required_is_partly_present() {
        let cases = run(
            &[
                filed(NewConnection, "WO-1", "application-form", 1),
                filed(NewConnection, "WO-1", "identity-proof", 1),
            ],
            &Narrowing::default(),
        );
        assert_eq!(cases.len(), 1, "no empty opening case beside a filed one");
        assert_eq!(
            statuses(&cases[0]),
            [ItemStatus::Present, ItemStatus::PartlyPresent]
        );
        assert_eq!(cases[0].items[1].present, 1);
        assert_eq!(cases[0].items[1].required, 2);
    }

    #[test]
    fn documents_count_only_in_their_own_work_order() {
        let cases = run(
            &[
                filed(Inspection, "WO-1", "inspection-work-order", 1),
                filed(Inspection, "WO-2", "notice", 1),
            ],
            &Narrowing::default(),
        );
        let inspections: Vec<(Option<&str>, bool)> = cases
            .iter()
            .filter(|c| c.business_process == Inspection)
            .map(|c| (c.work_order.as_ref().map(|w| w.as_str()), c.is_complete()))
            .collect();
        assert_eq!(inspections, [(Some("WO-1"), true), (Some("WO-2"), false)]);
    }

    #[test]
    fn an_on_file_requirement_is_met_by_a_document_of_another_case() {
        let opening = filed(NewConnection, "WO-1", "identity-proof", 2);
        let cases = run(
            &[
                opening.clone(),
                filed(CapacityIncrease, "WO-2", "application-form", 1),
            ],
            &Narrowing::default(),
        );
        let increase = cases
            .iter()
            .find(|c| c.business_process == CapacityIncrease)
            .unwrap();
        assert!(increase.is_complete());
        assert_eq!(increase.items[1].documents, opening.visible);
    }

    #[test]
    fn unseen_documents_count_but_are_not_named() {
        let mut hidden = filed(NewConnection, "WO-1", "identity-proof", 2);
        hidden.visible.clear();
        let cases = run(&[hidden], &Narrowing::default());
        assert_eq!(cases[0].items[1].status(), ItemStatus::Present);
        assert!(cases[0].items[1].documents.is_empty());
    }

    #[test]
    fn cases_come_opening_first_then_by_process_and_work_order() {
        let cases = run(
            &[
                filed(Inspection, "WO-9", "notice", 1),
                filed(CapacityIncrease, "WO-5", "notice", 1),
                filed(Inspection, "WO-3", "notice", 1),
            ],
            &Narrowing::default(),
        );
        let keys: Vec<(BusinessProcess, Option<&str>)> = cases
            .iter()
            .map(|c| {
                (
                    c.business_process,
                    c.work_order.as_ref().map(|w| w.as_str()),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (NewConnection, None),
                (CapacityIncrease, Some("WO-5")),
                (Inspection, Some("WO-3")),
                (Inspection, Some("WO-9")),
            ]
        );
    }

    #[test]
    fn narrowing_to_a_process_without_a_case_lists_what_it_will_need() {
        let narrowing = Narrowing {
            business_process: Some(CapacityIncrease),
            work_order: order("WO-7"),
        };
        let cases = run(
            &[filed(NewConnection, "WO-1", "application-form", 1)],
            &narrowing,
        );
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].work_order, order("WO-7"));
        assert_eq!(
            statuses(&cases[0]),
            [ItemStatus::Missing, ItemStatus::Missing]
        );
    }

    #[test]
    fn narrowing_to_a_work_order_keeps_only_its_case() {
        let narrowing = Narrowing {
            business_process: None,
            work_order: order("WO-2"),
        };
        let cases = run(
            &[
                filed(NewConnection, "WO-1", "application-form", 1),
                filed(Inspection, "WO-2", "inspection-work-order", 1),
            ],
            &narrowing,
        );
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].business_process, Inspection);
    }

    #[test]
    fn a_process_no_rule_speaks_of_is_complete() {
        let cases = run(
            &[filed(BusinessProcess::Rename, "WO-4", "notice", 1)],
            &Narrowing::default(),
        );
        let rename = cases
            .iter()
            .find(|c| c.business_process == BusinessProcess::Rename)
            .unwrap();
        assert!(rename.items.is_empty());
        assert!(rename.is_complete());
    }

    #[test]
    fn grouping_counts_every_document_and_keeps_the_ids_of_the_seen_ones() {
        let document = |document_type: &str, confidentiality| FiledDocument {
            id: Uuid::now_v7(),
            business_process: NewConnection,
            work_order: order("WO-1"),
            document_type: code(document_type),
            confidentiality,
        };
        let documents = [
            document("identity-proof", Confidentiality::Confidential),
            document("identity-proof", Confidentiality::Confidential),
            document("application-form", Confidentiality::Internal),
        ];
        let groups = group(&documents, |d| {
            d.confidentiality <= Confidentiality::Internal
        });
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].count, groups[0].visible.len()), (2, 0));
        assert_eq!(groups[1].visible, [documents[2].id]);
    }
}
