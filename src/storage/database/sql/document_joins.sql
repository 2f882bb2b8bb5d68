JOIN customers o ON o.account_number = d.account_number
             JOIN document_versions v
               ON v.document_id = d.document_id AND v.version = d.current_version
             JOIN document_types t ON t.code = v.document_type