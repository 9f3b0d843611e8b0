-- Each index holds only the rows it can serve: date rows have no value, and only date rows
-- have a range. A write then updates two of the three indexes per row, not all three (a
-- referral message writes about 80 index rows). A comparison on `value` or `low` implies
-- it is not null, so SQLite still uses these indexes for every search that used them.
DROP INDEX search_index_value;
CREATE INDEX search_index_value ON search_index (ty, param, value, id) WHERE value IS NOT NULL;
DROP INDEX search_index_date;
CREATE INDEX search_index_date ON search_index (ty, param, low, high) WHERE low IS NOT NULL;
