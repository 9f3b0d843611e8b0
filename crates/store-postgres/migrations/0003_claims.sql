-- Keys claimed once until a time (a token assertion's jti): the first insert wins, and a
-- claim past its time is deleted before the next claim is tried. Shared by every instance
-- on this database, so an assertion replayed at another instance is refused too.
CREATE TABLE claims (
    key TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX claims_until ON claims (until);
