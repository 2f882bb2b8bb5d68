-- Completeness rules: which documents each business process requires, per customer class.
--
-- A rule is data, managed over the API (CompletenessService), so a province can tighten or
-- relax its requirements without a release. The key is (process, class, type): a class of
-- 'any' applies to both classes, and a rule for one class replaces the 'any' rule of the same
-- process and type for that class (see domain::completeness).
--
-- condition (a closed set, explained in proto/custodian/v1/completeness.proto):
--   always         required in every case; only the case's own documents count
--   on_file        required in every case; a document of the type anywhere in the archive counts
--   account_closed required only once the account is closed; only the case's documents count
CREATE TABLE completeness_rules (
    business_process text NOT NULL CHECK (business_process IN (
        'new_connection', 'capacity_increase', 'capacity_reduction', 'transfer', 'rename',
        'tariff_class_change', 'suspension', 'closure', 'inspection')),
    customer_class   text NOT NULL CHECK (customer_class IN ('residential', 'non_residential', 'any')),
    -- A rule may only name a type of the catalog; a type still named by a rule cannot be dropped.
    document_type    text NOT NULL REFERENCES document_types (code),
    min_count        integer NOT NULL CHECK (min_count BETWEEN 1 AND 100),
    condition        text NOT NULL DEFAULT 'always'
                     CHECK (condition IN ('always', 'on_file', 'account_closed')),
    update_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_process, customer_class, document_type)
);

-- The default rule set, from DOMAIN.md and the seed papers: a household's archive is "an
-- application form and the applicant's ID card"; a business's also holds its licence and the
-- supply contract; change-of-use processes (新装增容及变更用电) need the application form and
-- proof of identity; inspections file their work order.
INSERT INTO completeness_rules (business_process, customer_class, document_type, min_count, condition) VALUES
    -- 新装: the account's opening case, which every archive needs.
    ('new_connection',      'any',             'application-form',          1, 'always'),
    ('new_connection',      'any',             'identity-proof',            1, 'always'),
    ('new_connection',      'non_residential', 'business-licence',          1, 'always'),
    ('new_connection',      'non_residential', 'supply-contract',           1, 'always'),
    -- 增容: a new application and an amended contract; who the customer is is already on file.
    ('capacity_increase',   'any',             'application-form',          1, 'always'),
    ('capacity_increase',   'any',             'identity-proof',            1, 'on_file'),
    ('capacity_increase',   'non_residential', 'business-licence',          1, 'on_file'),
    ('capacity_increase',   'non_residential', 'supply-contract',           1, 'always'),
    -- 减容
    ('capacity_reduction',  'any',             'application-form',          1, 'always'),
    ('capacity_reduction',  'any',             'identity-proof',            1, 'on_file'),
    ('capacity_reduction',  'non_residential', 'supply-contract',           1, 'always'),
    -- 过户: the identity proofs of both the previous and the new holder, the new holder's
    -- proof of property, and for a business the new owner's licence and a new contract.
    ('transfer',            'any',             'application-form',          1, 'always'),
    ('transfer',            'any',             'identity-proof',            2, 'always'),
    ('transfer',            'any',             'property-certificate',      1, 'always'),
    ('transfer',            'non_residential', 'business-licence',          1, 'always'),
    ('transfer',            'non_residential', 'supply-contract',           1, 'always'),
    -- 更名: proof of the new name (a new ID card, or for a business its new licence).
    ('rename',              'any',             'application-form',          1, 'always'),
    ('rename',              'any',             'identity-proof',            1, 'always'),
    ('rename',              'non_residential', 'business-licence',          1, 'always'),
    -- 改类: the tariff change is recorded.
    ('tariff_class_change', 'any',             'application-form',          1, 'always'),
    ('tariff_class_change', 'any',             'tariff-change-record',      1, 'always'),
    -- 暂停
    ('suspension',          'any',             'application-form',          1, 'always'),
    ('suspension',          'any',             'identity-proof',            1, 'on_file'),
    -- 销户: the meter is removed; once the account is closed, the final settlement notice.
    ('closure',             'any',             'application-form',          1, 'always'),
    ('closure',             'any',             'identity-proof',            1, 'on_file'),
    ('closure',             'any',             'meter-installation-record', 1, 'always'),
    ('closure',             'any',             'notice',                    1, 'account_closed'),
    -- 用电检查
    ('inspection',          'any',             'inspection-work-order',     1, 'always');
