//! Statistics (统计): counts of archives, documents, pages and bytes per org unit, rolled up
//! the tree (county → city → province), broken down by type, process and month, read from
//! the rollups the database keeps with every change.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::domain::customers::customer::narrow_to_reach;
use crate::domain::{
    Actor, Archive, BusinessProcess, CustomerClass, CustomerStatus, DocumentTypeCode, Error,
    OrgUnitCode, Permission, Resource, Visibility,
};

/// What a statistics call asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatisticsRequest {
    pub org_unit: Option<OrgUnitCode>,
    /// First days of the months, both included.
    pub from_month: Option<NaiveDate>,
    pub to_month: Option<NaiveDate>,
    pub customer_class: Option<CustomerClass>,
    pub customer_status: Option<CustomerStatus>,
    pub document_types: Vec<DocumentTypeCode>,
    pub business_processes: Vec<BusinessProcess>,
    pub by_document_type: bool,
    pub by_business_process: bool,
    pub by_month: bool,
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 7)
        .ok_or_else(|| format!("{text:?} is not a month written YYYY-MM, e.g. 2026-11"))
}

impl StatisticsRequest {
    pub fn validate(self) -> Result<Self, Error> {
        if let (Some(from), Some(to)) = (self.from_month, self.to_month)
            && from > to
        {
            return Err(Error::invalid(
                "to_month",
                format!("must not be before from_month ({from})"),
            ));
        }
        Ok(self)
    }

    fn audit_details(&self) -> serde_json::Value {
        serde_json::json!({
            "org_unit": self.org_unit.as_ref().map(OrgUnitCode::as_str),
            "from_month": self.from_month.map(|m| m.format("%Y-%m").to_string()),
            "to_month": self.to_month.map(|m| m.format("%Y-%m").to_string()),
            "customer_class": self.customer_class.map(CustomerClass::code),
            "customer_status": self.customer_status.map(CustomerStatus::code),
            "document_types": self.document_types.iter().map(DocumentTypeCode::as_str).collect::<Vec<_>>(),
            "business_processes": self.business_processes.iter().map(|p| p.code()).collect::<Vec<_>>(),
        })
    }
}

/// Documents of a unit for one combination of the breakdowns asked for (the others `None`):
/// as stored, its own; as answered, its own and those of the units below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCount {
    pub org_unit: String,
    pub document_type: Option<String>,
    pub business_process: Option<BusinessProcess>,
    pub month: Option<NaiveDate>,
    pub documents: i64,
    pub pages: i64,
    pub bytes: i64,
}

/// The answer: archives per unit and document counts per unit and breakdown, rolled up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    pub archives: Vec<(String, i64)>,
    pub documents: Vec<DocumentCount>,
}

/// The codes from `top` digits down to `unit` itself, two digits a level: `120101` with a
/// top of 2 is `12`, `1201`, `120101`.
fn ancestors(unit: &str, top: usize) -> impl Iterator<Item = &str> {
    (top..=unit.len()).step_by(2).map(move |len| &unit[..len])
}

/// Adds each unit's own figures to itself and every unit above it down from `top` digits.
pub fn roll_up(
    archives: Vec<(String, i64)>,
    documents: Vec<DocumentCount>,
    top: usize,
) -> Statistics {
    let mut archive_totals: BTreeMap<String, i64> = BTreeMap::new();
    for (unit, count) in &archives {
        for code in ancestors(unit, top) {
            *archive_totals.entry(code.to_owned()).or_default() += count;
        }
    }
    type Key = (
        String,
        Option<String>,
        Option<&'static str>,
        Option<NaiveDate>,
    );
    let mut totals: BTreeMap<Key, DocumentCount> = BTreeMap::new();
    for row in &documents {
        for code in ancestors(&row.org_unit, top) {
            let key = (
                code.to_owned(),
                row.document_type.clone(),
                row.business_process.map(BusinessProcess::code),
                row.month,
            );
            let total = totals.entry(key).or_insert_with(|| DocumentCount {
                org_unit: code.to_owned(),
                document_type: row.document_type.clone(),
                business_process: row.business_process,
                month: row.month,
                documents: 0,
                pages: 0,
                bytes: 0,
            });
            total.documents += row.documents;
            total.pages += row.pages;
            total.bytes += row.bytes;
        }
    }
    Statistics {
        archives: archive_totals
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .collect(),
        documents: totals.into_values().filter(|c| c.documents != 0).collect(),
    }
}

impl Archive {
    /// Counts within the caller's reach; see [`StatisticsRequest`].
    pub async fn statistics(
        &self,
        actor: &Actor,
        request: &StatisticsRequest,
    ) -> Result<Statistics, Error> {
        let resource = Resource::named("statistics");
        self.audited_with(
            actor,
            "GetStatistics",
            resource,
            request.audit_details(),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::RunReports)?;
                let (unit, account) = narrow_to_reach(&grant, request.org_unit.as_ref())?;
                if account.is_some() {
                    return Err(Error::PermissionDenied(
                        "statistics count org units, and this role reaches one account".into(),
                    ));
                }
                let visibility = Visibility {
                    clearance: grant.clearance(),
                    types: grant.visible_types(),
                };
                let (archives, documents) = self
                    .db
                    .statistics(request, unit.as_ref(), &visibility)
                    .await?;
                let top = unit.as_ref().map_or(2, |u| u.as_str().len());
                Ok(roll_up(archives, documents, top))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(unit: &str, documents: i64) -> DocumentCount {
        DocumentCount {
            org_unit: unit.into(),
            document_type: None,
            business_process: None,
            month: None,
            documents,
            pages: documents * 2,
            bytes: documents * 100,
        }
    }

    #[test]
    fn counties_roll_up_into_their_city_and_province() {
        let stats = roll_up(
            vec![
                ("120101".into(), 3),
                ("120102".into(), 1),
                ("1202".into(), 2),
            ],
            vec![stored("120101", 5), stored("120102", 1), stored("1202", 4)],
            2,
        );
        assert_eq!(
            stats.archives,
            vec![
                ("12".into(), 6),
                ("1201".into(), 4),
                ("120101".into(), 3),
                ("120102".into(), 1),
                ("1202".into(), 2)
            ]
        );
        let documents: Vec<(&str, i64, i64)> = stats
            .documents
            .iter()
            .map(|c| (c.org_unit.as_str(), c.documents, c.pages))
            .collect();
        assert_eq!(
            documents,
            vec![
                ("12", 10, 20),
                ("1201", 6, 12),
                ("120101", 5, 10),
                ("120102", 1, 2),
                ("1202", 4, 8)
            ]
        );
    }

    #[test]
    fn a_subtree_rolls_up_from_its_root_only() {
        let stats = roll_up(vec![("120101".into(), 3)], vec![], 4);
        assert_eq!(
            stats.archives,
            vec![("1201".into(), 3), ("120101".into(), 3)]
        );
    }

    #[test]
    fn a_month_is_written_year_dash_month() {
        assert_eq!(
            parse_month("2026-11").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        for bad in ["2026-13", "2026-1", "202611", "2026-11-01"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }
}
