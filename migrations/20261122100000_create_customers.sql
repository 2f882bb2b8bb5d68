-- Customers: one row per account, the owner of one archive (一户一档).
-- The account number is the natural key every calling system knows, so it is the primary key.
CREATE TABLE customers (
    account_number text PRIMARY KEY CHECK (account_number ~ '^[0-9]{8,16}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    customer_class text NOT NULL CHECK (customer_class IN ('residential', 'non_residential')),
    -- Hierarchical: every level adds two digits to its parent's code (province > city > county).
    org_unit_code  text NOT NULL CHECK (org_unit_code ~ '^([0-9]{2}){1,6}$'),
    status         text NOT NULL CHECK (status IN ('active', 'closed')),
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now()
);

-- Listing an org unit's subtree is a prefix match on the code.
CREATE INDEX customers_org_unit_code_idx ON customers (org_unit_code text_pattern_ops, account_number);
