-- The personal data of an account holder. It is returned masked unless the caller's role may
-- see it in full (see the policy); NULL when not recorded.
ALTER TABLE customers
    ADD COLUMN id_number text CHECK (length(id_number) BETWEEN 1 AND 32),
    ADD COLUMN phone     text CHECK (length(phone) BETWEEN 1 AND 32),
    ADD COLUMN address   text CHECK (length(address) BETWEEN 1 AND 300);
