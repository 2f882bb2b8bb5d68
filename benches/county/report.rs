//! The table of a run: each workload's Custodian figure, its limit, the ratio and the target;
//! and the details of every measured series.

use crate::common::{Round, median, spread};

/// Every round of every series, in the order first measured.
#[derive(Default)]
pub struct Series(Vec<(String, Vec<Round>)>);

impl Series {
    pub fn push(&mut self, name: &str, round: Round) {
        if let Some(error) = &round.first_error {
            eprintln!("  {name}: {} errors, first: {error}", round.errors);
        }
        match self.0.iter_mut().find(|(series, _)| series == name) {
            Some((_, rounds)) => rounds.push(round),
            None => self.0.push((name.to_owned(), vec![round])),
        }
    }

    pub fn get(&self, name: &str) -> Option<&[Round]> {
        self.0
            .iter()
            .find(|(series, _)| series == name)
            .map(|(_, rounds)| rounds.as_slice())
    }

    fn values(&self, name: &str, figure: fn(&Round) -> f64) -> Vec<f64> {
        self.get(name)
            .map(|rounds| rounds.iter().map(figure).collect())
            .unwrap_or_default()
    }

    pub fn median(&self, name: &str, figure: fn(&Round) -> f64) -> f64 {
        median(&self.values(name, figure))
    }

    pub fn spread(&self, name: &str, figure: fn(&Round) -> f64, decimals: usize) -> String {
        spread(&self.values(name, figure), decimals)
    }

    /// The median over rounds of the CPU every watched process spent per call, in µs.
    pub fn cpu_per_call(&self, name: &str) -> Option<f64> {
        let rounds = self.get(name)?;
        let totals: Vec<f64> = rounds
            .iter()
            .filter_map(|r| Some(r.cpu_seconds?.iter().sum::<f64>() / r.calls.max(1) as f64 * 1e6))
            .collect();
        (!totals.is_empty()).then(|| median(&totals))
    }

    /// Where each call's CPU time went, for the series measured with a [`crate::cpu::CpuMeter`],
    /// and the calls per second the machine's cores would allow at that cost.
    pub fn print_cpu(&self) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let names = crate::cpu::PROCESSES;
        println!(
            "\n| series | CPU µs per call: {} | total | calls/s {cores:.0} cores allow |",
            names.join(" | ")
        );
        println!("| --- |{}", " --- |".repeat(names.len() + 2));
        for (name, rounds) in &self.0 {
            let per_call = |process: usize| {
                let values: Vec<f64> = rounds
                    .iter()
                    .filter_map(|r| Some(r.cpu_seconds?[process] / r.calls.max(1) as f64 * 1e6))
                    .collect();
                (!values.is_empty()).then(|| median(&values))
            };
            let Some(spent) = (0..names.len()).map(per_call).collect::<Option<Vec<f64>>>() else {
                continue;
            };
            let total: f64 = spent.iter().sum();
            let cells: Vec<String> = spent.iter().map(|us| format!("{us:.0}")).collect();
            println!(
                "| {name} | {} | {total:.0} | {:.0} |",
                cells.join(" | "),
                cores * 1e6 / total
            );
        }
    }

    pub fn print_details(&self) {
        println!("\n| series | rounds | calls/s | MB/s | p50 ms | p99 ms | max ms | errors |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for (name, rounds) in &self.0 {
            let errors: u64 = rounds.iter().map(|r| r.errors).sum();
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} | {errors} |",
                rounds.len(),
                self.spread(name, Round::per_second, 0),
                self.spread(name, Round::mb_per_second, 1),
                self.spread(name, |r| r.p50_ms, 2),
                self.spread(name, |r| r.p99_ms, 2),
                self.spread(name, |r| r.max_ms, 1),
            );
        }
    }
}

/// One line of the summary table.
pub struct Row {
    pub workload: String,
    pub custodian: String,
    pub limit: String,
    pub ratio: String,
    pub target: String,
    pub pass: Option<bool>,
}

#[derive(Default)]
pub struct Table(pub Vec<Row>);

impl Table {
    /// A throughput compared with its limit: `ratio = custodian / limit >= target`; without a
    /// target the row only reports the ratio.
    pub fn ratio(
        &mut self,
        series: &Series,
        workload: &str,
        (custodian, limit): (&str, &str),
        figure: fn(&Round) -> f64,
        unit: &str,
        target: Option<f64>,
    ) {
        if series.get(custodian).is_none() || series.get(limit).is_none() {
            return;
        }
        let ratio = series.median(custodian, figure) / series.median(limit, figure);
        let decimals = if unit == "MB/s" { 1 } else { 0 };
        self.0.push(Row {
            workload: workload.into(),
            custodian: format!("{} {unit}", series.spread(custodian, figure, decimals)),
            limit: format!("{} {unit}", series.spread(limit, figure, decimals)),
            ratio: format!("{:.0} %", ratio * 100.0),
            target: target.map_or("report".into(), |t| format!("≥ {:.0} %", t * 100.0)),
            pass: target.map(|t| ratio >= t),
        });
    }

    /// Total CPU per call (every watched process) of `custodian` over that of `limit`, which
    /// must stay at most `bound` (`strict`: below it). `per` scales a call to the unit
    /// compared (e.g. pages per call).
    pub fn cpu_ratio(
        &mut self,
        series: &Series,
        workload: &str,
        (custodian, limit): (&str, &str),
        bound: f64,
        strict: bool,
    ) {
        let (Some(spent), Some(allowed)) =
            (series.cpu_per_call(custodian), series.cpu_per_call(limit))
        else {
            return;
        };
        let ratio = spent / allowed;
        self.0.push(Row {
            workload: workload.into(),
            custodian: format!("{spent:.0} µs CPU/call"),
            limit: format!("{allowed:.0} µs CPU/call"),
            ratio: format!("{ratio:.2}×"),
            target: format!("{} {bound}×", if strict { "<" } else { "≤" }),
            pass: Some(if strict {
                ratio < bound
            } else {
                ratio <= bound
            }),
        });
    }

    /// Throughput of `custodian` as a multiple of `limit`'s: `ratio >= target` (e.g. 3×).
    pub fn times(
        &mut self,
        series: &Series,
        workload: &str,
        (custodian, limit): (&str, &str),
        target: f64,
    ) {
        if series.get(custodian).is_none() || series.get(limit).is_none() {
            return;
        }
        let ratio =
            series.median(custodian, Round::per_second) / series.median(limit, Round::per_second);
        self.0.push(Row {
            workload: workload.into(),
            custodian: format!("{} req/s", series.spread(custodian, Round::per_second, 0)),
            limit: format!("{} req/s", series.spread(limit, Round::per_second, 0)),
            ratio: format!("{ratio:.2}×"),
            target: format!("≥ {target}×"),
            pass: Some(ratio >= target),
        });
    }

    /// A series' p99 against a bound in ms, with its spread over rounds.
    pub fn p99(&mut self, series: &Series, name: &str, workload: &str, bound: f64) {
        if series.get(name).is_none() {
            return;
        }
        self.bound(
            workload,
            format!(
                "p99 {} ms (p50 {} ms)",
                series.spread(name, |r| r.p99_ms, 2),
                series.spread(name, |r| r.p50_ms, 2)
            ),
            series.median(name, |r| r.p99_ms),
            bound,
            &format!("≤ {bound} ms"),
        );
    }

    /// A figure against an absolute bound: `value <= bound`.
    pub fn bound(
        &mut self,
        workload: &str,
        value: String,
        measured: f64,
        bound: f64,
        target: &str,
    ) {
        self.0.push(Row {
            workload: workload.into(),
            custodian: value,
            limit: "—".into(),
            ratio: "—".into(),
            target: target.into(),
            pass: Some(measured <= bound),
        });
    }

    pub fn print(&self) {
        println!("\n| workload | Custodian | limit | ratio | target | result |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for row in &self.0 {
            let result = match row.pass {
                Some(true) => "pass",
                Some(false) => "**MISS**",
                None => "report",
            };
            println!(
                "| {} | {} | {} | {} | {} | {result} |",
                row.workload, row.custodian, row.limit, row.ratio, row.target
            );
        }
    }

    pub fn all_pass(&self) -> bool {
        self.0.iter().all(|row| row.pass != Some(false))
    }
}
