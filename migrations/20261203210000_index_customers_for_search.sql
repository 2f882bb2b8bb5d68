-- Indexes for SearchCustomers.
--
-- Name and address substrings: a GIN index over each text's character bigrams (every two
-- adjacent characters, lowercased). A query's bigrams must all be present, then the text is
-- checked for the whole substring. Bigrams rather than pg_trgm's trigrams: Chinese names are
-- mostly two or three characters (张三), a trigram index cannot serve a two-character query,
-- and pg_trgm takes CJK characters for word characters only under a UTF-8 locale, which the
-- database may not have. So a query needs at least two characters, and nothing depends on the
-- collation or on an extension.
CREATE FUNCTION search_bigrams(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower($1), i, 2)), '{}')
      FROM generate_series(1, char_length($1) - 1) AS i
$$;

CREATE INDEX customers_name_bigrams_idx ON customers USING gin (search_bigrams(display_name));
CREATE INDEX customers_address_bigrams_idx ON customers USING gin (search_bigrams(address))
    WHERE address IS NOT NULL;

-- Account number prefixes: a bytewise range, whatever the database's collation.
CREATE INDEX customers_account_prefix_idx ON customers ((account_number COLLATE "C"));

-- The blind index of ID numbers and phones: a keyed hash (HMAC-SHA256 with the server's
-- `auth.identifier_key`) of each normalised value, per revision of the account, so that the
-- current and the former holders can be found by an exact value while the database holds no
-- searchable list of them: without the key, a dump's digests cannot be tested against
-- guesses. `key_id` names the key (a keyed hash of a constant): rows of another key are
-- rewritten by the backfill at startup, which also covers every row written before this
-- migration or while no key was configured (a migration cannot: it has no key).
CREATE TABLE customer_identifier_digests (
    account_number text NOT NULL,
    revision       integer NOT NULL,
    field          text NOT NULL CHECK (field IN ('id_number', 'phone')),
    digest         bytea NOT NULL CHECK (length(digest) = 32),
    key_id         bytea NOT NULL CHECK (length(key_id) = 8),
    PRIMARY KEY (account_number, revision, field),
    FOREIGN KEY (account_number, revision) REFERENCES customer_revisions (account_number, revision)
);

CREATE INDEX customer_identifier_digests_lookup_idx
    ON customer_identifier_digests (field, digest);
