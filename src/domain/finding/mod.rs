//! The finding aids (档案索引): searching documents across archives and customers across
//! accounts, under exactly the rules of the reads they lead to.

pub(super) mod customers;
pub(super) mod documents;
pub(super) mod statistics;

pub use customers::{
    AccountPrefix, CustomerMatch, CustomerQuery, CustomerSearch, MIN_SEARCH_CHARS, SearchText,
};
pub use documents::{DocumentOrder, DocumentSearch, MAX_SEARCH_TYPES, SearchCursor, SearchScope};
pub use statistics::{DocumentCount, Statistics, StatisticsRequest, parse_month, roll_up};
