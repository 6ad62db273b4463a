-- gpucost warehouse, schema version 3.
-- Billed vs computed cost per EC2 instance and UTC day (model sql/models/reconciliation.sql).
create table reconciliation (
    day                  timestamp not null,
    instance_id          varchar,             -- null: a node without an EC2 instance id
    node                 varchar,             -- null: billed, never seen in telemetry
    instance_type        varchar,
    billed_hours         double,
    billed_cost_usd      double,              -- FOCUS BilledCost
    effective_cost_usd   double,              -- FOCUS EffectiveCost (amortised)
    computed_hours       double,
    computed_cost_usd    double,              -- what asset_costs charged for the node that day
    difference_usd       double not null,     -- effective - computed
    explanation          varchar not null
);
