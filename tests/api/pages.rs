//! Reading pages: names that do not resolve, and documents of other archives.

use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{filing, header, jpeg_page, spawn_app};

#[tokio::test]
async fn pages_and_documents_that_do_not_exist_are_not_found() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    app.create_customer("1200000002").await;
    let document = app
        .file(filing(header("1200000001", "r"), &[jpeg_page(500, 1)], 500))
        .await
        .unwrap();

    let missing_page = format!("{}/pages/2", document.name);
    assert_eq!(
        app.read_page(&missing_page).await.unwrap_err().code(),
        Code::NotFound
    );

    // The same document id under another account's name does not resolve.
    let elsewhere = document.name.replace("1200000001", "1200000002");
    let status = app
        .documents
        .get_document(pb::GetDocumentRequest {
            name: elsewhere.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        app.read_page(&format!("{elsewhere}/pages/1"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let unknown = "customers/1200000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e";
    let status = app
        .documents
        .get_document(pb::GetDocumentRequest {
            name: unknown.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn malformed_page_and_document_names_are_invalid() {
    let mut app = spawn_app().await;
    let document = "customers/1200000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e";
    for name in [
        "".to_string(),
        format!("{document}/pages/0"),
        format!("{document}/pages/one"),
        "customers/1200000001/documents/42/pages/1".into(),
        "customers/12/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e/pages/1".into(),
    ] {
        assert_eq!(
            app.read_page(&name).await.unwrap_err().code(),
            Code::InvalidArgument,
            "{name}"
        );
    }
    let status = app
        .documents
        .get_document(pb::GetDocumentRequest {
            name: "documents/1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
