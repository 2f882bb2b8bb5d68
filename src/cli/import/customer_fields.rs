//! The `customer` object of a manifest line: the account to open when it is not in Custodian
//! yet, every field checked, the legacy ID and phone forms taken as they are.

use super::manifest::{CustomerFields, parse_date, timestamp};
use crate::domain::{CustomerDisplayName, OrgUnitCode, PersonalText, parse_id_number, parse_phone};
use crate::proto::v1 as pb;

/// The customer to open when the account is not in Custodian yet.
pub(super) fn customer(
    account: &str,
    fields: &CustomerFields,
    note: &mut impl FnMut(&str, String),
) -> pb::Customer {
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(reason) = result {
            note(field, reason);
        }
    };
    check(
        "customer.display_name",
        CustomerDisplayName::parse(&fields.display_name).map(drop),
    );
    check(
        "customer.org_unit_code",
        OrgUnitCode::parse(&fields.org_unit_code).map(drop),
    );
    let class = match fields.customer_class.as_str() {
        "residential" => pb::CustomerClass::Residential,
        "non_residential" => pb::CustomerClass::NonResidential,
        other => {
            check(
                "customer.customer_class",
                Err(format!("{other:?} is not residential or non_residential")),
            );
            pb::CustomerClass::Unspecified
        }
    };
    let status = match fields.status.as_deref() {
        None | Some("active") => pb::CustomerStatus::Active,
        Some("closed") => pb::CustomerStatus::Closed,
        Some(other) => {
            check(
                "customer.status",
                Err(format!("{other:?} is not active or closed")),
            );
            pb::CustomerStatus::Unspecified
        }
    };
    let mut date = |field: &str, text: &Option<String>| match text.as_deref().map(parse_date) {
        None => None,
        Some(Ok(time)) => Some(timestamp(time)),
        Some(Err(reason)) => {
            check(field, Err(reason));
            None
        }
    };
    let open_time = date("customer.open_date", &fields.open_date);
    let close_time = date("customer.close_date", &fields.close_date);
    if close_time.is_some() && status != pb::CustomerStatus::Closed {
        check(
            "customer.close_date",
            Err("is given but status is not closed".into()),
        );
    }
    let personal = |field: &str,
                    text: &Option<String>,
                    parse: fn(&str) -> Result<PersonalText, String>,
                    check: &mut dyn FnMut(&str, Result<(), String>)| {
        match text.as_deref().filter(|text| !text.trim().is_empty()) {
            None => String::new(),
            Some(text) => match parse(text) {
                Ok(value) => value.as_str().to_owned(),
                Err(reason) => {
                    check(field, Err(reason));
                    String::new()
                }
            },
        }
    };
    pb::Customer {
        account_number: account.to_owned(),
        display_name: fields.display_name.clone(),
        customer_class: class.into(),
        org_unit_code: fields.org_unit_code.clone(),
        status: status.into(),
        id_number: personal(
            "customer.id_number",
            &fields.id_number,
            parse_id_number,
            &mut check,
        ),
        phone: personal("customer.phone", &fields.phone, parse_phone, &mut check),
        address: personal(
            "customer.address",
            &fields.address,
            PersonalText::parse,
            &mut check,
        ),
        open_time,
        close_time,
        ..Default::default()
    }
}
