//! CustomerService: opening and maintaining customer accounts.

use tonic::{Request, Response, Status};

use crate::domain::{
    AccountNumber, Archive, CustomerChanges, CustomerDisplayName, CustomerStatus, Error,
    NewCustomer, OrgUnitCode, PageRequest, PersonalText, parse_customer_name, parse_id_number,
    parse_phone,
};
use crate::grpc::convert::{
    customer_to_proto, optional, parse_class, parse_status, parse_timestamp, required,
};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct Customers {
    archive: Archive,
}

impl Customers {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::customer_service_server::CustomerService for Customers {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let actor = actor(&request)?;
        let customer = request
            .into_inner()
            .customer
            .ok_or_else(|| Error::invalid("customer", "is required"))?;
        let new = NewCustomer {
            account_number: required(
                "customer.account_number",
                &customer.account_number,
                AccountNumber::parse,
            )?,
            display_name: required(
                "customer.display_name",
                &customer.display_name,
                CustomerDisplayName::parse,
            )?,
            customer_class: parse_class("customer.customer_class", customer.customer_class)?
                .ok_or_else(|| Error::invalid("customer.customer_class", "is required"))?,
            org_unit_code: required(
                "customer.org_unit_code",
                &customer.org_unit_code,
                OrgUnitCode::parse,
            )?,
            status: parse_status("customer.status", customer.status)?
                .unwrap_or(CustomerStatus::Active),
            id_number: optional("customer.id_number", &customer.id_number, parse_id_number)?,
            phone: optional("customer.phone", &customer.phone, parse_phone)?,
            address: optional("customer.address", &customer.address, PersonalText::parse)?,
            opened_at: parse_timestamp("customer.open_time", customer.open_time)?,
            closed_at: parse_timestamp("customer.close_time", customer.close_time)?,
        };
        let customer = self.archive.create_customer(&actor, new).await?;
        Ok(Response::new(customer_to_proto(&customer)))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let actor = actor(&request)?;
        let account = parse_customer_name("name", &request.into_inner().name)?;
        let customer = self.archive.customer(&actor, &account).await?;
        Ok(Response::new(customer_to_proto(&customer)))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let customer = request
            .customer
            .ok_or_else(|| Error::invalid("customer", "is required"))?;
        let account = parse_customer_name("customer.name", &customer.name)?;
        let paths = request
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid(
                "update_mask",
                "is required: name the fields to change (display_name, customer_class, org_unit_code, status, id_number, phone, address)",
            )
            .into());
        }
        let mut changes = CustomerChanges::default();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    changes.display_name = Some(required(
                        "customer.display_name",
                        &customer.display_name,
                        CustomerDisplayName::parse,
                    )?);
                }
                "customer_class" => {
                    changes.customer_class = Some(
                        parse_class("customer.customer_class", customer.customer_class)?
                            .ok_or_else(|| {
                                Error::invalid("customer.customer_class", "must not be unspecified")
                            })?,
                    );
                }
                "org_unit_code" => {
                    changes.org_unit_code = Some(required(
                        "customer.org_unit_code",
                        &customer.org_unit_code,
                        OrgUnitCode::parse,
                    )?);
                }
                "status" => {
                    changes.status = Some(
                        parse_status("customer.status", customer.status)?.ok_or_else(|| {
                            Error::invalid("customer.status", "must not be unspecified")
                        })?,
                    );
                }
                "id_number" => {
                    changes.id_number = Some(required(
                        "customer.id_number",
                        &customer.id_number,
                        parse_id_number,
                    )?);
                }
                "phone" => {
                    changes.phone = Some(required("customer.phone", &customer.phone, parse_phone)?);
                }
                "address" => {
                    changes.address = Some(required(
                        "customer.address",
                        &customer.address,
                        PersonalText::parse,
                    )?);
                }
                other => {
                    return Err(Error::invalid(
                        "update_mask",
                        format!(
                            "{other:?} cannot be changed; allowed are display_name, customer_class, org_unit_code, status, id_number, phone, address"
                        ),
                    )
                    .into());
                }
            }
        }
        let customer = self
            .archive
            .update_customer(&actor, &account, changes)
            .await?;
        Ok(Response::new(customer_to_proto(&customer)))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let org_unit = optional("org_unit_code", &request.org_unit_code, OrgUnitCode::parse)?;
        let query = format!(
            "customers of {:?}",
            org_unit.as_ref().map(OrgUnitCode::as_str)
        );
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .list_customers(&actor, org_unit.as_ref(), page_request)
            .await?;
        Ok(Response::new(pb::ListCustomersResponse {
            next_page_token: page.next_page_token(&query),
            customers: page.items.iter().map(customer_to_proto).collect(),
        }))
    }

    async fn list_customer_revisions(
        &self,
        request: Request<pb::ListCustomerRevisionsRequest>,
    ) -> Result<Response<pb::ListCustomerRevisionsResponse>, Status> {
        super::customer_history::list_customer_revisions(&self.archive, request).await
    }

    async fn get_customer_revision(
        &self,
        request: Request<pb::GetCustomerRevisionRequest>,
    ) -> Result<Response<pb::CustomerRevision>, Status> {
        super::customer_history::get_customer_revision(&self.archive, request).await
    }
}
