-- 0003: orders of a group (the SMS router, owner "@sms"), one row each, so a change to
-- one order writes one row instead of every order. ended (unix ns, NULL while in
-- progress) is indexed for pruning by age.
CREATE TABLE orders (
    owner   TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    ended   INTEGER,
    data    BLOB    NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
) WITHOUT ROWID;
CREATE INDEX orders_by_ended ON orders (owner, ended);
