//! Customers: the owners of archives, and the rules for opening and changing them.

use chrono::{DateTime, Utc};

use super::paging::{Cursor, Page, PageRequest};
use super::{Archive, Error};

/// The account number (户号): 8 to 16 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountNumber(String);

impl AccountNumber {
    /// Parses an account number, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !(8..=16).contains(&text.len()) {
            return Err(format!(
                "account number {text:?} must have 8 to 16 digits, it has {} characters",
                text.chars().count()
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "account number {text:?} must contain only the digits 0-9"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Cursor for AccountNumber {
    fn encode(&self) -> String {
        self.0.clone()
    }

    fn decode(text: &str) -> Option<Self> {
        Self::parse(text).ok()
    }
}

/// A supply company's code: each level adds two digits to its parent's (province `12` > city
/// `1201` > county `120101`), at most six levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnitCode(String);

impl OrgUnitCode {
    pub fn parse(text: &str) -> Result<Self, String> {
        let well_formed = !text.is_empty()
            && text.len() <= 12
            && text.len().is_multiple_of(2)
            && text.bytes().all(|b| b.is_ascii_digit());
        if well_formed {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "org unit code {text:?} must be 2 to 12 digits, two per level (e.g. 12, 1201, 120101)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` is `unit` or lies below it in the tree.
    pub fn is_within(&self, unit: &OrgUnitCode) -> bool {
        self.0.starts_with(&unit.0)
    }
}

/// The customer's name as on the supply contract: 1 to 200 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerDisplayName(String);

impl CustomerDisplayName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        if trimmed.chars().count() > 200 {
            return Err("must be at most 200 characters".into());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerClass {
    Residential,
    NonResidential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStatus {
    Active,
    Closed,
}

/// A customer account: the owner of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub account_number: AccountNumber,
    pub display_name: CustomerDisplayName,
    pub customer_class: CustomerClass,
    pub org_unit_code: OrgUnitCode,
    pub status: CustomerStatus,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// What opening an archive needs.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub account_number: AccountNumber,
    pub display_name: CustomerDisplayName,
    pub customer_class: CustomerClass,
    pub org_unit_code: OrgUnitCode,
    pub status: CustomerStatus,
}

/// The fields an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub display_name: Option<CustomerDisplayName>,
    pub customer_class: Option<CustomerClass>,
    pub org_unit_code: Option<OrgUnitCode>,
    pub status: Option<CustomerStatus>,
}

impl Archive {
    /// Opens a customer's archive.
    pub async fn create_customer(&self, new: NewCustomer) -> Result<Customer, Error> {
        let account = new.account_number.clone();
        self.db.insert_customer(&new).await?.ok_or_else(|| {
            Error::AlreadyExists(format!("customer customers/{account} already exists"))
        })
    }

    /// Returns the customer, or `NotFound`.
    pub async fn customer(&self, account: &AccountNumber) -> Result<Customer, Error> {
        self.db
            .customer(account)
            .await?
            .ok_or_else(|| customer_not_found(account))
    }

    /// Applies `changes` to the customer.
    pub async fn update_customer(
        &self,
        account: &AccountNumber,
        changes: CustomerChanges,
    ) -> Result<Customer, Error> {
        self.db
            .update_customer(account, &changes)
            .await?
            .ok_or_else(|| customer_not_found(account))
    }

    /// Lists customers of `org_unit` and the units below it, in account-number order.
    pub async fn list_customers(
        &self,
        org_unit: Option<&OrgUnitCode>,
        page: PageRequest<AccountNumber>,
    ) -> Result<Page<Customer, AccountNumber>, Error> {
        let customers = self
            .db
            .list_customers(org_unit, page.after.as_ref(), page.size + 1)
            .await?;
        Ok(Page::from_overfetch(customers, page.size, |c| {
            c.account_number.clone()
        }))
    }
}

pub(crate) fn customer_not_found(account: &AccountNumber) -> Error {
    Error::NotFound(format!("customer customers/{account} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ten_digit_account_number_is_accepted() {
        assert_eq!(
            AccountNumber::parse("0123456789").unwrap().as_str(),
            "0123456789"
        );
    }

    #[test]
    fn an_account_number_with_letters_is_rejected() {
        assert!(AccountNumber::parse("01234567ab").is_err());
    }

    #[test]
    fn an_account_number_that_is_too_short_or_too_long_is_rejected() {
        assert!(AccountNumber::parse("1234567").is_err());
        assert!(AccountNumber::parse("12345678901234567").is_err());
        assert!(AccountNumber::parse("").is_err());
    }

    #[test]
    fn an_account_number_with_non_ascii_digits_is_rejected() {
        assert!(AccountNumber::parse("١٢٣٤٥٦٧٨٩٠").is_err());
    }

    #[test]
    fn org_unit_codes_have_two_digits_per_level() {
        for good in ["12", "1201", "120101", "120101010101"] {
            assert!(OrgUnitCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1", "123", "12a1", "12010101010101"] {
            assert!(OrgUnitCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_county_lies_within_its_province_but_not_within_another() {
        let county = OrgUnitCode::parse("120101").unwrap();
        assert!(county.is_within(&OrgUnitCode::parse("12").unwrap()));
        assert!(county.is_within(&county.clone()));
        assert!(!county.is_within(&OrgUnitCode::parse("13").unwrap()));
    }

    #[test]
    fn a_display_name_is_trimmed_and_must_not_be_blank() {
        assert_eq!(
            CustomerDisplayName::parse("  张三 ").unwrap().as_str(),
            "张三"
        );
        assert!(CustomerDisplayName::parse("   ").is_err());
        assert!(CustomerDisplayName::parse(&"x".repeat(201)).is_err());
        assert!(CustomerDisplayName::parse("a\u{0}b").is_err());
    }
}
