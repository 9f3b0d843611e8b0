-- Searches probe a candidate's rows by (ty, param, value, id): the value index grows the id,
-- so a second search parameter is one index lookup per candidate, not a scan of its matches.
DROP INDEX search_index_value;
CREATE INDEX search_index_value ON search_index (ty, param, value, id);
