-- The standard catalog of a utility's customer archive (see DOMAIN.md). Contracts and the
-- papers that prove who the customer is are kept longest; routine notices shortest.
INSERT INTO document_types (code, display_name, chinese_name, retention_class, contains_personal_data) VALUES
    ('application-form',       'Application form',         '用电申请书',     '30_years',  true),
    ('identity-proof',         'Identity proof',           '有效身份证明',   '30_years',  true),
    ('business-licence',       'Business licence',         '营业执照',       '30_years',  false),
    ('supply-contract',        'Supply contract',          '供用电合同',     'permanent', true),
    ('inspection-work-order',  'Inspection work order',    '用电检查工作单', '10_years',  false),
    ('notice',                 'Notice',                   '通知书',         '10_years',  true),
    ('tariff-change-record',   'Tariff change record',     '电费变更',       '30_years',  false),
    ('meter-installation-record', 'Meter installation record', '计量装置装拆记录', '30_years', false),
    ('property-certificate',   'Property certificate',     '产权证明',       '30_years',  true),
    ('power-of-attorney',      'Power of attorney',        '授权委托书',     '30_years',  true);
