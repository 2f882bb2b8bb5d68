SELECT d.document_id, d.account_number, d.source_system, d.client_request_id,
                    d.filed_at, d.original_at, d.legacy_reference, d.legacy_system,
                    v.version, v.document_type, v.business_process,
                    v.work_order_number, v.title, v.page_count, v.size_bytes, t.confidentiality,
                    d.current_version,
                    d.customer_revision, v.created_at AS version_created_at, d.destroyed_at,
                    d.destruction_list_id, o.org_unit_code