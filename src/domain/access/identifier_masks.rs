//! How ID numbers and phone numbers are masked, by their form: resident cards keep their
//! region and last four, other IDs (Hong Kong, Macau, Taiwan, passports) keep their first two
//! characters only, and a phone's extension is hidden whole.

use crate::domain::customers::identifiers::{IdNumberKind, split_extension};

/// `11010519491231002X` → `110***********002X`; `H1234567(8)` → `H1******(*)`.
pub(super) fn mask_id_number(text: &str) -> String {
    match IdNumberKind::of(text) {
        IdNumberKind::ResidentCard => super::masking::keep_ends(text, 3, 4),
        // A short ID keeps less of itself: its last digits would give most of it away.
        IdNumberKind::Other => text
            .chars()
            .enumerate()
            .map(|(i, c)| if i < 2 || "()".contains(c) { c } else { '*' })
            .collect(),
    }
}

/// `13812345678` → `138****5678`; `022-23456789 转 123` → `022*****6789 转 ***`.
pub(crate) fn mask_phone(text: &str) -> String {
    let (number, extension) = split_extension(text);
    let trailing = &number[number.trim_end().len()..];
    let mut masked = super::masking::keep_ends(number.trim_end(), 3, 4);
    masked.push_str(trailing);
    if let Some((mark, digits)) = extension {
        masked.push_str(mark);
        masked.extend(
            digits
                .chars()
                .map(|c| if c.is_ascii_digit() { '*' } else { c }),
        );
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resident_card_keeps_its_first_three_and_last_four_characters() {
        assert_eq!(mask_id_number("11010519491231002X"), "110***********002X");
        assert_eq!(mask_id_number("110105491231002"), "110********1002");
    }

    #[test]
    fn a_hong_kong_macau_or_taiwan_id_keeps_only_its_first_two_characters() {
        assert_eq!(mask_id_number("H1234567(8)"), "H1******(*)");
        assert_eq!(mask_id_number("A123456(7)"), "A1*****(*)");
        assert_eq!(mask_id_number("A123456789"), "A1********");
    }

    #[test]
    fn a_passport_number_keeps_only_its_first_two_characters() {
        assert_eq!(mask_id_number("E12345678"), "E1*******");
    }

    #[test]
    fn a_mobile_number_keeps_its_prefix_and_last_four_digits() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }

    #[test]
    fn a_landline_with_an_extension_hides_the_extension_whole() {
        assert_eq!(mask_phone("022-23456789 转 123"), "022*****6789 转 ***");
        assert_eq!(mask_phone("022-23456789转123"), "022*****6789转***");
        assert_eq!(mask_phone("022-23456789 ext. 12"), "022*****6789 ext. **");
    }

    #[test]
    fn a_short_number_is_hidden_whole() {
        assert_eq!(mask_phone("23456789"), "********");
    }
}
