//! Finding aids (issue 17): SearchDocuments in each filter shape the archive index serves and
//! SearchCustomers by name and by ID number, with their queries sampled from the county.
//!
//! Selective searches (one station and type over a month, one work order) and customer
//! searches run at the run's concurrency (their target is p99 at saturation); broad ones (a
//! whole county, newest first, with or without one type) one at a time: their target is how
//! long the first page takes to arrive.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use custodian::proto::v1 as pb;
use sqlx::{Connection, PgConnection};

use crate::Preset;
use crate::common::{Round, closed_loop};
use crate::cpu::CpuMeter;
use crate::report::{Series, Table};
use crate::targets::Target;
use crate::workloads::RunArgs;

/// The county every generated account belongs to.
const COUNTY: &str = "120101";

/// A screen's result list shows documents, not their pages: every search asks for the basic
/// view, as ListDocuments' screens do.
const SCREEN_VIEW: pb::DocumentView = pb::DocumentView::Basic;

/// Queries sampled from the data, each with at least one hit.
struct Queries {
    unit_type_month: Vec<pb::SearchDocumentsRequest>,
    work_orders: Vec<pb::SearchDocumentsRequest>,
    names: Vec<pb::SearchCustomersRequest>,
    id_numbers: Vec<pb::SearchCustomersRequest>,
}

impl Queries {
    async fn sample(preset: Preset) -> anyhow::Result<Self> {
        let mut db = PgConnection::connect(&preset.database_url()?).await?;
        let documents: Vec<(String, String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT org_unit_code, document_type, filed_at, work_order_number
             FROM document_index ORDER BY md5(document_id::text) LIMIT 2000",
        )
        .fetch_all(&mut db)
        .await?;
        let customers: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT display_name, id_number FROM customers
             ORDER BY md5(account_number) LIMIT 2000",
        )
        .fetch_all(&mut db)
        .await?;
        let month = |at: &DateTime<Utc>| {
            let start = Utc
                .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
                .single()
                .expect("the first of a month exists");
            let end = if at.month() == 12 {
                Utc.with_ymd_and_hms(at.year() + 1, 1, 1, 0, 0, 0)
            } else {
                Utc.with_ymd_and_hms(at.year(), at.month() + 1, 1, 0, 0, 0)
            }
            .single()
            .expect("the first of a month exists");
            (start, end)
        };
        Ok(Self {
            unit_type_month: documents
                .iter()
                .map(|(unit, kind, at, _)| {
                    let (after, before) = month(at);
                    pb::SearchDocumentsRequest {
                        org_unit: unit.clone(),
                        document_types: vec![kind.clone()],
                        filed_after: Some(std::time::SystemTime::from(after).into()),
                        filed_before: Some(std::time::SystemTime::from(before).into()),
                        view: SCREEN_VIEW.into(),
                        ..Default::default()
                    }
                })
                .collect(),
            work_orders: documents
                .iter()
                .map(|(_, _, _, work_order)| pb::SearchDocumentsRequest {
                    work_order_number: work_order.clone(),
                    view: SCREEN_VIEW.into(),
                    ..Default::default()
                })
                .collect(),
            names: customers
                .iter()
                .map(|(name, _)| pb::SearchCustomersRequest {
                    name: name.clone(),
                    ..Default::default()
                })
                .collect(),
            id_numbers: customers
                .iter()
                .filter_map(|(_, id)| id.clone())
                .map(|id_number| pb::SearchCustomersRequest {
                    id_number,
                    ..Default::default()
                })
                .collect(),
        })
    }
}

/// The broad searches: a whole county, newest first, with and without one type.
fn broad(kind: Option<&str>) -> pb::SearchDocumentsRequest {
    pb::SearchDocumentsRequest {
        org_unit: COUNTY.into(),
        document_types: kind.map(|k| vec![k.to_owned()]).unwrap_or_default(),
        view: SCREEN_VIEW.into(),
        ..Default::default()
    }
}

const BROAD_TYPES: &[&str] = &[
    "application-form",
    "inspection-work-order",
    "supply-contract",
];

pub async fn run(
    args: &RunArgs,
    target: &Target,
    meter: &CpuMeter,
    series: &mut Series,
    table: &mut Table,
) -> anyhow::Result<()> {
    let queries = Arc::new(Queries::sample(args.preset).await?);
    let round = Duration::from_secs_f64(args.seconds);
    for number in 1..=args.rounds {
        for (name, kind, concurrency) in [
            (
                "SearchDocuments station + type + month",
                Search::UnitTypeMonth,
                args.concurrency,
            ),
            (
                "SearchDocuments work order",
                Search::WorkOrder,
                args.concurrency,
            ),
            (
                "SearchDocuments county + type, first page",
                Search::CountyType,
                1,
            ),
            ("SearchDocuments county, first page", Search::County, 1),
            ("SearchCustomers by name", Search::Name, args.concurrency),
            (
                "SearchCustomers by ID number",
                Search::IdNumber,
                args.concurrency,
            ),
        ] {
            let measured = meter
                .measure(search(target, &queries, kind, concurrency, round))
                .await;
            series.push(name, measured);
        }
        eprintln!("search round {number}/{} done", args.rounds);
    }
    let c = args.concurrency;
    for (name, workload, bound) in [
        (
            "SearchDocuments station + type + month",
            format!("SearchDocuments one station + one type over a month, concurrency {c}"),
            20.0,
        ),
        (
            "SearchDocuments work order",
            format!("SearchDocuments one work order, concurrency {c}"),
            20.0,
        ),
        (
            "SearchDocuments county + type, first page",
            "SearchDocuments whole county + one type, first page, one at a time".into(),
            50.0,
        ),
        (
            "SearchDocuments county, first page",
            "SearchDocuments whole county newest first, first page, one at a time".into(),
            50.0,
        ),
    ] {
        table.p99(series, name, &workload, bound);
    }
    for name in ["SearchCustomers by name", "SearchCustomers by ID number"] {
        if series.get(name).is_some() {
            table.0.push(crate::report::Row {
                workload: format!("{name}, concurrency {c}"),
                custodian: format!(
                    "p99 {} ms (p50 {} ms), {} req/s",
                    series.spread(name, |r| r.p99_ms, 2),
                    series.spread(name, |r| r.p50_ms, 2),
                    series.spread(name, Round::per_second, 0)
                ),
                limit: "—".into(),
                ratio: "—".into(),
                target: "report".into(),
                pass: None,
            });
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Search {
    UnitTypeMonth,
    WorkOrder,
    CountyType,
    County,
    Name,
    IdNumber,
}

async fn search(
    target: &Target,
    queries: &Arc<Queries>,
    kind: Search,
    concurrency: usize,
    round: Duration,
) -> Round {
    let callers = target.callers.clone();
    let queries = Arc::clone(queries);
    closed_loop(concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let queries = Arc::clone(&queries);
        async move {
            let n = n as usize;
            let pick = |items: &[pb::SearchDocumentsRequest]| items[n % items.len()].clone();
            let pick_customer =
                |items: &[pb::SearchCustomersRequest]| items[n % items.len()].clone();
            match kind {
                Search::UnitTypeMonth => {
                    caller
                        .search_documents(pick(&queries.unit_type_month), true)
                        .await
                }
                Search::WorkOrder => {
                    caller
                        .search_documents(pick(&queries.work_orders), true)
                        .await
                }
                Search::CountyType => {
                    let kind = BROAD_TYPES[n % BROAD_TYPES.len()];
                    caller.search_documents(broad(Some(kind)), true).await
                }
                Search::County => caller.search_documents(broad(None), true).await,
                Search::Name => caller.search_customers(pick_customer(&queries.names)).await,
                Search::IdNumber => {
                    caller
                        .search_customers(pick_customer(&queries.id_numbers))
                        .await
                }
            }
        }
    })
    .await
}

/// Statistics (issue 17) one call at a time, as a custodian preparing a report asks: a county's
/// year by month (all customers, and residential ones only), and the province's year. The generated province has this one county, so
/// the province answer sums the same rows one level up; a real province has many.
pub async fn statistics(
    args: &RunArgs,
    target: &Target,
    meter: &CpuMeter,
    series: &mut Series,
    table: &mut Table,
) {
    let round = Duration::from_secs_f64(args.seconds);
    let year = |unit: &str, by_month: bool| pb::GetStatisticsRequest {
        org_unit: unit.into(),
        from_month: "2025-01".into(),
        to_month: "2025-12".into(),
        by_month,
        ..Default::default()
    };
    for number in 1..=args.rounds {
        // A class filter reads the finer rollup (by class and status).
        let residential = pb::GetStatisticsRequest {
            customer_class: pb::CustomerClass::Residential.into(),
            ..year(COUNTY, true)
        };
        for (name, request) in [
            ("GetStatistics county, a year by month", year(COUNTY, true)),
            (
                "GetStatistics county residential, a year by month",
                residential,
            ),
            ("GetStatistics province, a year", year("12", false)),
        ] {
            let callers = target.callers.clone();
            let measured = meter
                .measure(closed_loop(1, round, move |_, _| {
                    let caller = callers[0].clone();
                    let request = request.clone();
                    async move { caller.get_statistics(request).await }
                }))
                .await;
            series.push(name, measured);
        }
        eprintln!("statistics round {number}/{} done", args.rounds);
    }
    table.p99(
        series,
        "GetStatistics county, a year by month",
        "GetStatistics of the county for a year (by month), one at a time",
        50.0,
    );
    table.p99(
        series,
        "GetStatistics county residential, a year by month",
        "GetStatistics of the county's residential customers for a year (by month), one at a time",
        50.0,
    );
    table.p99(
        series,
        "GetStatistics province, a year",
        "GetStatistics of the province for a year, one at a time",
        200.0,
    );
}
