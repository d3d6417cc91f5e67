-- DataHub grid-area results (RSM-014 aggregations, RSM-019 wholesale) are keyed by process type
-- and settlement version: balance fixing (D04), wholesale fixing (D05) and each correction
-- settlement (D32 with D01/D02/D03) are different results. Series stored before this were keyed
-- without them; each moves, with all its readings, to the key of the process its attributes
-- name (the last document written to it) and gets the name people see. Series ids do not
-- change, so readings are not touched. The name follows datahub.SeriesName (a test checks).
UPDATE series SET
    key = json_extract(attrs, '$.process_type')
        || COALESCE(':' || NULLIF(json_extract(attrs, '$.settlement_version'), ''), '')
        || '/' || key,
    attrs = json_set(attrs, '$.name',
        CASE json_extract(attrs, '$.process_type')
            WHEN 'D03' THEN 'Preliminary aggregation'
            WHEN 'D04' THEN 'Balance fixing'
            WHEN 'D05' THEN 'Wholesale fixing'
            WHEN 'D32' THEN CASE COALESCE(json_extract(attrs, '$.settlement_version'), '')
                WHEN 'D01' THEN 'Wholesale fixing, 1st correction'
                WHEN 'D02' THEN 'Wholesale fixing, 2nd correction'
                WHEN 'D03' THEN 'Wholesale fixing, 3rd correction'
                ELSE 'Correction settlement' END
            WHEN 'E23' THEN 'Periodic metering'
            WHEN 'D42' THEN 'Periodic flex metering'
            WHEN 'E30' THEN 'Yearly metering'
            WHEN 'D24' THEN 'Reminder of missing measurements'
            WHEN 'E65' THEN 'Move-in'
            ELSE 'Process ' || json_extract(attrs, '$.process_type') END
        || CASE WHEN json_extract(attrs, '$.process_type') != 'D32'
                 AND COALESCE(json_extract(attrs, '$.settlement_version'), '') != ''
            THEN ', settlement version ' || json_extract(attrs, '$.settlement_version') ELSE '' END
        || CASE WHEN COALESCE(json_extract(attrs, '$.metering_point_type'), '') = '' THEN '' ELSE ' · '
            || CASE json_extract(attrs, '$.metering_point_type')
                WHEN 'E17' THEN 'consumption' WHEN 'E18' THEN 'production' WHEN 'E20' THEN 'exchange'
                ELSE 'type ' || json_extract(attrs, '$.metering_point_type') END
            || CASE COALESCE(json_extract(attrs, '$.settlement_method'), '')
                WHEN '' THEN '' WHEN 'E02' THEN ' (non-profiled)' WHEN 'D01' THEN ' (flex)' WHEN 'E01' THEN ' (profiled)'
                ELSE ' (' || json_extract(attrs, '$.settlement_method') || ')' END
            END
        || CASE WHEN COALESCE(json_extract(attrs, '$.charge_type'), '') = '' AND COALESCE(json_extract(attrs, '$.charge_code'), '') = ''
            THEN '' ELSE ' · '
            || CASE COALESCE(json_extract(attrs, '$.charge_type'), '')
                WHEN 'D01' THEN 'subscription' WHEN 'D02' THEN 'fee' WHEN 'D03' THEN 'tariff' ELSE 'charge' END
            || COALESCE(' ' || NULLIF(json_extract(attrs, '$.charge_code'), ''), '')
            END
        || COALESCE(' · supplier ' || NULLIF(json_extract(attrs, '$.energy_supplier'), ''), '')
        || COALESCE(' · BRP ' || NULLIF(json_extract(attrs, '$.balance_responsible'), ''), ''))
WHERE meter_id IN (SELECT id FROM meters WHERE key LIKE 'grid-area-%')
  AND COALESCE(json_extract(attrs, '$.process_type'), '') != '';
