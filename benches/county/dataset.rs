//! What a generated county looks like, deterministic from a seed: accounts under stations of
//! one county (province 12 > city 1201 > county 120101 > station 120101NN), each with a history
//! of work orders whose papers were filed, written straight as PostgreSQL COPY text rows.
//!
//! Accounts are independent of each other (each has its own random stream), while document
//! ids count up in generation order, so every index the load touches grows at its end.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use custodian::domain::BusinessProcess as Process;
use custodian::domain::{IdentifierField, IdentifierKey};

use crate::objects::PagePool;

/// A small, fast, deterministic generator (SplitMix64): the bench needs reproducibility, not
/// cryptographic quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Accounts per station (供电所): a county of 300,000 has 40 stations.
const ACCOUNTS_PER_STATION: u64 = 7_500;
/// Documents per account: 5 to 15, so 10 on average (3 million for a county).
const DOCUMENTS_PER_ACCOUNT: (u64, u64) = (5, 15);
/// How many documents point their first page at a realistic-size image, whatever the preset.
const READ_SET_DOCUMENTS: f64 = 3_000.0;
/// Accounts opened between these dates; nothing is filed after `NOW` (fixed, so a seed gives
/// the same county on any day).
const FIRST_OPENING: i64 = 883_612_800; // 1998-01-01
const LAST_OPENING: i64 = 1_782_777_600; // 2026-06-30
const NOW: i64 = 1_794_960_000; // 2026-11-20
/// Papers filed before this were digitised from paper at a handover.
const DIGITISED_BEFORE: i64 = 1_325_376_000; // 2012-01-01

/// COPY text rows for some accounts, one buffer per table.
#[derive(Default)]
pub struct Batch {
    pub customers: String,
    pub documents: String,
    pub versions: String,
    pub pages: String,
    /// The blind index of the customers' ID numbers and phones, under [`IDENTIFIER_KEY`].
    pub digests: String,
    pub document_count: u64,
    pub page_count: u64,
}

/// Column lists of the COPY statements: explicit, so columns added later with defaults keep
/// their defaults. The loader turns the tables' row triggers off during COPY, so what the
/// BEFORE triggers would stamp (a closed account's `closed_at`, `original_at`) is written here.
pub const CUSTOMER_COLUMNS: &str = "customers (account_number, display_name, customer_class, \
     org_unit_code, status, create_time, update_time, id_number, phone, address, closed_at)";
pub const DOCUMENT_COLUMNS: &str = "documents (document_id, account_number, source_system, \
     client_request_id, filed_at, current_version, original_at)";
pub const VERSION_COLUMNS: &str = "document_versions (document_id, version, document_type, \
     business_process, work_order_number, title, created_at, page_count, size_bytes)";
pub const PAGE_COLUMNS: &str = "pages (document_id, version, page_number, sha256)";
pub const DIGEST_COLUMNS: &str =
    "customer_identifier_digests (account_number, revision, field, digest, key_id)";

/// The `auth.identifier_key` of the benchmark's servers (`server.rs` passes it): the generator
/// writes the blind index under it, so a server started on the county has nothing to backfill.
pub const IDENTIFIER_KEY: &str = "bench-county-identifier-key-of-32-bytes-or-more";

/// The generator of one county.
pub struct County {
    seed: u64,
    accounts: u64,
    pool: Arc<PagePool>,
    read_share: f64,
    next_document: u64,
}

impl County {
    pub fn new(seed: u64, accounts: u64, pool: Arc<PagePool>) -> Self {
        let expected_documents = accounts as f64 * 10.0;
        Self {
            seed,
            accounts,
            pool,
            read_share: (READ_SET_DOCUMENTS / expected_documents).min(1.0),
            next_document: 0,
        }
    }

    /// The rows of accounts `from..to`; must be called in order, since document ids count up.
    pub fn batch(&mut self, from: u64, to: u64) -> Batch {
        let mut batch = Batch::default();
        for index in from..to.min(self.accounts) {
            self.account(index, &mut batch);
        }
        batch
    }

    fn account(&mut self, index: u64, batch: &mut Batch) {
        let mut rng = Rng::new(self.seed.wrapping_mul(0x1000_0000_01B3) ^ index);
        let station = index / ACCOUNTS_PER_STATION + 1;
        let org_unit = format!("120101{station:02}");
        let account = format!("{org_unit}{:06}", index % ACCOUNTS_PER_STATION + 1);
        let business = rng.chance(0.10);
        let closed = rng.chance(0.02);
        let opened = rng.between(FIRST_OPENING as u64, LAST_OPENING as u64) as i64;
        customer_row(
            &mut rng, batch, &account, &org_unit, business, closed, opened,
        );

        let count = rng.between(DOCUMENTS_PER_ACCOUNT.0, DOCUMENTS_PER_ACCOUNT.1) as usize;
        let mut events = vec![(opened, Process::NewConnection)];
        // Later work orders file about two papers each.
        let later = count.saturating_sub(5).div_ceil(2);
        let mut dates: Vec<i64> = (0..later)
            .map(|_| rng.between(opened as u64 + 86_400, NOW as u64) as i64)
            .collect();
        dates.sort_unstable();
        for date in dates {
            events.push((date, *rng.pick(LATER_PROCESSES)));
        }
        if closed && let Some(last) = events.last_mut() {
            last.1 = Process::Closure;
        }
        let mut filed = 0;
        for (date, process) in events {
            let work_order = format!(
                "{}{}{:08}",
                if process == Process::Inspection {
                    "JC"
                } else {
                    "YX"
                },
                timestamp(date).format("%Y"),
                rng.below(100_000_000)
            );
            for (offset, kind) in process.papers(business).iter().enumerate() {
                if filed == count {
                    return;
                }
                // Papers of one work order are filed minutes apart, during office hours.
                let at = date - date % 86_400 + 8 * 3_600 + offset as i64 * 300;
                self.document(
                    &mut rng,
                    batch,
                    &account,
                    business,
                    process,
                    kind,
                    &work_order,
                    at,
                );
                filed += 1;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn document(
        &mut self,
        rng: &mut Rng,
        batch: &mut Batch,
        account: &str,
        business: bool,
        process: Process,
        kind: &str,
        work_order: &str,
        at: i64,
    ) {
        let sequence = self.next_document;
        self.next_document += 1;
        let id = document_id(sequence, rng);
        let source = if at < DIGITISED_BEFORE {
            "archive-import"
        } else {
            "marketing"
        };
        let at = timestamp(at).format("%Y-%m-%d %H:%M:%S+00");
        let seed = self.seed;
        let _ = writeln!(
            batch.documents,
            "{id}\t{account}\t{source}\tgen-{seed}-{sequence:09}\t{at}\t1\t{at}"
        );
        let title = title(kind, process, business);
        let pages = if business {
            rng.between(10, 100)
        } else {
            rng.between(2, 5)
        };
        let in_read_set = rng.chance(self.read_share);
        let mut size_bytes = 0;
        for number in 1..=pages {
            let image = if number == 1 && in_read_set {
                // Four in five of the read set are 200 KiB scans, the rest 1 MiB.
                let large = &self.pool.large;
                let split = large.len() * 8 / 9;
                if rng.chance(0.8) {
                    &large[rng.below(split as u64) as usize]
                } else {
                    &large[split + rng.below((large.len() - split) as u64) as usize]
                }
            } else {
                rng.pick(&self.pool.small)
            };
            size_bytes += image.bytes.len();
            let _ = writeln!(
                batch.pages,
                "{id}\t1\t{number}\t\\\\x{}",
                hex::encode(image.sha256)
            );
        }
        let _ = writeln!(
            batch.versions,
            "{id}\t1\t{kind}\t{}\t{work_order}\t{title}\t{at}\t{pages}\t{size_bytes}",
            process.db_name()
        );
        batch.document_count += 1;
        batch.page_count += pages;
    }
}

/// Ids that sort in generation order (a counter in the first six bytes), like the time-ordered
/// v7 ids the server makes, with random bits after it.
fn document_id(sequence: u64, rng: &mut Rng) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(sequence << 16).to_be_bytes());
    bytes[8..].copy_from_slice(&rng.next().to_be_bytes());
    bytes[6..8].copy_from_slice(&(rng.next() as u16).to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("dates of the generator are in range")
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛",
    "明",
];
const PLACES: &[&str] = &[
    "青山", "东湖", "南岭", "西江", "北原", "金沙", "长河", "白石",
];
const TRADES: &[&str] = &[
    "电子", "纺织", "食品", "建材", "物流", "化工", "机械", "商贸", "酒店", "农业",
];
const ROADS: &[&str] = &["解放路", "人民路", "建设路", "中山路", "新华街", "文化街"];

fn customer_row(
    rng: &mut Rng,
    batch: &mut Batch,
    account: &str,
    org_unit: &str,
    business: bool,
    closed: bool,
    opened: i64,
) {
    let (name, class, id_number) = if business {
        let name = format!(
            "{}{}{}有限公司",
            rng.pick(PLACES),
            rng.pick(TRADES),
            rng.pick(&["科技", "实业", "制造", "发展"])
        );
        (name, "non_residential", "\\N".to_owned())
    } else {
        let name = format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN));
        (name, "residential", identity_number(rng))
    };
    let phone = format!("1{}{:09}", rng.pick(&[3, 5, 8]), rng.below(1_000_000_000));
    let address = format!(
        "{}镇{}{}号",
        rng.pick(PLACES),
        rng.pick(ROADS),
        rng.between(1, 300)
    );
    let status = if closed { "closed" } else { "active" };
    let at = timestamp(opened).format("%Y-%m-%d %H:%M:%S+00").to_string();
    // As `customers_stamp_revision` stamps a customer created closed.
    let closed_at = if closed { at.as_str() } else { "\\N" };
    let _ = writeln!(
        batch.customers,
        "{account}\t{name}\t{class}\t{org_unit}\t{status}\t{at}\t{at}\t{id_number}\t{phone}\t{address}\t{closed_at}"
    );
    let key = IdentifierKey::new(IDENTIFIER_KEY);
    let key_id = hex::encode(key.key_id());
    let identifiers = [
        (
            IdentifierField::IdNumber,
            (!business).then_some(id_number.as_str()),
        ),
        (IdentifierField::Phone, Some(phone.as_str())),
    ];
    for (field, text) in identifiers {
        if let Some(text) = text {
            let _ = writeln!(
                batch.digests,
                "{account}\t1\t{}\t\\\\x{}\t\\\\x{key_id}",
                field.code(),
                hex::encode(key.digest(field, text))
            );
        }
    }
}

/// A resident identity card number of the county (GB 11643, with its check character).
fn identity_number(rng: &mut Rng) -> String {
    // Born 1950–2000.
    let birth = timestamp(rng.between(0, 1_609_459_200) as i64 - 631_152_000);
    let body = format!("120101{}{:03}", birth.format("%Y%m%d"), rng.below(1000));
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(digit, weight)| (digit - b'0') as u32 * weight)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Later work orders, repeated by how often they happen: inspections most.
const LATER_PROCESSES: &[Process] = &[
    Process::Inspection,
    Process::Inspection,
    Process::Inspection,
    Process::Inspection,
    Process::Inspection,
    Process::Inspection,
    Process::TariffClassChange,
    Process::TariffClassChange,
    Process::TariffClassChange,
    Process::CapacityIncrease,
    Process::CapacityIncrease,
    Process::CapacityReduction,
    Process::Transfer,
    Process::Transfer,
    Process::Rename,
    Process::Rename,
    Process::Suspension,
];

/// The names the bench needs of the domain's business processes.
trait ProcessNames {
    fn db_name(self) -> &'static str;
    fn chinese(self) -> &'static str;
    fn papers(self, business: bool) -> &'static [&'static str];
}

impl ProcessNames for Process {
    fn db_name(self) -> &'static str {
        match self {
            Self::NewConnection => "new_connection",
            Self::CapacityIncrease => "capacity_increase",
            Self::CapacityReduction => "capacity_reduction",
            Self::Transfer => "transfer",
            Self::Rename => "rename",
            Self::TariffClassChange => "tariff_class_change",
            Self::Suspension => "suspension",
            Self::Closure => "closure",
            Self::Inspection => "inspection",
        }
    }

    fn chinese(self) -> &'static str {
        match self {
            Self::NewConnection => "新装",
            Self::CapacityIncrease => "增容",
            Self::CapacityReduction => "减容",
            Self::Transfer => "过户",
            Self::Rename => "更名",
            Self::TariffClassChange => "改类",
            Self::Suspension => "暂停",
            Self::Closure => "销户",
            Self::Inspection => "用电检查",
        }
    }

    /// The papers a work order of this process files, in order.
    fn papers(self, business: bool) -> &'static [&'static str] {
        match (self, business) {
            (Self::NewConnection, false) => &[
                "application-form",
                "identity-proof",
                "property-certificate",
                "supply-contract",
                "meter-installation-record",
            ],
            (Self::NewConnection, true) => &[
                "application-form",
                "business-licence",
                "power-of-attorney",
                "supply-contract",
                "meter-installation-record",
            ],
            (Self::CapacityIncrease, _) => &[
                "application-form",
                "supply-contract",
                "meter-installation-record",
            ],
            (Self::CapacityReduction, _) => &["application-form", "supply-contract"],
            (Self::Transfer, false) => &[
                "application-form",
                "identity-proof",
                "property-certificate",
                "supply-contract",
            ],
            (Self::Transfer, true) => &[
                "application-form",
                "business-licence",
                "power-of-attorney",
                "supply-contract",
            ],
            (Self::Rename, false) => &["application-form", "identity-proof"],
            (Self::Rename, true) => &["application-form", "business-licence"],
            (Self::TariffClassChange, _) => &["application-form", "tariff-change-record"],
            (Self::Suspension, _) => &["application-form", "notice"],
            (Self::Closure, _) => &["application-form", "notice", "meter-installation-record"],
            (Self::Inspection, _) => &["inspection-work-order", "notice"],
        }
    }
}

fn title(kind: &str, process: Process, business: bool) -> String {
    match kind {
        "application-form" => format!("{}用电申请书", process.chinese()),
        "identity-proof" => "居民身份证".into(),
        "business-licence" => "营业执照".into(),
        "supply-contract" if business => "高压供用电合同".into(),
        "supply-contract" => "居民供用电合同".into(),
        "inspection-work-order" => "用电检查工作单".into(),
        "notice" if process == Process::Inspection => "违约用电通知书".into(),
        "notice" => format!("{}通知书", process.chinese()),
        "tariff-change-record" => "电价变更记录".into(),
        "meter-installation-record" => "计量装置装拆记录".into(),
        "property-certificate" => "房屋产权证明".into(),
        "power-of-attorney" => "授权委托书".into(),
        other => other.into(),
    }
}
