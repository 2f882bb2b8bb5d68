//! Bad input at volume through the transport's decoding: resource names, text fields, page
//! tokens, timestamps, versions and business processes. Every refusal must become a clean
//! INVALID_ARGUMENT that names its field (message and BadRequest detail) and stays short
//! whatever the input's length; whatever is accepted round-trips.

use proptest::prelude::*;
use prost_types::Timestamp;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

use super::convert::{parse_process, parse_timestamp, parse_version, process_to_proto, timestamp};
use super::error::MAX_REASON_BYTES;
use crate::domain::{
    AccountNumber, ClientRequestId, Cursor, CustomerDisplayName, DestructionListName,
    DocumentCursor, DocumentName, DocumentTypeCode, Error, LegalHoldName, OrgUnitCode, Page,
    PageName, PageRequest, PersonalText, SeqCursor, SourceSystem, Title, WorkOrderNumber,
    customer_name, parse_customer_name,
};
use crate::testing::proptest_config;

/// Checks that `error` is what a caller should get for a bad `field`.
pub(super) fn assert_clean_refusal(error: Error, field: &str) -> Result<(), TestCaseError> {
    let status = Status::from(error);
    prop_assert_eq!(status.code(), Code::InvalidArgument);
    let prefix = format!("{field}: ");
    prop_assert!(
        status.message().starts_with(&prefix),
        "{:?} does not name {field}",
        status.message()
    );
    // A reason echoing a megabyte of input would make trailers too large to deliver.
    prop_assert!(status.message().len() <= prefix.len() + MAX_REASON_BYTES);
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .expect("a BadRequest detail")
        .field_violations;
    prop_assert_eq!(violations.len(), 1);
    prop_assert_eq!(&violations[0].field, field);
    prop_assert!(violations[0].description.len() <= MAX_REASON_BYTES);
    Ok(())
}

/// Text of every kind a caller can send: anything, control and format characters, very long
/// strings, and near-misses of resource names.
pub(super) fn text() -> impl Strategy<Value = String> {
    let id = any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string());
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f\u{85}\u{200b}\u{202e}\u{2028}\u{feff}a-zA-Z0-9/._+-]{0,40}",
        prop::collection::vec(any::<char>(), 0..3000).prop_map(String::from_iter),
        (
            "[0-9]{0,20}",
            "[0-9a-zA-Z/+ -]{0,12}",
            id.clone(),
            "[-+0-9a-z ]{0,14}"
        )
            .prop_map(|(account, glue, id, number)| {
                format!("customers/{account}/documents/{id}{glue}/pages/{number}")
            }),
        (
            "(customers/|destructionLists/|)",
            "[0-9]{0,20}",
            "(/documents/|/legalHolds/|/)",
            id
        )
            .prop_map(|(collection, account, below, id)| format!(
                "{collection}{account}{below}{id}"
            )),
        // Long enough to pass any length check's count of bytes but not of characters.
        "[0-9]{0,3}".prop_map(|tail| "7".repeat(100_000) + &tail),
    ]
}

fn account() -> impl Strategy<Value = AccountNumber> {
    "[0-9]{8,16}".prop_map(|text| AccountNumber::parse(&text).unwrap())
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Parses `text` as the text fields of the API do, as `field`.
fn parse_text_field(field: &'static str, text: &str) -> Result<String, Error> {
    let invalid = |reason| Error::invalid(field, reason);
    Ok(match field {
        "account_number" => AccountNumber::parse(text).map_err(invalid)?.to_string(),
        "org_unit_code" => OrgUnitCode::parse(text).map_err(invalid)?.as_str().into(),
        "display_name" => CustomerDisplayName::parse(text)
            .map_err(invalid)?
            .as_str()
            .into(),
        "address" => PersonalText::parse(text).map_err(invalid)?.as_str().into(),
        "document_type" => DocumentTypeCode::parse(text).map_err(invalid)?.to_string(),
        "work_order_number" => WorkOrderNumber::parse(text).map_err(invalid)?.to_string(),
        "title" => Title::parse(text).map_err(invalid)?.to_string(),
        "source_system" => SourceSystem::parse(text).map_err(invalid)?.to_string(),
        "client_request_id" => ClientRequestId::parse(text).map_err(invalid)?.to_string(),
        _ => unreachable!(),
    })
}

const TEXT_FIELDS: [&str; 9] = [
    "account_number",
    "org_unit_code",
    "display_name",
    "address",
    "document_type",
    "work_order_number",
    "title",
    "source_system",
    "client_request_id",
];

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn proptest_resource_names_parse_to_what_they_print_or_refuse_cleanly(text in text()) {
        match parse_customer_name("name", &text) {
            Ok(account) => prop_assert_eq!(customer_name(&account), text.clone()),
            Err(error) => assert_clean_refusal(error, "name")?,
        }
        match DocumentName::parse("document", &text) {
            Ok(name) => prop_assert_eq!(DocumentName::parse("document", &name.to_string()).unwrap(), name),
            Err(error) => assert_clean_refusal(error, "document")?,
        }
        match PageName::parse("page", &text) {
            Ok(name) => {
                prop_assert!(name.page_number >= 1);
                prop_assert_eq!(PageName::parse("page", &name.to_string()).unwrap(), name);
            }
            Err(error) => assert_clean_refusal(error, "page")?,
        }
        match LegalHoldName::parse("hold", &text) {
            Ok(name) => prop_assert_eq!(LegalHoldName::parse("hold", &name.to_string()).unwrap(), name),
            Err(error) => assert_clean_refusal(error, "hold")?,
        }
        match DestructionListName::parse("list", &text) {
            Ok(name) => prop_assert_eq!(DestructionListName::parse("list", &name.to_string()).unwrap(), name),
            Err(error) => assert_clean_refusal(error, "list")?,
        }
    }

    #[test]
    fn proptest_well_formed_names_round_trip(
        account in account(),
        id in uuid(),
        page_number in 1u32..,
    ) {
        let document = DocumentName { account: account.clone(), document_id: id };
        prop_assert_eq!(parse_customer_name("n", &customer_name(&account)).unwrap(), account.clone());
        prop_assert_eq!(DocumentName::parse("n", &document.to_string()).unwrap(), document.clone());
        let page = PageName { document, page_number };
        prop_assert_eq!(PageName::parse("n", &page.to_string()).unwrap(), page);
        let hold = LegalHoldName { account, hold_id: id };
        prop_assert_eq!(LegalHoldName::parse("n", &hold.to_string()).unwrap(), hold);
        let list = DestructionListName(id);
        prop_assert_eq!(DestructionListName::parse("n", &list.to_string()).unwrap(), list);
    }

    #[test]
    fn proptest_text_fields_keep_what_they_accept_or_refuse_cleanly(
        field in prop::sample::select(&TEXT_FIELDS[..]),
        text in text(),
    ) {
        match parse_text_field(field, &text) {
            // Accepted text is kept as sent (or trimmed) and is accepted again as it is kept.
            Ok(kept) => {
                prop_assert!(text.contains(&kept));
                prop_assert_eq!(parse_text_field(field, &kept).unwrap(), kept.clone());
                prop_assert!(!kept.chars().any(char::is_control));
            }
            Err(error) => assert_clean_refusal(error, field)?,
        }
    }

    /// The protobuf Timestamp's own range: 0001-01-01 to 9999-12-31, nanos 0 to 999,999,999.
    #[test]
    fn proptest_timestamps_in_the_protobuf_range_round_trip_and_others_are_refused(
        seconds in prop_oneof![any::<i64>(), -62_135_596_800i64 - 5..=253_402_300_799 + 5],
        nanos in prop_oneof![any::<i32>(), -2..=1_000_000_001i32, 1_000_000_000..2_000_000_000i32],
    ) {
        let sent = Timestamp { seconds, nanos };
        let valid = (-62_135_596_800..=253_402_300_799).contains(&seconds)
            && (0..1_000_000_000).contains(&nanos);
        match parse_timestamp("after", Some(sent)) {
            Ok(time) => {
                prop_assert!(valid, "{sent:?} was accepted as {time:?}");
                prop_assert_eq!(timestamp(time.unwrap()), sent);
            }
            Err(error) => {
                prop_assert!(!valid, "{sent:?} was refused");
                assert_clean_refusal(error, "after")?;
            }
        }
    }

    #[test]
    fn proptest_versions_and_processes_decode_as_their_enums_say(value in any::<i32>()) {
        match parse_version("version", value) {
            Ok(None) => prop_assert_eq!(value, 0),
            Ok(Some(version)) => prop_assert_eq!(i64::from(version), i64::from(value)),
            Err(error) => {
                prop_assert!(value < 0);
                assert_clean_refusal(error, "version")?;
            }
        }
        match parse_process("business_process", value) {
            Ok(None) => prop_assert_eq!(value, 0),
            Ok(Some(process)) => prop_assert_eq!(i32::from(process_to_proto(process)), value),
            Err(error) => {
                prop_assert!(crate::proto::v1::BusinessProcess::try_from(value).is_err());
                assert_clean_refusal(error, "business_process")?;
            }
        }
    }

    #[test]
    fn proptest_page_sizes_default_cap_or_refuse(size in any::<i32>()) {
        match PageRequest::<SeqCursor>::parse(size, "", "q") {
            Ok(request) => {
                let expected = match size { 0 => 50, n => (n as usize).min(1000) };
                prop_assert_eq!(request.size, expected);
            }
            Err(error) => {
                prop_assert!(size < 0);
                assert_clean_refusal(error, "page_size")?;
            }
        }
    }

    /// A token works with its own query only; any other token text is refused cleanly.
    #[test]
    fn proptest_page_tokens_are_bound_to_their_query(
        query in any::<String>(),
        other in any::<String>(),
        micros in -8_210_266_876_800_000_000i64..=8_210_266_876_799_999_999,
        id in uuid(),
        garbage in text(),
    ) {
        let Some(filed_at) = chrono::DateTime::from_timestamp_micros(micros) else {
            return Ok(());
        };
        let cursor = DocumentCursor { filed_at, id };
        let page = Page { items: Vec::<()>::new(), next: Some(cursor.clone()) };
        let token = page.next_page_token(&query);
        let request = PageRequest::<DocumentCursor>::parse(10, &token, &query).unwrap();
        prop_assert_eq!(request.after, Some(cursor));
        if other != query {
            let error = PageRequest::<DocumentCursor>::parse(10, &token, &other).unwrap_err();
            assert_clean_refusal(error, "page_token")?;
        }
        if let Err(error) = PageRequest::<DocumentCursor>::parse(10, &garbage, &query) {
            assert_clean_refusal(error, "page_token")?;
        }
        if let Err(error) = PageRequest::<SeqCursor>::parse(10, &garbage, &query) {
            assert_clean_refusal(error, "page_token")?;
        }
    }

    /// Changing any character of a token's fingerprint (its first 21 base64 characters carry
    /// the 16 hex digits) makes it a token of no query.
    #[test]
    fn proptest_a_tampered_token_is_refused(
        query in any::<String>(),
        seq in any::<i64>(),
        position in 0usize..21,
        // Added to the character's place in the alphabet: never the same character again.
        shift in 1usize..64,
    ) {
        let token = Page { items: Vec::<()>::new(), next: Some(SeqCursor(seq)) }.next_page_token(&query);
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut tampered = token.clone().into_bytes();
        let place = ALPHABET.iter().position(|c| *c == tampered[position]).unwrap();
        tampered[position] = ALPHABET[(place + shift) % 64];
        let tampered = String::from_utf8(tampered).unwrap();
        let error = PageRequest::<SeqCursor>::parse(10, &tampered, &query).unwrap_err();
        assert_clean_refusal(error, "page_token")?;
        prop_assert_eq!(
            PageRequest::<SeqCursor>::parse(10, &token, &query).unwrap().after.map(|c| c.encode()),
            Some(seq.to_string())
        );
    }
}
