//! Customers (用电客户): the accounts that own archives, the rules for opening and changing
//! them, and their history (every state an account has been in).

mod audit_details;
pub(super) mod blind_index;
pub(super) mod customer;
pub(super) mod history;
pub(super) mod holders;
pub(super) mod identifiers;

pub use blind_index::{IdentifierField, IdentifierKey};
pub use customer::{
    AccountNumber, Customer, CustomerChanges, CustomerClass, CustomerDisplayName, CustomerStatus,
    NewCustomer, OrgUnitCode, PersonalText,
};
pub use history::{ChangeStamp, CustomerRevision, RevisionCursor, RevisionName};
pub use identifiers::{IdNumberKind, parse_id_number, parse_phone};
