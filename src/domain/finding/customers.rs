//! Searching customers: by account number prefix, name or address substring, or ID number or
//! phone through the blind index; who may search by what, and how results are masked.

use crate::domain::access::masking::{mask_personal_value, present_customer};
use crate::domain::customers::customer::narrow_to_reach;
use crate::domain::paging::{Page, PageRequest};
use crate::domain::{
    AccountNumber, Actor, Archive, Customer, Error, IdentifierField, OrgUnitCode, Permission,
    Resource,
};

/// The fewest characters a name or address query may have: the bigram index cannot serve one.
pub const MIN_SEARCH_CHARS: usize = 2;

/// A part of a name or address to look for: 2 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let length = trimmed.chars().count();
        if !(MIN_SEARCH_CHARS..=200).contains(&length) {
            return Err(format!(
                "must be {MIN_SEARCH_CHARS} to 200 characters, got {length} (a single character \
                 matches too many to index)"
            ));
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

/// The digits an account number starts with: 1 to 16 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPrefix(String);

impl AccountPrefix {
    pub fn parse(text: &str) -> Result<Self, String> {
        if (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!("{text:?} must be 1 to 16 digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a customer search asks for; every filter set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSearch {
    pub account_prefix: Option<AccountPrefix>,
    pub name: Option<SearchText>,
    pub address: Option<SearchText>,
    /// Normalised (see [`IdentifierField::normalise`]).
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub org_unit: Option<OrgUnitCode>,
    pub include_former_holders: bool,
}

impl CustomerSearch {
    /// Normalises the identifiers and requires at least one filter.
    pub fn validate(mut self) -> Result<Self, Error> {
        for (field, value) in [
            (IdentifierField::IdNumber, &mut self.id_number),
            (IdentifierField::Phone, &mut self.phone),
        ] {
            if let Some(text) = value.take() {
                let normalised = field.normalise(&text);
                if normalised.is_empty() || normalised.chars().count() > 32 {
                    return Err(Error::invalid(
                        field.code(),
                        "must have 1 to 32 letters or digits",
                    ));
                }
                *value = Some(normalised);
            }
        }
        if self.account_prefix.is_none()
            && self.name.is_none()
            && self.address.is_none()
            && self.id_number.is_none()
            && self.phone.is_none()
        {
            return Err(Error::invalid(
                "account_number_prefix",
                "a search needs at least one of account_number_prefix, name, address, \
                 id_number or phone (to list a unit's customers, use ListCustomers)",
            ));
        }
        Ok(self)
    }

    /// Whether the search looks at personal data beyond a business's name.
    fn asks_personal_fields(&self) -> bool {
        self.address.is_some() || self.id_number.is_some() || self.phone.is_some()
    }

    fn asks_identifiers(&self) -> bool {
        self.id_number.is_some() || self.phone.is_some()
    }

    /// The filters as the audit trail keeps them: personal values masked as for a masked role.
    pub fn audit_details(&self) -> serde_json::Value {
        serde_json::json!({
            "account_number_prefix": self.account_prefix.as_ref().map(AccountPrefix::as_str),
            "name": self.name.as_ref().map(|t| mask_personal_value("display_name", t.as_str())),
            "address": self.address.as_ref().map(|t| mask_personal_value("address", t.as_str())),
            "id_number": self.id_number.as_deref().map(|t| mask_personal_value("id_number", t)),
            "phone": self.phone.as_deref().map(|t| mask_personal_value("phone", t)),
            "org_unit": self.org_unit.as_ref().map(OrgUnitCode::as_str),
            "include_former_holders": self.include_former_holders,
        })
    }
}

/// How the storage runs a search the grant allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerQuery {
    pub org_unit: Option<OrgUnitCode>,
    pub account: Option<AccountNumber>,
    /// A name searched by a role that may not search households: businesses only.
    pub businesses_only: bool,
}

/// One customer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMatch {
    pub customer: Customer,
    /// Only a former holder's ID number or phone matched.
    pub former_holder: bool,
}

impl Archive {
    /// A canonical description of the search, which binds page tokens to it. Identifiers and
    /// texts appear only as keyed digests: a token must not let anyone test guesses of an ID
    /// number offline (an unkeyed hash of one can be brute-forced).
    pub fn describe_customer_search(&self, search: &CustomerSearch) -> String {
        let key = self.db.identifier_key();
        let seal = |field: IdentifierField, text: Option<&str>| match (key, text) {
            (_, None) => String::new(),
            (Some(key), Some(text)) => hex::encode(key.digest(field, text)),
            // Without a key no identifier search runs; texts are then bound by length only.
            (None, Some(text)) => format!("len{}", text.chars().count()),
        };
        format!(
            "customer search prefix={:?} name={} address={} id={} phone={} unit={:?} former={}",
            search.account_prefix.as_ref().map(AccountPrefix::as_str),
            seal(
                IdentifierField::IdNumber,
                search.name.as_ref().map(SearchText::as_str)
            ),
            seal(
                IdentifierField::Phone,
                search.address.as_ref().map(SearchText::as_str)
            ),
            seal(IdentifierField::IdNumber, search.id_number.as_deref()),
            seal(IdentifierField::Phone, search.phone.as_deref()),
            search.org_unit.as_ref().map(OrgUnitCode::as_str),
            search.include_former_holders,
        )
    }

    /// Searches the customers the caller reaches; see [`CustomerSearch`].
    pub async fn search_customers(
        &self,
        actor: &Actor,
        search: &CustomerSearch,
        page: PageRequest<AccountNumber>,
    ) -> Result<Page<CustomerMatch, AccountNumber>, Error> {
        let resource = Resource::named("customers:search");
        let details = search.audit_details();
        self.audited_with(actor, "SearchCustomers", resource, details, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCustomers)?;
            let personal = grant.allows(Permission::SearchPersonalData);
            if search.asks_personal_fields() && !personal {
                return Err(Error::PermissionDenied(format!(
                    "role {:?} does not have the search-personal-data permission: it may search \
                     by account number prefix, and by name for businesses",
                    actor.role
                )));
            }
            if search.asks_identifiers() && self.db.identifier_key().is_none() {
                return Err(Error::FailedPrecondition(
                    "ID number and phone search needs auth.identifier_key \
                     (CUSTODIAN_AUTH__IDENTIFIER_KEY) configured on the server"
                        .into(),
                ));
            }
            let (org_unit, account) = narrow_to_reach(&grant, search.org_unit.as_ref())?;
            let query = CustomerQuery {
                org_unit,
                account,
                businesses_only: search.name.is_some() && !personal,
            };
            let found = self
                .db
                .search_customers(search, &query, page.after.as_ref(), page.size + 1)
                .await?;
            let page =
                Page::from_overfetch(found, page.size, |m| m.customer.account_number.clone());
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|m| CustomerMatch {
                        customer: present_customer(m.customer, &grant),
                        former_holder: m.former_holder,
                    })
                    .collect(),
                next: page.next,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_character_chinese_name_may_be_searched_but_one_character_may_not() {
        assert_eq!(SearchText::parse(" 张三 ").unwrap().as_str(), "张三");
        assert!(SearchText::parse("张").is_err());
        assert!(SearchText::parse("  ").is_err());
    }

    #[test]
    fn a_search_without_any_filter_is_rejected() {
        let only_unit = CustomerSearch {
            org_unit: Some(OrgUnitCode::parse("12").unwrap()),
            ..Default::default()
        };
        assert!(only_unit.validate().is_err());
    }

    #[test]
    fn identifiers_are_normalised_before_the_search_runs() {
        let search = CustomerSearch {
            phone: Some("+86 138-1234-5678".into()),
            id_number: Some("11010519491231002x".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(search.phone.as_deref(), Some("13812345678"));
        assert_eq!(search.id_number.as_deref(), Some("11010519491231002X"));
    }

    #[test]
    fn the_audit_details_mask_every_personal_value() {
        let search = CustomerSearch {
            name: Some(SearchText::parse("张三丰").unwrap()),
            id_number: Some("11010519491231002X".into()),
            phone: Some("13812345678".into()),
            ..Default::default()
        };
        let details = search.audit_details().to_string();
        for plain in ["三丰", "11010519491231002X", "13812345678"] {
            assert!(!details.contains(plain), "{details}");
        }
    }

    #[test]
    fn an_account_prefix_is_digits_only() {
        assert!(AccountPrefix::parse("1201").is_ok());
        assert!(AccountPrefix::parse("12a").is_err());
        assert!(AccountPrefix::parse("").is_err());
    }
}
