SELECT d.document_id, d.account_number, d.source_system, d.client_request_id,
                    d.filed_at, d.original_at, d.legacy_reference, d.legacy_system,
                    v.version, v.document_type, v.business_process,
                    v.work_order_number, v.title, v.page_count, v.size_bytes, t.confidentiality,
                    d.current_version,
                    d.customer_revision, v.created_at AS version_created_at, d.destroyed_at,
                    d.destruction_list_id, o.org_unit_code, p.page_numbers, p.media_types,
                    p.page_sizes, p.page_digests, p.rendition_states, p.rendition_failures,
                    p.scan_warnings, p.blanks
             FROM documents d
             JOIN customers o ON o.account_number = d.account_number
             JOIN document_versions v
               ON v.document_id = d.document_id AND v.version = d.current_version
             JOIN document_types t ON t.code = v.document_type
             CROSS JOIN LATERAL (
                 SELECT coalesce(array_agg(pp.page_number ORDER BY pp.page_number), '{}')
                            AS page_numbers,
                        coalesce(array_agg(c.media_type ORDER BY pp.page_number), '{}')
                            AS media_types,
                        coalesce(array_agg(c.size_bytes ORDER BY pp.page_number), '{}')
                            AS page_sizes,
                        coalesce(array_agg(c.sha256 ORDER BY pp.page_number), '{}')
                            AS page_digests,
                        coalesce(array_agg(c.rendition_state ORDER BY pp.page_number), '{}')
                            AS rendition_states,
                        coalesce(array_agg(c.rendition_failure ORDER BY pp.page_number), '{}')
                            AS rendition_failures,
                        coalesce(array_agg(array_to_string(pp.scan_warnings, E'\x1f')
                                           ORDER BY pp.page_number), '{}') AS scan_warnings,
                        coalesce(array_agg(c.blank ORDER BY pp.page_number), '{}') AS blanks
                 FROM pages pp
                 JOIN page_contents c ON c.sha256 = pp.sha256
                 WHERE pp.document_id = d.document_id AND pp.version = d.current_version
             ) p