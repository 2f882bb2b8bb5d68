//! Free text that people write — document titles, the reasons of corrections, holds and
//! destructions — as a role that sees personal data masked may read it. Clerks type a holder's
//! name or ID number into a title ("张三丰 居民新装申请", "身份证 110105…") as often as not, so
//! masking the customer's fields alone would leave the same values readable one field over.
//!
//! Two passes: the holders' own values (their name, ID number, phone, address) wherever they
//! appear, and then anything shaped like an ID number or a phone number, whoever it belongs to.
//! What neither pass recognises (another person's name, say) stays: free text is not parsed for
//! names, and the README says so.

use super::identifier_masks::{mask_id_number, mask_phone};
use super::masking::{keep_start, mask_name};
use crate::domain::{Customer, CustomerClass};

/// Masks free text for one archive's holders (the account's current holder and those of the
/// revisions its documents were filed under).
#[derive(Debug, Default)]
pub struct FreeTextMask {
    /// Each holder value with its masked form, longest first so that a value containing
    /// another (an address containing a name) is replaced whole.
    replacements: Vec<(String, String)>,
}

impl FreeTextMask {
    pub fn for_holders<'a>(holders: impl IntoIterator<Item = &'a Customer>) -> Self {
        let mut replacements = Vec::new();
        for holder in holders {
            if holder.customer_class == CustomerClass::Residential {
                let name = holder.display_name.as_str();
                replacements.push((name.to_owned(), mask_name(name)));
            }
            let fields = [
                (&holder.id_number, mask_id_number as fn(&str) -> String),
                (&holder.phone, mask_phone),
                (&holder.address, |text: &str| keep_start(text, 6)),
            ];
            for (value, mask) in fields {
                if let Some(value) = value {
                    replacements.push((value.as_str().to_owned(), mask(value.as_str())));
                }
            }
        }
        // A one-character value would mask that character everywhere it is written.
        replacements.retain(|(value, _)| value.chars().count() >= 2);
        replacements.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        replacements.dedup();
        Self { replacements }
    }

    /// Masks ID- and phone-shaped numbers only: for text that spans many archives.
    pub fn without_holders() -> Self {
        Self::default()
    }

    /// The text with the holders' values and every ID- or phone-shaped number masked.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (value, masked) in &self.replacements {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), masked);
            }
        }
        mask_number_shapes(&text)
    }
}

/// Masks the runs of digits that have the shape of a resident card (18 characters, the last
/// possibly `X`; the old 15-digit form), a mobile number (11 digits from `13`…`19`, hyphens
/// allowed) or a landline with its area code (`022-23456789`). Shorter runs — dates, amounts,
/// account and work order numbers — stay as they are.
pub(super) fn mask_number_shapes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        // A resident card's check character.
        let digits = chars[start..i]
            .iter()
            .filter(|c| c.is_ascii_digit())
            .count();
        if digits == 17
            && !chars[start..i].contains(&'-')
            && matches!(chars.get(i), Some('X' | 'x'))
        {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        out.push_str(&mask_run(&run));
    }
    out
}

fn mask_run(run: &str) -> String {
    let digits: String = run.chars().filter(char::is_ascii_digit).collect();
    let hyphenated = run.contains('-');
    let id_shaped = !hyphenated && (run.len() == 18 || (run.len() == 15 && digits.len() == 15));
    let mobile_shaped =
        digits.len() == 11 && digits.starts_with('1') && digits.as_bytes()[1] >= b'3';
    let landline_shaped = hyphenated
        && digits.starts_with('0')
        && (10..=12).contains(&digits.len())
        && run.find('-').is_some_and(|at| (3..=4).contains(&at));
    if id_shaped {
        // `x` is how many write the check character; masking knows it as `X`.
        mask_id_number(&run.to_ascii_uppercase())
    } else if mobile_shaped || landline_shaped {
        mask_phone(run)
    } else {
        run.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AccountNumber, CustomerDisplayName, CustomerStatus, OrgUnitCode, PersonalText,
    };
    use chrono::Utc;

    fn holder(name: &str, class: CustomerClass) -> Customer {
        Customer {
            account_number: AccountNumber::parse("1234567890").unwrap(),
            display_name: CustomerDisplayName::parse(name).unwrap(),
            customer_class: class,
            org_unit_code: OrgUnitCode::parse("12").unwrap(),
            status: CustomerStatus::Active,
            id_number: Some(PersonalText::parse("H1234567(8)").unwrap()),
            phone: Some(PersonalText::parse("022-23456789 转 123").unwrap()),
            address: Some(PersonalText::parse("天津市河西区友谊路10号").unwrap()),
            create_time: Utc::now(),
            update_time: Utc::now(),
            opened_at: Utc::now(),
            closed_at: None,
            revision: 1,
        }
    }

    #[test]
    fn a_holders_name_and_values_are_masked_wherever_they_are_written() {
        let mask = FreeTextMask::for_holders([&holder("张三丰", CustomerClass::Residential)]);
        assert_eq!(
            mask.apply("张三丰 居民新装申请 证件H1234567(8) 住天津市河西区友谊路10号"),
            "张** 居民新装申请 证件H1******(*) 住天津市河西区****"
        );
    }

    #[test]
    fn a_business_name_is_public_and_stays() {
        let mask = FreeTextMask::for_holders([&holder(
            "天津某某制造有限公司",
            CustomerClass::NonResidential,
        )]);
        assert_eq!(
            mask.apply("天津某某制造有限公司 增容合同"),
            "天津某某制造有限公司 增容合同"
        );
    }

    #[test]
    fn id_and_phone_shaped_numbers_are_masked_whoever_they_belong_to() {
        assert_eq!(
            mask_number_shapes("代办人11010519491231002x，电话13812345678"),
            "代办人110***********002X，电话138****5678"
        );
        assert_eq!(
            mask_number_shapes("旧证110105491231002"),
            "旧证110********1002"
        );
        assert_eq!(mask_number_shapes("联系022-23456789"), "联系022*****6789");
        assert_eq!(mask_number_shapes("138-1234-5678"), "138******5678");
    }

    #[test]
    fn dates_amounts_and_account_numbers_stay() {
        let text = "2009年3月 户号1234567890 工单WO-20260312-0042 金额1500元 20090312";
        assert_eq!(mask_number_shapes(text), text);
    }

    #[test]
    fn a_longer_run_of_digits_is_not_cut_into_an_id_number() {
        let text = "流水号1234567890123456789012";
        assert_eq!(mask_number_shapes(text), text);
    }
}
