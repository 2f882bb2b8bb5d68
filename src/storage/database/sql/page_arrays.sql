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