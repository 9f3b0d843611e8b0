-- Searches read a parameter's rows in id order from (ty, param, value, id), and probe a
-- candidate's own rows through (ty, id, param): one index lookup per candidate, not a scan
-- of every match of every parameter.
DROP INDEX search_index_value;
CREATE INDEX search_index_value ON search_index (ty, param, value, id);
DROP INDEX search_index_owner;
CREATE INDEX search_index_owner ON search_index (ty, id, param);
