//! The document type catalog is seeded and listed.

use custodian::proto::v1 as pb;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_catalog_lists_the_standard_types_with_retention_and_personal_data() {
    let mut app = spawn_app().await;
    let types = app
        .document_types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .unwrap()
        .into_inner()
        .document_types;

    let codes: Vec<&str> = types.iter().map(|t| t.code.as_str()).collect();
    for expected in [
        "application-form",
        "identity-proof",
        "business-licence",
        "supply-contract",
        "inspection-work-order",
        "notice",
        "tariff-change-record",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "the catalog is in code order");

    let identity = types.iter().find(|t| t.code == "identity-proof").unwrap();
    assert_eq!(identity.name, "documentTypes/identity-proof");
    assert_eq!(identity.chinese_name, "有效身份证明");
    assert!(identity.contains_personal_data);
    let contract = types.iter().find(|t| t.code == "supply-contract").unwrap();
    assert_eq!(contract.retention_class(), pb::RetentionClass::Permanent);
    let inspection = types
        .iter()
        .find(|t| t.code == "inspection-work-order")
        .unwrap();
    assert_eq!(inspection.retention_class(), pb::RetentionClass::TenYears);
    assert!(!inspection.contains_personal_data);
}
