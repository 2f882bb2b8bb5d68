//! CPU time each process of a workload spends during a round, read from /proc before and
//! after it: the server, PostgreSQL (every `postgres` process), SeaweedFS (`weed`) and this
//! load generator. Per call it shows where a call's cost goes; the machine's cores over the
//! total cost per call bound the calls per second this machine could answer at all.

use std::future::Future;

use crate::common::Round;

/// Whose CPU time is counted, in the order of [`Round::cpu_seconds`].
pub const PROCESSES: [&str; 4] = ["server", "PostgreSQL", "SeaweedFS", "load generator"];

pub struct CpuMeter {
    servers: std::sync::Mutex<Vec<u32>>,
    ticks_per_second: f64,
}

impl CpuMeter {
    /// Counts the processes `servers` (and their threads) as the server.
    pub fn new(servers: Vec<u32>) -> Self {
        let ticks = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0);
        Self {
            servers: std::sync::Mutex::new(servers),
            ticks_per_second: ticks,
        }
    }

    /// Counts one more server process (one a workload starts itself) as the server.
    pub fn watch(&self, server: Option<u32>) {
        self.servers.lock().unwrap().extend(server);
    }

    /// Runs one round and records the CPU seconds each process spent meanwhile.
    pub async fn measure(&self, round: impl Future<Output = Round>) -> Round {
        let before = self.ticks();
        let mut round = round.await;
        round.cpu_seconds = Some(self.since(before));
        round
    }

    /// The CPU seconds each process spent since `before` (a [`CpuMeter::ticks`]).
    pub fn since(&self, before: [u64; 4]) -> [f64; 4] {
        let after = self.ticks();
        let mut spent = [0.0; 4];
        for (i, spent) in spent.iter_mut().enumerate() {
            *spent = after[i].saturating_sub(before[i]) as f64 / self.ticks_per_second;
        }
        spent
    }

    /// Clock ticks of user and system time so far, by [`PROCESSES`]. A process that ended
    /// meanwhile takes its time with it; the pools' connections and the store live on.
    pub fn ticks(&self) -> [u64; 4] {
        let mut ticks = [0; 4];
        let own = std::process::id();
        let servers = self.servers.lock().unwrap().clone();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return ticks;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((command, used)) = parse_stat(&stat) else {
                continue;
            };
            let process = if servers.contains(&pid) {
                0
            } else if command == "postgres" {
                1
            } else if command == "weed" {
                2
            } else if pid == own {
                3
            } else {
                continue;
            };
            ticks[process] += used;
        }
        ticks
    }
}

/// The command name and utime + stime of a `/proc/<pid>/stat` line. The name is in
/// parentheses and may itself contain spaces or parentheses: the fields follow the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?;
    // After ")": state is field 3; utime and stime are fields 14 and 15.
    let mut fields = stat.get(close + 1..)?.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((command, utime + stime))
}
