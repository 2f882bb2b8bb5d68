//! Page links: SignPageUrls under ReadPage's rules, and the URLs fetched with a plain HTTP
//! client as a browser would — from Custodian's own listener and presigned by the S3 store.

use std::time::Duration;

use custodian::links::{PageLinkMode, PageLinkSettings};
use custodian::proto::v1 as pb;
use reqwest::StatusCode;
use reqwest::header;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, eventually, filing, header as filing_header, jpeg_page, png_page,
    sha256_hex, spawn_app, spawn_app_with,
};

const ACCOUNT: &str = "1201000088";

async fn two_pages(app: &mut TestApp) -> (pb::Document, [Vec<u8>; 2]) {
    app.create_customer(ACCOUNT).await;
    let pages = [jpeg_page(70_000, 1), png_page(5_000, 2)];
    let document = app
        .file(filing(filing_header(ACCOUNT, "linked"), &pages, 16 * 1024))
        .await
        .unwrap();
    (document, pages)
}

pub(crate) fn request(name: &str, pages: &[i32], lifetime_seconds: i32) -> pb::SignPageUrlsRequest {
    pb::SignPageUrlsRequest {
        name: name.into(),
        version: 0,
        page_numbers: pages.to_vec(),
        lifetime_seconds,
        rendition: pb::Rendition::Original.into(),
    }
}

pub(crate) async fn sign(
    app: &TestApp,
    token: &Token,
    request: pb::SignPageUrlsRequest,
) -> Result<Vec<pb::PageUrl>, tonic::Status> {
    app.clients_as(token)
        .pages
        .sign_page_urls(request)
        .await
        .map(|r| r.into_inner().urls)
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_served_url_returns_the_exact_bytes_with_length_etag_ranges_and_caching() {
    let mut app = spawn_app().await;
    let (document, pages) = two_pages(&mut app).await;
    let urls = sign(&app, &Token::custodian(), request(&document.name, &[], 0))
        .await
        .unwrap();
    assert_eq!(urls.len(), 2);
    let listener = app.page_links_address.unwrap();
    for (url, bytes) in urls.iter().zip(&pages) {
        assert!(
            url.url.starts_with(&format!("http://{listener}/v1/pages/")),
            "{}",
            url.url
        );
        let page = url.page.as_ref().unwrap();
        let response = http().get(&url.url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            bytes.len().to_string().as_str()
        );
        assert_eq!(headers[header::CONTENT_TYPE], page.media_type.as_str());
        assert_eq!(
            headers[header::ETAG],
            format!("\"{}\"", sha256_hex(bytes)).as_str()
        );
        assert_eq!(page.sha256, sha256_hex(bytes));
        let caching = headers[header::CACHE_CONTROL].to_str().unwrap();
        assert!(
            caching.contains("immutable") && caching.contains("private"),
            "{caching}"
        );
        assert!(
            headers[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .contains("-p")
        );
        assert_eq!(&response.bytes().await.unwrap()[..], &bytes[..]);
    }

    // The second half of the first page, and its last 100 bytes.
    let first = &urls[0].url;
    let response = http()
        .get(first)
        .header(header::RANGE, "bytes=35000-")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()[header::CONTENT_RANGE],
        "bytes 35000-69999/70000"
    );
    assert_eq!(&response.bytes().await.unwrap()[..], &pages[0][35_000..]);
    let response = http()
        .get(first)
        .header(header::RANGE, "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], &pages[0][69_900..]);
    let response = http()
        .get(first)
        .header(header::RANGE, "bytes=70000-")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // A browser that has it already is told so.
    let etag = format!("\"{}\"", sha256_hex(&pages[0]));
    let response = http()
        .get(first)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = http().head(first).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "70000");
}

#[tokio::test]
async fn a_url_cannot_be_widened_and_an_expired_one_says_so() {
    let mut app = spawn_app().await;
    let (document, pages) = two_pages(&mut app).await;
    let urls = sign(&app, &Token::custodian(), request(&document.name, &[1], 60))
        .await
        .unwrap();
    let url = &urls[0].url;
    let other_page = sha256_hex(&pages[1]);
    let first_page = sha256_hex(&pages[0]);
    let expires = url
        .split("expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let later = (expires.parse::<i64>().unwrap() + 86_400).to_string();
    let signature = url.split("signature=").nth(1).unwrap().to_owned();
    for tampered in [
        url.replace(&first_page, &other_page),
        url.replace("size=70000", "size=5000"),
        url.replace("image%2Fjpeg", "image%2Fpng"),
        url.replace(&format!("expires={expires}"), &format!("expires={later}")),
        url.replace(&signature, &format!("A{}", &signature[1..])),
        url.replace(&format!("&signature={signature}"), ""),
    ] {
        assert_ne!(&tampered, url);
        let response = http().get(&tampered).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{tampered}");
        let body = response.text().await.unwrap();
        assert!(body.contains("page link"), "{body}");
    }

    let short = sign(&app, &Token::custodian(), request(&document.name, &[2], 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = http().get(&short[0].url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.unwrap();
    assert!(body.contains("expired at"), "{body}");
}

#[tokio::test]
async fn only_a_caller_who_may_read_the_page_gets_a_url_and_each_issuance_is_recorded() {
    let mut app = spawn_app().await;
    let (document, _) = two_pages(&mut app).await;
    // No read-pages: the auditor reads metadata only.
    let status = sign(
        &app,
        &Token::new("archive-desk", "auditor", None),
        request(&document.name, &[], 0),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Another county's custodian does not see the document at all.
    let elsewhere = Token::new("archive-desk", "province-custodian", Some("13"));
    let status = sign(&app, &elsewhere, request(&document.name, &[], 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = sign(&app, &Token::custodian(), request(&document.name, &[3], 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    for (bad, field) in [
        (request(&document.name, &[0], 0), "page_numbers"),
        (request(&document.name, &[], -5), "lifetime_seconds"),
        (request("customers/1/documents/x", &[], 0), "name"),
    ] {
        let status = sign(&app, &Token::custodian(), bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().starts_with(field), "{}", status.message());
    }

    // Never longer than the server's maximum, nor than the token.
    let long_token = Token {
        expires_in: 3600,
        ..Token::custodian()
    };
    let long = sign(&app, &long_token, request(&document.name, &[1], 86_400))
        .await
        .unwrap();
    let lifetime = long[0].expire_time.unwrap().seconds - chrono::Utc::now().timestamp();
    assert!((890..=900).contains(&lifetime), "{lifetime}");
    let brief_token = Token {
        expires_in: 30,
        ..Token::custodian()
    };
    let capped = sign(&app, &brief_token, request(&document.name, &[1], 600))
        .await
        .unwrap();
    let lifetime = capped[0].expire_time.unwrap().seconds - chrono::Utc::now().timestamp();
    assert!(lifetime <= 30, "{lifetime}");

    let auditor = app.clients_as(&Token::custodian());
    eventually(
        Duration::from_secs(5),
        "the issuances to be recorded",
        || {
            let mut auditor = auditor.clone();
            async move {
                let events = auditor
                    .audit
                    .list_audit_events(pb::ListAuditEventsRequest {
                        account_number: ACCOUNT.into(),
                        action: "SignPageUrls".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                let issued = events.iter().filter(|e| e.outcome == "ok").count();
                let refused = events.iter().filter(|e| e.outcome != "ok").count();
                issued == 2
                    && refused >= 3
                    && events
                        .iter()
                        .any(|e| e.outcome == "ok" && e.details.contains("\"lifetime_secs\":900"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn without_page_links_configured_the_call_says_how_to_read_pages_instead() {
    let mut app = spawn_app_with(TestConfig {
        page_links: PageLinkSettings::default(),
        ..TestConfig::default()
    })
    .await;
    assert!(app.page_links_address.is_none());
    let (document, _) = two_pages(&mut app).await;
    let status = sign(&app, &Token::custodian(), request(&document.name, &[], 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("ReadPage"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_presigned_url_is_served_by_the_s3_store_with_the_type_set() {
    let mut app = spawn_app_with(TestConfig {
        page_links: PageLinkSettings {
            mode: PageLinkMode::Presigned,
            ..PageLinkSettings::default()
        },
        ..TestConfig::default()
    })
    .await;
    let (document, pages) = two_pages(&mut app).await;
    let urls = sign(
        &app,
        &Token::custodian(),
        request(&document.name, &[1, 2], 60),
    )
    .await
    .unwrap();
    for (url, bytes) in urls.iter().zip(&pages) {
        let response = http().get(&url.url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", url.url);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            url.page.as_ref().unwrap().media_type.as_str()
        );
        assert_eq!(&response.bytes().await.unwrap()[..], &bytes[..]);
        // The store checks its own signature: another object under it is refused.
        let other = url.url.replace(&sha256_hex(bytes)[..8], "00000000");
        let response = http().get(&other).send().await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
}
