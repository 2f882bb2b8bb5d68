//! Masking of personal data: the one place where ID numbers, phone numbers, addresses and the
//! names of private persons are hidden from roles that may not see them in full.

use super::{Customer, CustomerClass, CustomerDisplayName, Grant, PersonalData};

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
    customer.id_number = customer
        .id_number
        .map(|id| id.map(|text| keep_ends(text, 3, 4)));
    customer.phone = customer
        .phone
        .map(|phone| phone.map(|text| keep_ends(text, 3, 4)));
    customer.address = customer
        .address
        .map(|address| address.map(|text| keep_start(text, 6)));
    customer
}

/// 张三丰 → 张**: the family name stays, the given name goes.
fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let first: String = chars.next().into_iter().collect();
    let rest = chars.count().max(1);
    format!("{first}{}", "*".repeat(rest))
}

/// Keeps `head` leading and `tail` trailing characters; everything between becomes `*`.
fn keep_ends(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
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

/// Keeps the first `head` characters (a district, not a door) and hides the rest.
fn keep_start(text: &str, head: usize) -> String {
    let kept: String = text.chars().take(head).collect();
    format!("{kept}****")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_name_keeps_only_the_family_name() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李"), "李*");
    }

    #[test]
    fn an_id_number_keeps_its_first_three_and_last_four_characters() {
        assert_eq!(keep_ends("11010519491231002X", 3, 4), "110***********002X");
    }

    #[test]
    fn a_phone_number_keeps_its_prefix_and_last_four_digits() {
        assert_eq!(keep_ends("13812345678", 3, 4), "138****5678");
        assert_eq!(keep_ends("1234", 3, 4), "****");
    }

    #[test]
    fn an_address_keeps_its_district_only() {
        assert_eq!(
            keep_start("天津市和平区南京路100号3门", 6),
            "天津市和平区****"
        );
    }
}
