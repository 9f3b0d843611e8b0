-- The audit log: one narrow row per audited request, appended in `seq` order (the rowid),
-- instead of an AuditEvent resource with its versions and a dozen index rows. A read's
-- audit entry costs four b-tree inserts (the row, and the entity, who and recorded
-- indexes) instead of about twenty-two.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    recorded INTEGER NOT NULL,
    interaction TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    who TEXT NOT NULL,
    certificate TEXT,
    status INTEGER NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity);
CREATE INDEX audit_log_who ON audit_log (who);
CREATE INDEX audit_log_recorded ON audit_log (recorded);

-- AuditEvents stored as resources by earlier versions move into the log, oldest first.
INSERT INTO audit_log (recorded, interaction, action, entity, who, certificate, status)
    SELECT r.last_updated,
           coalesce(json_extract(v.body, '$.subtype[0].code'), 'unknown'),
           coalesce(json_extract(v.body, '$.action'), 'E'),
           coalesce(json_extract(v.body, '$.entity[0].what.reference'), ''),
           coalesce(json_extract(v.body, '$.agent[0].who.identifier.value'), 'anonymous'),
           substr(json_extract(v.body, '$.agent[0].altId'), 13),
           coalesce(CAST(substr(json_extract(v.body, '$.outcomeDesc'), 6) AS INTEGER), 0)
    FROM resources r
    JOIN resource_versions v ON v.ty = r.ty AND v.id = r.id AND v.version = r.version
    WHERE r.ty = 'AuditEvent' AND NOT r.deleted
    ORDER BY r.last_updated, r.id;
DELETE FROM search_index WHERE ty = 'AuditEvent';
DELETE FROM resource_versions WHERE ty = 'AuditEvent';
DELETE FROM resources WHERE ty = 'AuditEvent';
