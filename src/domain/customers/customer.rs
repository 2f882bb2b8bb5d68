//! Customers: the owners of archives, and the rules for opening and changing them.

use chrono::{DateTime, Utc};

use super::history::ChangeStamp;
use crate::domain::Resource;
use crate::domain::access::masking::present_customer;
use crate::domain::names::customer_name;
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{Actor, Grant, Permission, Reach};
use crate::domain::{Archive, Error};

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

impl CustomerClass {
    /// The class's code in the database and the audit trail, e.g. `non_residential`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Residential => "residential",
            Self::NonResidential => "non_residential",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStatus {
    Active,
    Closed,
}

impl CustomerStatus {
    /// The status's code in the database and the audit trail, e.g. `closed`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }
}

/// A customer account: the owner of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub account_number: AccountNumber,
    pub display_name: CustomerDisplayName,
    pub customer_class: CustomerClass,
    pub org_unit_code: OrgUnitCode,
    pub status: CustomerStatus,
    /// Personal data: the holder's ID number (身份证号), phone and address, when recorded.
    pub id_number: Option<PersonalText>,
    pub phone: Option<PersonalText>,
    pub address: Option<PersonalText>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// When the account was opened: in its source for an imported account, else `create_time`.
    pub opened_at: DateTime<Utc>,
    /// When the account was closed; `None` while it is active.
    pub closed_at: Option<DateTime<Utc>>,
    /// 1 when opened, one more for each change (see `customer_history`).
    pub revision: u32,
}

/// What opening an archive needs.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub account_number: AccountNumber,
    pub display_name: CustomerDisplayName,
    pub customer_class: CustomerClass,
    pub org_unit_code: OrgUnitCode,
    pub status: CustomerStatus,
    pub id_number: Option<PersonalText>,
    pub phone: Option<PersonalText>,
    pub address: Option<PersonalText>,
    /// An imported account's dates in its source (permission `import-records`).
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl NewCustomer {
    /// Checks the source's dates against each other, the status and the clock.
    fn check_dates(&self, now: DateTime<Utc>) -> Result<(), Error> {
        for (field, time) in [
            ("customer.open_time", self.opened_at),
            ("customer.close_time", self.closed_at),
        ] {
            if let Some(time) = time
                && time > now
            {
                return Err(Error::invalid(
                    field,
                    format!("{} is in the future", time.to_rfc3339()),
                ));
            }
        }
        if self.closed_at.is_some() && self.status != CustomerStatus::Closed {
            return Err(Error::invalid(
                "customer.close_time",
                "may be set only for a customer created with status CLOSED",
            ));
        }
        if let (Some(opened), Some(closed)) = (self.opened_at, self.closed_at)
            && closed < opened
        {
            return Err(Error::invalid(
                "customer.close_time",
                format!("must not be before open_time ({})", opened.to_rfc3339()),
            ));
        }
        Ok(())
    }

    /// Whether opening the account needs the `import-records` permission: it brings dates
    /// from another archive.
    fn is_import(&self) -> bool {
        self.opened_at.is_some() || self.closed_at.is_some()
    }
}

/// A personal-data field: 1 to 300 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PersonalText(String);

impl PersonalText {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 300 {
            return Err("must be 1 to 300 characters".into());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Replaces the text by a masked form of it (see `masking`).
    pub(crate) fn map(self, f: impl FnOnce(&str) -> String) -> Self {
        Self(f(&self.0))
    }
}

/// The fields an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub display_name: Option<CustomerDisplayName>,
    pub customer_class: Option<CustomerClass>,
    pub org_unit_code: Option<OrgUnitCode>,
    pub status: Option<CustomerStatus>,
    pub id_number: Option<PersonalText>,
    pub phone: Option<PersonalText>,
    pub address: Option<PersonalText>,
}

impl Archive {
    /// Opens a customer's archive, within the caller's org scope.
    pub async fn create_customer(
        &self,
        actor: &Actor,
        new: NewCustomer,
    ) -> Result<Customer, Error> {
        let account = new.account_number.clone();
        let resource = Resource::named(customer_name(&account)).account(&account);
        self.audited_change(actor, "CreateCustomer", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::CreateCustomers)?;
            if new.is_import() {
                grant.require(Permission::ImportRecords)?;
            }
            new.check_dates(self.clock.now())?;
            require_within_reach(&grant, &new.org_unit_code)?;
            let mut details = super::audit_details::opened(&new);
            if new.is_import() {
                details["imported"] = serde_json::json!({
                    "open_time": new.opened_at.map(|time| time.to_rfc3339()),
                    "close_time": new.closed_at.map(|time| time.to_rfc3339()),
                });
            }
            let event = event.with_details(details);
            let customer = self
                .db
                .insert_customer(&new, &ChangeStamp::now(actor, self.clock.as_ref()), &event)
                .await?
                .ok_or_else(|| {
                    Error::AlreadyExists(format!("customer customers/{account} already exists"))
                })?;
            Ok(present_customer(customer, &grant))
        })
        .await
    }

    /// Returns the customer, or `NotFound` also when it lies outside the caller's scope.
    pub async fn customer(
        &self,
        actor: &Actor,
        account: &AccountNumber,
    ) -> Result<Customer, Error> {
        let resource = Resource::named(customer_name(account)).account(account);
        self.audited(actor, "GetCustomer", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCustomers)?;
            let customer = self.reachable_customer(&grant, account).await?;
            Ok(present_customer(customer, &grant))
        })
        .await
    }

    /// Applies `changes` to the customer; the audit event records the fields changed with
    /// their old and new values, personal ones masked (see `audit_details`).
    pub async fn update_customer(
        &self,
        actor: &Actor,
        account: &AccountNumber,
        changes: CustomerChanges,
    ) -> Result<Customer, Error> {
        let resource = Resource::named(customer_name(account)).account(account);
        self.audited_change(actor, "UpdateCustomer", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::UpdateCustomers)?;
            let old = self.reachable_customer(&grant, account).await?;
            if let Some(unit) = &changes.org_unit_code {
                require_within_reach(&grant, unit)?;
            }
            let event = event.with_details(super::audit_details::changed(&old, &changes));
            let customer = self
                .db
                .update_customer(
                    account,
                    &changes,
                    &ChangeStamp::now(actor, self.clock.as_ref()),
                    &event,
                )
                .await?
                .ok_or_else(|| customer_not_found(account))?;
            Ok(present_customer(customer, &grant))
        })
        .await
    }

    /// Lists customers of `org_unit` and the units below it, within the caller's scope, in
    /// account-number order.
    pub async fn list_customers(
        &self,
        actor: &Actor,
        org_unit: Option<&OrgUnitCode>,
        page: PageRequest<AccountNumber>,
    ) -> Result<Page<Customer, AccountNumber>, Error> {
        let resource = Resource::named(format!(
            "customers?org_unit={}",
            org_unit.map_or("", OrgUnitCode::as_str)
        ));
        self.audited(actor, "ListCustomers", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCustomers)?;
            self.customers_in_reach(&grant, org_unit, page).await
        })
        .await
    }

    /// One page of the customers of `org_unit` and below that the grant reaches, presented as
    /// it may see them; listings and exports share it.
    pub(crate) async fn customers_in_reach(
        &self,
        grant: &Grant<'_>,
        org_unit: Option<&OrgUnitCode>,
        page: PageRequest<AccountNumber>,
    ) -> Result<Page<Customer, AccountNumber>, Error> {
        let (unit, only_account) = narrow_to_reach(grant, org_unit)?;
        let customers = self
            .db
            .list_customers(
                unit.as_ref(),
                only_account.as_ref(),
                page.after.as_ref(),
                page.size + 1,
            )
            .await?;
        let page = Page::from_overfetch(customers, page.size, |c| c.account_number.clone());
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|c| present_customer(c, grant))
                .collect(),
            next: page.next,
        })
    }

    /// The customer if the grant reaches it; otherwise `NotFound`, as if it did not exist, so
    /// that a caller learns nothing about accounts outside its scope.
    pub(crate) async fn reachable_customer(
        &self,
        grant: &Grant<'_>,
        account: &AccountNumber,
    ) -> Result<Customer, Error> {
        match self.db.customer(account).await? {
            Some(customer) if grant.reaches(&customer) => Ok(customer),
            _ => Err(customer_not_found(account)),
        }
    }
}

/// Narrows an org unit asked for (or none: everything) to the grant's reach: the subtree to
/// look in and, for an own-account reach, the one account. A unit beside the reach is refused;
/// a unit above it is narrowed to the reach. Listings, searches and exports share it.
pub(crate) fn narrow_to_reach(
    grant: &Grant<'_>,
    org_unit: Option<&OrgUnitCode>,
) -> Result<(Option<OrgUnitCode>, Option<AccountNumber>), Error> {
    Ok(match grant.reach() {
        Reach::All => (org_unit.cloned(), None),
        Reach::OrgUnit(scope) => match org_unit {
            None => (Some(scope.clone()), None),
            Some(unit) if unit.is_within(scope) => (Some(unit.clone()), None),
            Some(unit) if scope.is_within(unit) => (Some(scope.clone()), None),
            Some(unit) => {
                return Err(Error::PermissionDenied(format!(
                    "org unit {} is outside your scope {}",
                    unit.as_str(),
                    scope.as_str()
                )));
            }
        },
        Reach::Account(account) => (org_unit.cloned(), Some(account.clone())),
    })
}

/// Org-unit operations need the whole unit within the caller's scope.
pub(crate) fn require_within_reach(grant: &Grant<'_>, unit: &OrgUnitCode) -> Result<(), Error> {
    let allowed = match grant.reach() {
        Reach::All => true,
        Reach::OrgUnit(scope) => unit.is_within(scope),
        Reach::Account(_) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "org unit {} is outside your scope",
            unit.as_str()
        )))
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
