//! The forms of ID numbers and phone numbers the archive takes, legacy ones included: old
//! 15-digit resident cards, Hong Kong, Macau and Taiwan cards and permits, foreign passports,
//! and landlines with extensions (`022-23456789 转 123`).

use super::customer::PersonalText;

/// The most characters an ID number or a phone number may have (the database's limit).
const MAX_CHARS: usize = 32;

/// What kind of ID number a text is, which decides how it is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdNumberKind {
    /// A mainland resident ID card: 18 characters, or the old 15 digits.
    ResidentCard,
    /// Anything else: a Hong Kong, Macau or Taiwan card or permit, a foreign passport.
    Other,
}

impl IdNumberKind {
    pub fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        let resident = match bytes.len() {
            15 => digits(bytes),
            18 => digits(&bytes[..17]) && (bytes[17].is_ascii_digit() || bytes[17] == b'X'),
            _ => false,
        };
        if resident {
            Self::ResidentCard
        } else {
            Self::Other
        }
    }
}

/// Parses an ID number: ASCII letters and digits, optionally ending in one check character in
/// parentheses (`H1234567(8)`), at most 32 characters. A lowercase `x` ending a resident card
/// is written `X`, as printed on the card.
pub fn parse_id_number(text: &str) -> Result<PersonalText, String> {
    let text = text.trim();
    let describe = "must be at most 32 ASCII letters and digits, optionally ending in a check \
                    character in parentheses, e.g. 11010519491231002X, 110105491231002, \
                    H1234567(8), A123456789";
    if text.chars().count() > MAX_CHARS {
        return Err(describe.into());
    }
    let body = match text.strip_suffix(')') {
        Some(rest) => match rest.char_indices().rev().nth(1) {
            Some((open, '(')) if rest[open + 1..].chars().all(|c| c.is_ascii_alphanumeric()) => {
                &rest[..open]
            }
            _ => return Err(describe.into()),
        },
        None => text,
    };
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(describe.into());
    }
    let normalised = match text.strip_suffix('x') {
        Some(rest) if IdNumberKind::of(&format!("{rest}X")) == IdNumberKind::ResidentCard => {
            format!("{rest}X")
        }
        _ => text.to_owned(),
    };
    PersonalText::parse(&normalised)
}

/// The words that introduce an extension, longest first so `ext.` is not read as `ext`.
pub(crate) const EXTENSION_MARKS: [&str; 6] = ["分机", "ext.", "ext", "转", "x", "#"];

/// Splits a phone number into the number and its extension mark and digits, if any.
pub(crate) fn split_extension(text: &str) -> (&str, Option<(&str, &str)>) {
    let lower = text.to_ascii_lowercase();
    for mark in EXTENSION_MARKS {
        if let Some(at) = lower.find(mark) {
            let number = &text[..at];
            let extension = &text[at + mark.len()..];
            return (number, Some((&text[at..at + mark.len()], extension)));
        }
    }
    (text, None)
}

/// Parses a phone number: digits with optional `+`, `-`, spaces and parentheses, at least
/// five digits, optionally followed by an extension (`转 123`, `ext. 123`, `x123`, `#123`, `分机
/// 123`) of 1 to 6 digits; at most 32 characters.
pub fn parse_phone(text: &str) -> Result<PersonalText, String> {
    let text = text.trim();
    let describe = "must be at most 32 characters: digits with optional `+`, `-`, spaces and \
                    parentheses, optionally followed by an extension after 转, 分机, ext, x or #, \
                    e.g. 13812345678, +86 138 1234 5678, 022-23456789 转 123";
    if text.chars().count() > MAX_CHARS {
        return Err(describe.into());
    }
    let (number, extension) = split_extension(text);
    let number_ok = number
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        && number.chars().filter(char::is_ascii_digit).count() >= 5;
    let extension_ok = extension.is_none_or(|(_, digits)| {
        let digits = digits.trim();
        (1..=6).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !number_ok || !extension_ok {
        return Err(describe.into());
    }
    PersonalText::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_cards_of_18_and_15_characters_are_accepted() {
        for good in [
            "11010519491231002X",
            "110105194912310021",
            "110105491231002",
        ] {
            assert_eq!(parse_id_number(good).unwrap().as_str(), good);
            assert_eq!(IdNumberKind::of(good), IdNumberKind::ResidentCard, "{good}");
        }
    }

    #[test]
    fn a_lowercase_x_ending_a_resident_card_is_written_uppercase() {
        assert_eq!(
            parse_id_number("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn hong_kong_macau_taiwan_ids_and_passports_are_accepted() {
        for good in [
            "H1234567(8)",
            "A123456(7)",
            "AB123456(A)",
            "1234567(8)",
            "A123456789",
            "E12345678",
            "H12345678",
        ] {
            assert_eq!(parse_id_number(good).unwrap().as_str(), good);
            assert_eq!(IdNumberKind::of(good), IdNumberKind::Other, "{good}");
        }
    }

    #[test]
    fn an_id_number_with_other_punctuation_or_a_stray_parenthesis_is_refused() {
        for bad in [
            "H1234567(88)",
            "H1234567(8",
            "(8)",
            "H123-4567",
            "H1234567()",
            "张三",
            &"1".repeat(33),
        ] {
            assert!(parse_id_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_with_extensions_and_international_forms_are_accepted() {
        for good in [
            "13812345678",
            "+86 138 1234 5678",
            "022-23456789",
            "(022)23456789",
            "022-23456789 转 123",
            "022-23456789转123",
            "022-23456789 ext. 12",
            "022-23456789 x12",
            "022-23456789#8001",
            "022-23456789 分机 123",
        ] {
            assert_eq!(parse_phone(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn phones_with_letters_empty_or_long_extensions_are_refused() {
        for bad in [
            "138abc45678",
            "022-23456789 转",
            "022-23456789 转 1234567",
            "1234",
            "022-23456789 转 12a",
            &"1".repeat(33),
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }
}
