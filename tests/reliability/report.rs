//! The figures of a run, printed as a Markdown table (`cargo test -- --nocapture` shows them;
//! `make reliability` does).

/// Prints `rows` under `header` as a Markdown table, after a title line.
pub fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut table = format!("\n{title}\n\n| {} |\n", header.join(" | "));
    table.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
    for row in rows {
        table.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    println!("{table}");
}

/// The median of `values` (the lower middle one of an even count).
pub fn median<T: Copy + Ord>(values: &mut [T]) -> Option<T> {
    values.sort();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// Seconds with one decimal.
pub fn seconds(duration: std::time::Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
