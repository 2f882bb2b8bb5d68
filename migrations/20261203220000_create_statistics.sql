-- Statistics (统计) without scanning the documents: rollups kept in the transaction of every
-- change that moves them.
--
-- document_statistics is the exact aggregate of document_index (itself kept by the triggers
-- of `create_document_index`): a trigger on the index adds each row it gains and subtracts
-- each it loses, so a filing, a correction retyping a document, a destruction and a customer
-- moving unit, changing class or closing all move the counts in their own transaction.
-- Months are calendar months in China Standard Time (Asia/Shanghai), as reports are made.
--
-- `shard` spreads one busy key (a county's application forms this month) over 8 rows, so
-- concurrent filings do not queue on one row lock at commit; readers sum over shards.
CREATE TABLE document_statistics (
    org_unit_code    text COLLATE "C" NOT NULL,
    document_type    text NOT NULL,
    business_process text NOT NULL,
    month            date NOT NULL,
    customer_class   text NOT NULL,
    customer_status  text NOT NULL,
    shard            smallint NOT NULL,
    documents        bigint NOT NULL,
    pages            bigint NOT NULL,
    bytes            bigint NOT NULL,
    PRIMARY KEY (org_unit_code, month, document_type, business_process, customer_class,
                 customer_status, shard)
);

-- Archives (one per account) per unit, class and status, kept by a trigger on customers.
CREATE TABLE archive_statistics (
    org_unit_code   text COLLATE "C" NOT NULL,
    customer_class  text NOT NULL,
    customer_status text NOT NULL,
    archives        bigint NOT NULL,
    PRIMARY KEY (org_unit_code, customer_class, customer_status)
);

CREATE FUNCTION statistics_month(at timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_trunc('month', at AT TIME ZONE 'Asia/Shanghai')::date
$$;

CREATE FUNCTION statistics_add_document(r document_index, sign integer) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO document_statistics AS s VALUES (
        r.org_unit_code, r.document_type, r.business_process, statistics_month(r.filed_at),
        r.customer_class, r.customer_status, abs(hashtext(r.document_id::text)) % 8,
        sign, sign * r.page_count, sign * r.size_bytes)
    ON CONFLICT (org_unit_code, month, document_type, business_process, customer_class,
                 customer_status, shard)
    DO UPDATE SET documents = s.documents + EXCLUDED.documents,
                  pages = s.pages + EXCLUDED.pages,
                  bytes = s.bytes + EXCLUDED.bytes
$$;

CREATE FUNCTION statistics_on_document_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM statistics_add_document(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM statistics_add_document(NEW, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER statistics_document_index AFTER INSERT OR UPDATE OR DELETE ON document_index
    FOR EACH ROW EXECUTE FUNCTION statistics_on_document_index();

CREATE FUNCTION statistics_add_archive(unit text, class text, status text, sign integer)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO archive_statistics AS s VALUES (unit, class, status, sign)
    ON CONFLICT (org_unit_code, customer_class, customer_status)
    DO UPDATE SET archives = s.archives + EXCLUDED.archives
$$;

CREATE FUNCTION statistics_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.org_unit_code, NEW.customer_class, NEW.status)
       IS NOT DISTINCT FROM (OLD.org_unit_code, OLD.customer_class, OLD.status) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM statistics_add_archive(OLD.org_unit_code, OLD.customer_class, OLD.status, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM statistics_add_archive(NEW.org_unit_code, NEW.customer_class, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER statistics_customers AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION statistics_on_customer();

-- What was there before this migration.
INSERT INTO document_statistics
SELECT org_unit_code, document_type, business_process, statistics_month(filed_at),
       customer_class, customer_status, abs(hashtext(document_id::text)) % 8,
       count(*), sum(page_count), sum(size_bytes)
  FROM document_index
 GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO archive_statistics
SELECT org_unit_code, customer_class, status, count(*)
  FROM customers
 GROUP BY 1, 2, 3;
