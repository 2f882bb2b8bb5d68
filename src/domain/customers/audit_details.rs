//! What the audit trail records of a customer's opening and changes: which fields were set,
//! and their values with the personal ones (ID number, phone, address, a household's name)
//! masked as a masked role sees them. The trail is kept for years and read by auditors: it
//! must not become a plaintext copy of personal data. The values themselves stay in the
//! customer's row and its revisions, behind their read permissions.

use serde_json::{Map, Value};

use super::customer::{
    Customer, CustomerChanges, CustomerClass, CustomerDisplayName, CustomerStatus, NewCustomer,
    OrgUnitCode,
};
use crate::domain::access::masking::mask_personal_value;

/// The details of CreateCustomer: the fields set and their (masked) values.
pub(super) fn opened(new: &NewCustomer) -> Value {
    let fields = CustomerChanges {
        display_name: Some(new.display_name.clone()),
        customer_class: Some(new.customer_class),
        org_unit_code: Some(new.org_unit_code.clone()),
        status: Some(new.status),
        id_number: new.id_number.clone(),
        phone: new.phone.clone(),
        address: new.address.clone(),
    };
    let household = new.customer_class == CustomerClass::Residential;
    serde_json::json!({
        "fields": field_names(&fields),
        "new": values(&fields, household),
    })
}

/// The details of UpdateCustomer: the fields changed, their old and their new (masked) values.
pub(super) fn changed(old: &Customer, changes: &CustomerChanges) -> Value {
    // Only what changes is recorded of the old state, not the whole customer again.
    let before = CustomerChanges {
        display_name: Some(old.display_name.clone()).filter(|_| changes.display_name.is_some()),
        customer_class: Some(old.customer_class).filter(|_| changes.customer_class.is_some()),
        org_unit_code: Some(old.org_unit_code.clone()).filter(|_| changes.org_unit_code.is_some()),
        status: Some(old.status).filter(|_| changes.status.is_some()),
        id_number: old
            .id_number
            .clone()
            .filter(|_| changes.id_number.is_some()),
        phone: old.phone.clone().filter(|_| changes.phone.is_some()),
        address: old.address.clone().filter(|_| changes.address.is_some()),
    };
    // A name is a private person's while the customer is, or becomes, a household.
    let household = old.customer_class == CustomerClass::Residential
        || changes.customer_class == Some(CustomerClass::Residential);
    serde_json::json!({
        "fields": field_names(changes),
        "old": values(&before, household),
        "changes": values(changes, household),
    })
}

/// The names of the fields `fields` sets, in the order of the Customer message.
fn field_names(fields: &CustomerChanges) -> Vec<&'static str> {
    [
        ("display_name", fields.display_name.is_some()),
        ("customer_class", fields.customer_class.is_some()),
        ("org_unit_code", fields.org_unit_code.is_some()),
        ("status", fields.status.is_some()),
        ("id_number", fields.id_number.is_some()),
        ("phone", fields.phone.is_some()),
        ("address", fields.address.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// The values `fields` sets, personal ones masked; a business's name is public and stays.
fn values(fields: &CustomerChanges, household: bool) -> Value {
    let mut object = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            object.insert(name.to_owned(), Value::String(value));
        }
    };
    put(
        "display_name",
        fields.display_name.as_ref().map(|name| {
            let name = CustomerDisplayName::as_str(name);
            if household {
                mask_personal_value("display_name", name)
            } else {
                name.to_owned()
            }
        }),
    );
    put(
        "customer_class",
        fields
            .customer_class
            .map(|c| CustomerClass::code(c).to_owned()),
    );
    put(
        "org_unit_code",
        fields
            .org_unit_code
            .as_ref()
            .map(|unit| OrgUnitCode::as_str(unit).to_owned()),
    );
    put(
        "status",
        fields.status.map(|s| CustomerStatus::code(s).to_owned()),
    );
    for (name, value) in [
        ("id_number", &fields.id_number),
        ("phone", &fields.phone),
        ("address", &fields.address),
    ] {
        put(
            name,
            value
                .as_ref()
                .map(|text| mask_personal_value(name, text.as_str())),
        );
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::super::customer::PersonalText;
    use super::*;
    use crate::domain::AccountNumber;

    const ID: &str = "11010519491231002X";
    const PHONE: &str = "13812345678";
    const ADDRESS: &str = "天津市河西区友谊路35号";

    fn text(value: &str) -> Option<PersonalText> {
        Some(PersonalText::parse(value).unwrap())
    }

    fn household() -> NewCustomer {
        NewCustomer {
            account_number: AccountNumber::parse("1201000001").unwrap(),
            display_name: CustomerDisplayName::parse("张三丰").unwrap(),
            customer_class: CustomerClass::Residential,
            org_unit_code: OrgUnitCode::parse("120101").unwrap(),
            status: CustomerStatus::Active,
            id_number: text(ID),
            phone: text(PHONE),
            address: text(ADDRESS),
            opened_at: None,
            closed_at: None,
        }
    }

    #[test]
    fn an_opening_records_its_fields_with_the_personal_values_masked() {
        let details = opened(&household());
        let written = details.to_string();
        for raw in [ID, PHONE, ADDRESS, "张三丰"] {
            assert!(!written.contains(raw), "{raw} in {written}");
        }
        assert_eq!(details["new"]["id_number"], "110***********002X");
        assert_eq!(details["new"]["phone"], "138****5678");
        assert_eq!(details["new"]["address"], "天津市河西区****");
        assert_eq!(details["new"]["display_name"], "张**");
        assert_eq!(details["new"]["org_unit_code"], "120101");
        assert_eq!(
            details["fields"],
            serde_json::json!([
                "display_name",
                "customer_class",
                "org_unit_code",
                "status",
                "id_number",
                "phone",
                "address"
            ])
        );
    }

    #[test]
    fn a_business_keeps_its_name_in_the_trail() {
        let business = NewCustomer {
            display_name: CustomerDisplayName::parse("天津市河西区供热有限公司").unwrap(),
            customer_class: CustomerClass::NonResidential,
            phone: None,
            ..household()
        };
        let details = opened(&business);
        assert_eq!(details["new"]["display_name"], "天津市河西区供热有限公司");
        assert!(details["new"].get("phone").is_none());
        assert!(
            !details["fields"]
                .as_array()
                .unwrap()
                .contains(&"phone".into())
        );
    }
}
