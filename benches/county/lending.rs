//! What lending costs (issue 16), in the security part of the run: GetDocument of the same
//! 100 documents by the province custodian, who may read them anyway (no loan is consulted:
//! the normal check says yes), and by a county custodian of another city, who reaches them only
//! through an approved loan (the normal check says no, then one lookup finds the loan), in
//! alternating rounds. A third series reads them as that custodian with no loan in force (after
//! the loan is returned): NOT_FOUND, the cost of the refused path with its loan lookup.

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::MetadataValue;

use crate::calls::Caller;
use crate::common::{Round, closed_loop};
use crate::cpu::CpuMeter;
use crate::report::{Row, Series, Table};
use crate::targets::{Target, mint_token_for, signing_key};
use crate::workloads::RunArgs;

/// Documents lent: the most one loan may name.
const LENT: usize = 100;
/// The borrower's unit: a city of the province other than the county's (1201).
const BORROWER_UNIT: &str = "1202";

pub const NO_LOAN: &str = "GetDocument, reader needs no loan";
pub const UNDER_LOAN: &str = "GetDocument under a loan";
pub const REFUSED: &str = "GetDocument out of reach, no loan (NOT_FOUND)";

pub async fn run(
    args: &RunArgs,
    target: &Target,
    meter: &CpuMeter,
    series: &mut Series,
    table: &mut Table,
) -> anyhow::Result<()> {
    let token = mint_token_for(
        &signing_key(args),
        &args.issuer,
        "county-custodian",
        BORROWER_UNIT,
        "bench-borrower",
    )?;
    let bearer = MetadataValue::try_from(format!("Bearer {token}"))?;
    let borrowers: Vec<Caller> = target
        .callers
        .iter()
        .map(|caller| Caller {
            channel: caller.channel.clone(),
            bearer: bearer.clone(),
        })
        .collect();
    let documents: Arc<Vec<String>> = Arc::new(
        target
            .samples
            .documents
            .iter()
            .take(LENT)
            .cloned()
            .collect(),
    );
    let loan = borrowers[0].request_loan(&documents).await?;
    target.callers[0].approve_loan(&loan).await?;
    eprintln!(
        "{loan} approved: {} documents lent to {BORROWER_UNIT}",
        documents.len()
    );
    let round = Duration::from_secs_f64(args.seconds);
    for number in 1..=args.rounds {
        let own = meter
            .measure(reads(
                args.concurrency,
                &target.callers,
                &documents,
                round,
                true,
            ))
            .await;
        series.push(NO_LOAN, own);
        let lent = meter
            .measure(reads(args.concurrency, &borrowers, &documents, round, true))
            .await;
        series.push(UNDER_LOAN, lent);
        eprintln!("lending round {number}/{} done", args.rounds);
    }
    borrowers[0].return_loan(&loan).await?;
    for _ in 1..=args.rounds {
        let refused = meter
            .measure(reads(
                args.concurrency,
                &borrowers,
                &documents,
                round,
                false,
            ))
            .await;
        series.push(REFUSED, refused);
    }
    table.ratio(
        series,
        "GetDocument under a loan vs a reader who needs none (same documents)",
        (UNDER_LOAN, NO_LOAN),
        Round::per_second,
        "req/s",
        None,
    );
    if let (Some(lent), Some(own)) = (
        series.cpu_per_call(UNDER_LOAN),
        series.cpu_per_call(NO_LOAN),
    ) {
        let postgres = |name: &str| {
            let rounds = series.get(name).unwrap_or_default();
            let values: Vec<f64> = rounds
                .iter()
                .filter_map(|r| Some(r.cpu_seconds?[1] / r.calls.max(1) as f64 * 1e6))
                .collect();
            crate::common::median(&values)
        };
        table.0.push(Row {
            workload: "GetDocument under a loan: CPU per call more than without".into(),
            custodian: format!("{lent:.0} µs ({:.0} µs PostgreSQL)", postgres(UNDER_LOAN)),
            limit: format!("{own:.0} µs ({:.0} µs PostgreSQL)", postgres(NO_LOAN)),
            ratio: format!("{:+.0} µs", lent - own),
            target: "one indexed lookup more: report".into(),
            pass: None,
        });
    }
    Ok(())
}

/// GetDocument of the lent documents; `found`: each must be returned (else NOT_FOUND is
/// the expected answer and counts as a call).
async fn reads(
    concurrency: usize,
    callers: &[Caller],
    documents: &Arc<Vec<String>>,
    round: Duration,
    found: bool,
) -> Round {
    let callers = callers.to_vec();
    let documents = Arc::clone(documents);
    closed_loop(concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let documents = Arc::clone(&documents);
        async move {
            let name = &documents[n as usize % documents.len()];
            match caller.get_document(name).await {
                Ok(bytes) if found => Ok(bytes),
                Ok(_) => anyhow::bail!("{name} was readable with the loan returned"),
                Err(error) if !found => match error.downcast_ref::<tonic::Status>() {
                    Some(status) if status.code() == tonic::Code::NotFound => Ok(0),
                    _ => Err(error),
                },
                Err(error) => Err(error),
            }
        }
    })
    .await
}
