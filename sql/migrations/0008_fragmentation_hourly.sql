-- gpucost warehouse, schema version 8 (numbered after 0007_dra_allocations).
-- fragmentation_hourly: the hourly rollup of fragmentation that presenters read (model
-- sql/models/fragmentation_hourly.sql): one row per UTC hour and GPU node; sums over the
-- node's steps in the hour, so means are sum / steps. A month of a 1,000-GPU fleet is ~15 M
-- fragmentation rows and ~250 k rows here. The next build after this migration rebuilds every
-- loaded day, which fills it.
create table fragmentation_hourly (
    hour                  timestamp not null,
    cluster               varchar   not null,
    node                  varchar   not null,
    instance_type         varchar,
    capacity_type         varchar,
    gpu_model             varchar,
    gpu_count             integer   not null,
    steps                 bigint    not null,  -- fragmentation rows (steps) of the node in the hour
    hour_steps            bigint    not null,  -- steps of the hour any node has (the fleet's clock)
    free_gpus             double    not null,  -- sum over the steps
    stranded_gpus         double    not null,  -- sum over the steps
    frag_gpu_milli        double    not null,  -- sum over the steps
    largest_free_block    bigint    not null,  -- sum over the steps
    nvlink_free_block     bigint,              -- sum over the steps with a value
    stranded_reason       varchar,             -- the most frequent reason in the hour
    free_cost_usd         double    not null,
    stranded_cost_usd     double    not null
);
