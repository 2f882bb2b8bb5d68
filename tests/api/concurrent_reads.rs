//! Reads arriving together share database statements: each caller must still get exactly the
//! document it named, and nothing of another archive.

use custodian::proto::v1 as pb;
use futures::future::join_all;
use tonic::Code;

use crate::helpers::{filing, header, ignoring_renditions, jpeg_page, sha256_hex, spawn_app};

const ACCOUNTS: [&str; 2] = ["1200000001", "1200000002"];

#[tokio::test]
async fn many_concurrent_reads_each_get_the_document_they_named() {
    let mut app = spawn_app().await;
    let mut filed = Vec::new();
    let mut pages = Vec::new();
    for (a, account) in ACCOUNTS.iter().enumerate() {
        app.create_customer(account).await;
        for d in 0..4u64 {
            let page = jpeg_page(2_000 + d as usize, 10 * a as u64 + d);
            let header = pb::FilingHeader {
                title: format!("document {d} of {account}"),
                ..header(account, &format!("req-{a}-{d}"))
            };
            filed.push(
                app.file(filing(header, std::slice::from_ref(&page), 512))
                    .await
                    .unwrap(),
            );
            pages.push(page);
        }
    }

    // Each call names a document of its archive, a document of the other archive under the
    // wrong account, or an id that does not exist; all of them at once.
    let calls = (0..96).map(|i| {
        let mut documents = app.documents.clone();
        let document = &filed[i % filed.len()];
        let (name, expected) = match i % 3 {
            0 => (document.name.clone(), Some(document)),
            1 => {
                let other = ACCOUNTS
                    .iter()
                    .find(|account| !document.name.contains(*account))
                    .unwrap();
                let id = document.name.rsplit('/').next().unwrap();
                (format!("customers/{other}/documents/{id}"), None)
            }
            _ => (
                format!(
                    "customers/{}/documents/{}",
                    ACCOUNTS[0],
                    uuid::Uuid::new_v4()
                ),
                None,
            ),
        };
        async move {
            let answer = documents
                .get_document(pb::GetDocumentRequest {
                    name: name.clone(),
                    ..Default::default()
                })
                .await;
            (name, expected, answer)
        }
    });
    for (name, expected, answer) in join_all(calls).await {
        match (expected, answer) {
            (Some(expected), Ok(reply)) => assert_eq!(
                ignoring_renditions(reply.into_inner()),
                ignoring_renditions(expected.clone()),
                "{name}"
            ),
            (None, Err(status)) => assert_eq!(status.code(), Code::NotFound, "{name}: {status}"),
            (expected, answer) => panic!("{name}: expected {expected:?}, got {answer:?}"),
        }
    }

    // ReadPage finds its document the same way: every page's bytes come back whole.
    let reads = filed.iter().map(|document| {
        let mut app_pages = app.pages.clone();
        let name = format!("{}/pages/1", document.name);
        async move {
            let mut stream = app_pages
                .read_page(pb::ReadPageRequest {
                    name,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let mut bytes = Vec::new();
            while let Some(message) = stream.message().await.unwrap() {
                bytes.extend_from_slice(&message.chunk);
            }
            bytes
        }
    });
    let read = join_all(reads).await;
    for ((document, page), bytes) in filed.iter().zip(&pages).zip(read) {
        assert_eq!(sha256_hex(&bytes), sha256_hex(page), "{}", document.name);
    }
}
