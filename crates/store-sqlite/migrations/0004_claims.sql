-- Keys claimed once until a time (a token assertion's jti): the first insert wins, and a
-- claim past its time is deleted before the next claim is tried.
CREATE TABLE claims (
    key TEXT PRIMARY KEY NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX claims_until ON claims (until);
