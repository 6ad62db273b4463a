-- gpucost warehouse, schema version 4 (numbered after 0003_reconciliation).
-- usage_hourly: the hourly rollup of gpu_usage that presenters read (model
-- sql/models/usage_hourly.sql, materialize incremental(hour): the build replaces the hours
-- of the days it rebuilds). One row per UTC hour, GPU device and holder; GPU-hours and USD
-- per state in columns; see the model for the formulas. The next `gpucost build` after this
-- migration rebuilds every loaded day (schema newer than the last build), which fills it.
create table usage_hourly (
    hour                      timestamp not null,  -- UTC hour start
    cluster                   varchar   not null,
    node                      varchar   not null,
    instance_type             varchar,
    capacity_type             varchar,
    gpu_model                 varchar,
    device_key                uhugeint  not null,  -- gpu_usage_devices.device_key
    device_id                 varchar   not null,
    gpu_index                 integer,
    mig_profile               varchar,
    namespace                 varchar,             -- null: unallocated
    job                       varchar,
    team                      varchar,             -- the pod's team, else its namespace
    steps                     bigint    not null,  -- gpu_usage rows rolled up
    last_ts                   timestamp not null,  -- last step start in the hour
    gpu_hours                 double    not null,
    active_gpu_hours          double    not null,
    idle_gpu_hours            double    not null,  -- allocated_idle
    unallocated_gpu_hours     double    not null,
    no_data_gpu_hours         double    not null,
    cost_usd                  double    not null,
    active_cost_usd           double    not null,
    idle_cost_usd             double    not null,  -- allocated_idle
    unallocated_cost_usd      double    not null,
    no_data_cost_usd          double    not null,
    util_gpu_hours            double    not null,  -- sum(util_pct x gpu_hours), steps with util
    util_observed_gpu_hours   double    not null,  -- sum(gpu_hours), steps with util
    mem_used_max_bytes        bigint,
    mem_used_byte_hours       double    not null,  -- sum(mem_used_bytes x gpu_hours)
    mem_observed_gpu_hours    double    not null,
    mem_total_bytes           bigint,
    power_w_hours             double    not null,  -- sum(power_w x gpu_hours)
    power_observed_gpu_hours  double    not null,
    power_max_w               double
);
