//! Masking of personal data: the one place where ID numbers, phone numbers, addresses and the
//! names of private persons are hidden from roles that may not see them in full.

use super::free_text::FreeTextMask;
use super::identifier_masks::{mask_id_number, mask_phone};
use crate::domain::{
    ChainedEvent, Customer, CustomerClass, CustomerDisplayName, Grant, PersonalData,
};

/// Returns the customer as the grant may see it.
pub fn present_customer(mut customer: Customer, grant: &Grant<'_>) -> Customer {
    if grant.personal_data() == PersonalData::Full {
        return customer;
    }
    // A business's name is public; a household's is a private person's name.
    if customer.customer_class == CustomerClass::Residential {
        let masked = mask_name(customer.display_name.as_str());
        if let Ok(name) = CustomerDisplayName::parse(&masked) {
            customer.display_name = name;
        }
    }
    customer.id_number = customer.id_number.map(|id| id.map(mask_id_number));
    customer.phone = customer.phone.map(|phone| phone.map(mask_phone));
    customer.address = customer
        .address
        .map(|address| address.map(|text| keep_start(text, 6)));
    customer
}

/// Another holder's record, as the account's current holder may see it after a transfer: a
/// household's name masked (a business's name is public), and no ID number, phone or address
/// at all, whatever the role sees of its own holder.
pub fn withhold_holder(mut customer: Customer) -> Customer {
    if customer.customer_class == CustomerClass::Residential {
        let masked = mask_name(customer.display_name.as_str());
        if let Ok(name) = CustomerDisplayName::parse(&masked) {
            customer.display_name = name;
        }
    }
    customer.id_number = None;
    customer.phone = None;
    customer.address = None;
    customer
}

/// Returns an audit event as the grant may see it: the personal values recorded in a change's
/// details are masked like the customer's own fields, and so is the person of a call made by a
/// member of the public (`public_actor`: a customer's or a payer's token names them, often by
/// phone or ID number). Staff stay named: an audit that hides who acted is no audit. Free
/// text in the details (titles, reasons) is masked with `holders`, the mask of the event's
/// account.
pub fn present_audit_event(
    mut event: ChainedEvent,
    grant: &Grant<'_>,
    public_actor: bool,
    holders: &FreeTextMask,
) -> ChainedEvent {
    if grant.personal_data() == PersonalData::Full {
        return event;
    }
    if public_actor {
        event.event.person = keep_ends(&event.event.person, 2, 2);
    }
    if let Some(details) = &event.event.details {
        event.event.details = Some(match serde_json::from_str::<serde_json::Value>(details) {
            Ok(mut value) => {
                mask_json(&mut value, holders);
                value.to_string()
            }
            // Details are always JSON; anything else is withheld rather than shown raw.
            Err(_) => String::new(),
        });
    }
    event
}

/// Masks a personal value as the field it belongs to is masked (`display_name`, `id_number`,
/// `phone`, `address`): the audit trail keeps personal values only in this form, a search's
/// filters as a customer's opening and changes.
pub(crate) fn mask_personal_value(field: &str, text: &str) -> String {
    match field {
        "id_number" => mask_id_number(text),
        "phone" => mask_phone(text),
        "address" => keep_start(text, 6),
        _ => mask_name(text),
    }
}

/// Masks the personal fields wherever they appear in a details document.
fn mask_json(value: &mut serde_json::Value, holders: &FreeTextMask) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match (key.as_str(), field.as_str()) {
                    ("id_number", Some(text)) => *field = mask_id_number(text).into(),
                    ("phone", Some(text)) => *field = mask_phone(text).into(),
                    ("address", Some(text)) => *field = keep_start(text, 6).into(),
                    // The class is not always beside the name; a business name masked here is
                    // still readable in the customer record itself.
                    ("display_name", Some(text)) => *field = mask_name(text).into(),
                    // Free text typed by people (see `free_text`).
                    ("title" | "reason" | "purpose" | "note", Some(text)) => {
                        *field = holders.apply(text).into()
                    }
                    _ => mask_json(field, holders),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|item| mask_json(item, holders))
        }
        _ => {}
    }
}

/// 张三丰 → 张**: the family name stays, the given name goes. A name of one or two characters
/// keeps none (李 or 李四 as 李* would give it away, or most of it): `**`.
pub(super) fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let first: String = chars.next().into_iter().collect();
    let rest = chars.count();
    if rest < 2 {
        return "**".into();
    }
    format!("{first}{}", "*".repeat(rest))
}

/// The fewest characters `keep_ends` hides; a shorter text is hidden whole.
const HIDDEN_AT_LEAST: usize = 4;

/// Keeps `head` leading and `tail` trailing characters; everything between becomes `*`. A text
/// too short to hide at least four characters between them is hidden whole.
pub(super) fn keep_ends(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < head + tail + HIDDEN_AT_LEAST {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= chars.len() - tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Keeps the first `head` characters (a district, not a door), but never more than half of
/// the text, so a short address keeps little of itself; hides the rest.
pub(super) fn keep_start(text: &str, head: usize) -> String {
    let kept: String = text
        .chars()
        .take(head.min(text.chars().count() / 2))
        .collect();
    format!("{kept}****")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_name_keeps_only_the_family_name() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
    }

    #[test]
    fn a_name_of_one_or_two_characters_keeps_none() {
        assert_eq!(mask_name("李"), "**");
        assert_eq!(mask_name("李四"), "**");
    }

    #[test]
    fn an_id_number_keeps_its_first_three_and_last_four_characters() {
        assert_eq!(keep_ends("11010519491231002X", 3, 4), "110***********002X");
    }

    #[test]
    fn a_phone_number_keeps_its_prefix_and_last_four_digits() {
        assert_eq!(keep_ends("13812345678", 3, 4), "138****5678");
        assert_eq!(keep_ends("1234", 3, 4), "****");
        // An eight-digit landline would keep seven of its eight digits.
        assert_eq!(keep_ends("23456789", 3, 4), "********");
    }

    #[test]
    fn personal_values_in_audit_details_are_masked_at_any_depth() {
        let mut details = serde_json::json!({
            "old": { "phone": "13812345678", "status": "active" },
            "changes": { "id_number": "11010519491231002X", "address": "天津市和平区南京路100号" },
        });
        mask_json(&mut details, &FreeTextMask::without_holders());
        assert_eq!(details["old"]["phone"], "138****5678");
        assert_eq!(details["old"]["status"], "active");
        assert_eq!(details["changes"]["id_number"], "110***********002X");
        assert_eq!(details["changes"]["address"], "天津市和平区****");
    }

    #[test]
    fn numbers_in_free_text_of_audit_details_are_masked() {
        let mut details = serde_json::json!({
            "reason": "客户13812345678来电更正",
            "new": { "title": "身份证11010519491231002X 复印件" },
        });
        mask_json(&mut details, &FreeTextMask::without_holders());
        assert_eq!(details["reason"], "客户138****5678来电更正");
        assert_eq!(details["new"]["title"], "身份证110***********002X 复印件");
    }

    #[test]
    fn an_address_keeps_its_district_only() {
        assert_eq!(
            keep_start("天津市和平区南京路100号3门", 6),
            "天津市和平区****"
        );
    }

    #[test]
    fn a_short_address_keeps_at_most_half_of_itself() {
        assert_eq!(keep_start("和平区南京路1号", 6), "和平区南****");
        assert_eq!(keep_start("南京路", 6), "南****");
        assert_eq!(keep_start("甲", 6), "****");
    }
}
