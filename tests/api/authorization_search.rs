//! The authorisation matrix of SearchService: every role of the policy × a document inside
//! and outside its scope at each confidentiality level, searched for by its type; and every
//! role × the customer filters, plain and personal; and GetStatistics counting those documents.

use custodian::domain::{Confidentiality, Permission};
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{Caller, Expect, Matrix, account, listed, outcome, type_of, world};

/// A search needs read-documents; then it finds exactly what the caller may read and leaves
/// out the rest without a word (no NOT_FOUND: a search names no document).
fn search_expectation(caller: &Caller, inside: bool, level: Confidentiality) -> Expect {
    if !caller.can(Permission::ReadDocuments) {
        Expect::Refused(Code::PermissionDenied)
    } else if caller.reaches(inside) && caller.sees(level) {
        Expect::Allowed
    } else {
        Expect::Hidden
    }
}

#[tokio::test]
async fn every_role_finds_exactly_what_the_policy_lets_it_read() {
    let world = world().await;
    let mut matrix = Matrix::default();
    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for (inside, documents) in [(true, &world.documents[1]), (false, &world.documents[0])] {
            for (level, name) in Confidentiality::ALL.into_iter().zip(documents) {
                let found = outcome(
                    c.search
                        .search_documents(pb::SearchDocumentsRequest {
                            document_types: vec![type_of(level).into()],
                            page_size: 1000,
                            ..Default::default()
                        })
                        .await,
                )
                .map(|reply| reply.into_inner().documents.iter().any(|d| &d.name == name));
                let expected = search_expectation(caller, inside, level);
                matrix.cell(
                    "SearchDocuments",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    listed(found),
                );
            }
        }
    }
    matrix.assert_matches_policy(9 * 6);
}

/// Whether a customer filter is refused, searched within limits, or searched in full.
#[derive(Clone, Copy)]
enum Filter {
    /// The account number prefix: anyone who reads customers.
    Plain,
    /// A name: households only with search-personal-data, businesses for everyone.
    Name,
    /// ID number, phone, address: refused without search-personal-data.
    Personal,
}

/// What a customer search must answer `caller` about the (residential) account inside or
/// outside its scope.
fn customer_expectation(caller: &Caller, filter: Filter, inside: bool) -> Expect {
    let personal = caller.can(Permission::SearchPersonalData);
    if !caller.can(Permission::ReadCustomers) {
        Expect::Refused(Code::PermissionDenied)
    } else {
        match filter {
            Filter::Personal if !personal => Expect::Refused(Code::PermissionDenied),
            // The matrix's customers have no ID number on file: found by nobody.
            Filter::Personal => Expect::Hidden,
            Filter::Name if !personal => Expect::Hidden,
            _ if caller.reaches(inside) => Expect::Allowed,
            _ => Expect::Hidden,
        }
    }
}

#[tokio::test]
async fn every_role_searches_customers_as_the_policy_grants() {
    let world = world().await;
    let mut matrix = Matrix::default();
    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let number = account(inside);
            // The matrix's customers are households named "Customer {account}".
            let filters = [
                (
                    "account prefix",
                    Filter::Plain,
                    pb::SearchCustomersRequest {
                        account_number_prefix: number[..6].into(),
                        ..Default::default()
                    },
                ),
                (
                    "household name",
                    Filter::Name,
                    pb::SearchCustomersRequest {
                        name: format!("Customer {number}"),
                        ..Default::default()
                    },
                ),
                (
                    "id number",
                    Filter::Personal,
                    pb::SearchCustomersRequest {
                        id_number: "11010519491231002X".into(),
                        ..Default::default()
                    },
                ),
            ];
            for (what, filter, request) in filters {
                let found = outcome(c.search.search_customers(request).await).map(|reply| {
                    reply.into_inner().customers.iter().any(|m| {
                        m.customer
                            .as_ref()
                            .is_some_and(|c| c.account_number == number)
                    })
                });
                let expected = customer_expectation(caller, filter, inside);
                matrix.cell(
                    &format!("SearchCustomers({what})"),
                    caller,
                    inside,
                    None,
                    expected,
                    listed(found),
                );
            }
        }
    }
    matrix.assert_matches_policy(9 * 6);
}

#[tokio::test]
async fn every_role_counts_exactly_what_the_policy_lets_it_read() {
    let world = world().await;
    let mut matrix = Matrix::default();
    for caller in &world.callers {
        let mut c = caller.clients.clone();
        let reply = outcome(
            c.statistics
                .get_statistics(pb::GetStatisticsRequest {
                    by_document_type: true,
                    ..Default::default()
                })
                .await,
        );
        for inside in [true, false] {
            let unit = if inside { "120101" } else { "130101" };
            for level in Confidentiality::ALL {
                let counted = reply.as_ref().map_err(|code| *code).map(|reply| {
                    reply.get_ref().documents.iter().any(|d| {
                        d.org_unit == unit && d.document_type == type_of(level) && d.documents == 1
                    })
                });
                let expected = if !caller.can(Permission::RunReports) {
                    Expect::Refused(Code::PermissionDenied)
                } else if caller.reaches(inside) && caller.sees(level) {
                    Expect::Allowed
                } else {
                    Expect::Hidden
                };
                matrix.cell(
                    "GetStatistics",
                    caller,
                    inside,
                    Some(level),
                    expected,
                    listed(counted),
                );
            }
        }
    }
    matrix.assert_matches_policy(9 * 6);
}
