-- Index rows are kept in their resource's order, (ty, id, param, n), in a table without a
-- rowid: the table is then itself the owner index, so each row a write adds goes into two
-- b-trees (the table and the value or date index) instead of three (a rowid table, the
-- owner index and the value or date index). A referral message writes about 85 rows.
CREATE TABLE search_index_by_owner (
    ty TEXT NOT NULL,
    id TEXT NOT NULL,
    param TEXT NOT NULL,
    n INTEGER NOT NULL,
    kind TEXT NOT NULL,
    system TEXT,
    value TEXT,
    low BIGINT,
    high BIGINT,
    PRIMARY KEY (ty, id, param, n)
) WITHOUT ROWID;
INSERT INTO search_index_by_owner (ty, id, param, n, kind, system, value, low, high)
    SELECT ty, id, param, row_number() OVER (PARTITION BY ty, id ORDER BY rowid),
           kind, system, value, low, high
    FROM search_index;
DROP TABLE search_index;
ALTER TABLE search_index_by_owner RENAME TO search_index;
CREATE INDEX search_index_value ON search_index (ty, param, value, id) WHERE value IS NOT NULL;
CREATE INDEX search_index_date ON search_index (ty, param, low, high) WHERE low IS NOT NULL;
