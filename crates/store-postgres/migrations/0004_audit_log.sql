-- The audit log: one narrow row per audited request, appended in `seq` order, instead of an
-- AuditEvent resource with its versions and a dozen index rows.
CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    recorded BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT COLLATE "C" NOT NULL,
    who TEXT COLLATE "C" NOT NULL,
    certificate TEXT,
    status BIGINT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, seq);
CREATE INDEX audit_log_who ON audit_log (who, seq);
CREATE INDEX audit_log_recorded ON audit_log (recorded);

-- AuditEvents stored as resources by earlier versions move into the log, oldest first.
INSERT INTO audit_log (recorded, interaction, action, entity, who, certificate, status)
    SELECT r.last_updated,
           coalesce(v.body::jsonb #>> '{subtype,0,code}', 'unknown'),
           coalesce(v.body::jsonb ->> 'action', 'E'),
           coalesce(v.body::jsonb #>> '{entity,0,what,reference}', ''),
           coalesce(v.body::jsonb #>> '{agent,0,who,identifier,value}', 'anonymous'),
           substr(v.body::jsonb #>> '{agent,0,altId}', 13),
           coalesce(substr(v.body::jsonb ->> 'outcomeDesc', 6)::bigint, 0)
    FROM resources r
    JOIN resource_versions v ON v.ty = r.ty AND v.id = r.id AND v.version = r.version
    WHERE r.ty = 'AuditEvent' AND NOT r.deleted
    ORDER BY r.last_updated, r.id;
DELETE FROM search_index WHERE ty = 'AuditEvent';
DELETE FROM resource_versions WHERE ty = 'AuditEvent';
DELETE FROM resources WHERE ty = 'AuditEvent';
