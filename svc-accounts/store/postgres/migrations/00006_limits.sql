-- +goose Up
-- Limits, not plans: the instance keeps one row of default limits (written
-- from the accounts.default-plan.* flags at start until an operator edits
-- them), and an organisation follows it unless an operator gave it its own
-- limits (limits_custom; its plan columns then hold them). Existing
-- organisations follow the instance defaults from here on: their columns
-- were copies of the flags at their creation. 0 means unlimited.
CREATE TABLE instance_limits (
    id                 smallint PRIMARY KEY CHECK (id = 1),
    plan_name          text NOT NULL,
    sessions_per_day   bigint NOT NULL,
    max_retention_days integer NOT NULL,
    max_seats          integer NOT NULL,
    max_sites          integer NOT NULL,
    set_by_operator    boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL
);
ALTER TABLE organizations ADD COLUMN limits_custom boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE organizations DROP COLUMN limits_custom;
DROP TABLE instance_limits;
