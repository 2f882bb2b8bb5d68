//! One 100 MiB document in and out (four 25 MiB scans, so the default 64 MiB page limit
//! holds), against direct multipart PUT and GET of the same bytes, one call at a time; the
//! server's resident memory is watched throughout. The document is filed with its pages'
//! SHA-256 declared, as `custodian file` does (computed before the clock starts), and once
//! more without, which sends large pages through a staging object and a copy.

use std::sync::Arc;
use std::time::Instant;

use object_store::ObjectStore;
use object_store::path::Path;

use crate::calls::{checksums, direct_get, direct_put};
use crate::common::Round;
use crate::cpu::CpuMeter;
use crate::report::Series;
use crate::targets::{Cleanup, Target, UniquePages};

const PAGES: usize = 4;
const PAGE_BYTES: usize = 25 << 20;

pub struct LargeArgs {
    pub rounds: usize,
}

/// Runs the rounds; returns the largest RSS growth of the server seen in any of them.
pub async fn run(
    args: &LargeArgs,
    target: &Target,
    store: &Arc<dyn ObjectStore>,
    run_id: &str,
    series: &mut Series,
    cleanup: &Cleanup,
    meter: &CpuMeter,
) -> anyhow::Result<Option<u64>> {
    let caller = target.callers[0].clone();
    let parent = target.open_archive();
    let mut growth: Option<u64> = None;
    for number in 1..=args.rounds {
        let tag = format!("{run_id}-l{number}");
        let pages = UniquePages::new(PAGE_BYTES, &tag);

        let began = (Instant::now(), meter.ticks());
        let (bytes, document) = caller
            .file_document(&parent, format!("bench-{tag}-u"), pages.pages(1, PAGES))
            .await?;
        series.push(
            "100 MiB in, SHA-256 not declared",
            once(bytes, began, meter),
        );
        cleanup.filed(&document);

        let declared = checksums(&pages.pages(0, PAGES));
        let start = target.server.reset_rss_peak();
        let began = (Instant::now(), meter.ticks());
        let (bytes, document) = caller
            .file_declared(
                &parent,
                format!("bench-{tag}"),
                pages.pages(0, PAGES),
                declared,
            )
            .await?;
        series.push("100 MiB in", once(bytes, began, meter));
        cleanup.filed(&document);
        let began = (Instant::now(), meter.ticks());
        let mut read = 0;
        for page in &document.pages {
            read += caller.read_page(&page.name).await?;
        }
        series.push("100 MiB out", once(read, began, meter));
        if let (Some(start), Some(peak)) = (start, target.server.rss_peak()) {
            let grew = peak.saturating_sub(start);
            growth = Some(growth.map_or(grew, |g| g.max(grew)));
        }

        let prefix = format!("direct/{tag}");
        let began = (Instant::now(), meter.ticks());
        let bytes = direct_put(store, &prefix, pages.pages(0, PAGES)).await?;
        series.push("direct 100 MiB in", once(bytes, began, meter));
        let began = (Instant::now(), meter.ticks());
        let mut read = 0;
        for page in 0..PAGES {
            let key = Path::from(format!("{prefix}/{page}"));
            read += direct_get(store, &key).await?;
            cleanup.put(key);
        }
        series.push("direct 100 MiB out", once(read, began, meter));
        eprintln!("large round {number}/{} done", args.rounds);
    }
    Ok(growth)
}

fn once(bytes: u64, (began, cpu): (Instant, [u64; 4]), meter: &CpuMeter) -> Round {
    let elapsed = began.elapsed();
    let ms = elapsed.as_secs_f64() * 1e3;
    Round {
        calls: 1,
        bytes,
        seconds: elapsed.as_secs_f64(),
        p50_ms: ms,
        p99_ms: ms,
        max_ms: ms,
        cpu_seconds: Some(meter.since(cpu)),
        ..Round::default()
    }
}
