-- gpucost warehouse, schema version 1.
--
-- Layers: raw_* tables are written only by collectors (ingest/), each row tagged with the
-- `source` that loaded it; `loads` books every load by (source, table, window) so that a
-- re-load of the same window replaces rows instead of duplicating them. Public marts
-- (gpu_usage, asset_costs, job_costs) are written only by `gpucost build` from sql/models.
-- Timestamps are UTC `timestamp` values; windows are half-open [start, end).

create table loads (
    source        varchar   not null,  -- e.g. 'simulator', 'prometheus', 'catalog'
    table_name    varchar   not null,  -- the raw table the rows went to
    window_start  timestamp not null,
    window_end    timestamp not null,
    row_count     bigint    not null,
    loaded_at     timestamp not null,  -- wall clock of the load (bookkeeping only)
    primary key (source, table_name, window_start, window_end)
);

-- One row per GPU device per step as dcgm-exporter reports it (the collector downsamples
-- to the step with avg_over_time). Units are the exporter's: percent for GPU_UTIL, ratios
-- 0..1 for PROF_* fields, MiB for framebuffer, watts for power. A MIG instance is its own
-- device: same gpu_uuid as its parent GPU, mig_instance_id = GPU_I_ID.
create table raw_dcgm_samples (
    ts                timestamp not null,  -- step start, aligned to the step
    cluster           varchar   not null,
    node              varchar   not null,  -- Hostname / hostname label
    gpu_index         integer,             -- 'gpu' label
    gpu_uuid          varchar   not null,  -- 'UUID' label
    device            varchar,             -- 'device' label, e.g. nvidia0
    gpu_model         varchar,             -- 'modelName' label
    mig_instance_id   integer,             -- GPU_I_ID; null for a whole GPU
    mig_profile       varchar,             -- GPU_I_PROFILE, e.g. '1g.10gb'
    pod               varchar,             -- pod mapping labels, when the exporter has them
    namespace         varchar,
    container         varchar,
    gpu_util          double,              -- DCGM_FI_DEV_GPU_UTIL, %
    gr_engine_active  double,              -- DCGM_FI_PROF_GR_ENGINE_ACTIVE, ratio
    sm_active         double,              -- DCGM_FI_PROF_SM_ACTIVE, ratio
    tensor_active     double,              -- DCGM_FI_PROF_PIPE_TENSOR_ACTIVE, ratio
    dram_active       double,              -- DCGM_FI_PROF_DRAM_ACTIVE, ratio
    fb_used_mib       double,              -- DCGM_FI_DEV_FB_USED, MiB
    fb_free_mib       double,              -- DCGM_FI_DEV_FB_FREE, MiB
    power_w           double,              -- DCGM_FI_DEV_POWER_USAGE, W
    source            varchar   not null
);

-- Nodes over time (kube-state-metrics kube_node_labels / kube_node_info / capacity).
-- One row per continuous interval with constant attributes, [valid_from, valid_to).
create table raw_nodes (
    cluster        varchar   not null,
    node           varchar   not null,
    valid_from     timestamp not null,
    valid_to       timestamp not null,
    instance_type  varchar,              -- node.kubernetes.io/instance-type
    capacity_type  varchar,              -- 'on_demand' | 'spot' (Karpenter / EKS labels)
    region         varchar,              -- topology.kubernetes.io/region
    zone           varchar,              -- topology.kubernetes.io/zone
    gpu_model      varchar,              -- nvidia.com/gpu.product
    gpu_count      integer   not null,   -- physical GPUs (kube_node_status_capacity nvidia_com_gpu)
    cpu_cores      double,               -- capacity
    memory_bytes   bigint,               -- capacity
    provider_id    varchar,              -- e.g. aws:///us-east-1a/i-0abc...
    labels         map(varchar, varchar),
    source         varchar   not null
);

-- The GPU devices present on a node over time: whole GPUs and MIG instances
-- (from DCGM series labels, DRA ResourceSlices or the simulator).
-- device_id is the key allocations refer to: the GPU UUID for a whole GPU,
-- '<GPU UUID>/<GPU_I_ID>' for a MIG instance.
create table raw_gpu_devices (
    cluster          varchar   not null,
    node             varchar   not null,
    valid_from       timestamp not null,
    valid_to         timestamp not null,
    device_id        varchar   not null,
    gpu_index        integer   not null,
    gpu_uuid         varchar   not null,
    gpu_model        varchar,
    mig_instance_id  integer,
    mig_profile      varchar,
    mem_total_bytes  bigint,
    source           varchar   not null
);

-- Pods holding GPUs over time, [valid_from, valid_to), one row per interval with constant
-- attributes. `devices` lists the device_ids held (see raw_gpu_devices); owner is the pod's
-- top owner (ReplicaSet resolved to its Deployment, Job to its CronJob, ...).
create table raw_pod_allocations (
    cluster        varchar   not null,
    namespace      varchar   not null,
    pod            varchar   not null,
    node           varchar   not null,
    valid_from     timestamp not null,
    valid_to       timestamp not null,
    gpu_request    integer,              -- nvidia.com/gpu requested (whole GPUs)
    mig_profile    varchar,              -- requested nvidia.com/mig-<profile>, if any
    devices        varchar[],            -- device_ids held
    owner_kind     varchar,
    owner_name     varchar,
    labels         map(varchar, varchar),
    source         varchar   not null
);

-- Prices in USD per instance-hour. kind: 'on_demand' (list, Pricing API) or 'spot'
-- (DescribeSpotPriceHistory). A price holds from effective_at until the next one.
create table raw_prices (
    kind           varchar   not null,
    region         varchar   not null,
    zone           varchar,              -- spot prices are per availability zone
    instance_type  varchar   not null,
    effective_at   timestamp not null,
    usd_per_hour   double    not null,
    source         varchar   not null
);

-- Billing line items normalised to FOCUS 1.x column names in snake_case.
create table raw_billing_line_items (
    billing_period_start  timestamp,
    billing_period_end    timestamp,
    charge_period_start   timestamp not null,
    charge_period_end     timestamp not null,
    provider              varchar,
    billing_account_id    varchar,
    sub_account_id        varchar,
    service_name          varchar,
    service_category      varchar,
    charge_category       varchar,
    charge_description    varchar,
    resource_id           varchar,
    resource_type         varchar,
    region_id             varchar,
    availability_zone     varchar,
    sku_id                varchar,
    pricing_category      varchar,
    pricing_unit          varchar,
    pricing_quantity      double,
    consumed_quantity     double,
    consumed_unit         varchar,
    billed_cost           decimal(20, 10),
    effective_cost        decimal(20, 10),
    list_cost             decimal(20, 10),
    contracted_cost       decimal(20, 10),
    billing_currency      varchar,
    instance_type         varchar,
    tags                  map(varchar, varchar),
    source                varchar   not null
);

-- Public marts (DESIGN.md "Public tables"). Costs are USD; *_gpu_hours are GPU-hours.

-- gpu_usage, one row per GPU device per step, is stored as a star: a narrow fact table
-- (gpu_usage_steps) and two dimensions keyed by md5_number of their attributes
-- (gpu_usage_devices: the device and its node; gpu_usage_pods: the holder), joined back by
-- the public view gpu_usage. Writing a month of a 1,000-GPU fleet is then mostly numbers.
create type gpu_state as enum ('active', 'allocated_idle', 'unallocated', 'no_data');

create macro gpu_device_key(cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index,
                            device_id, gpu_model, mig_profile, mem_total_bytes) as
    md5_number(concat_ws(chr(31), cluster, node, coalesce(instance_type, chr(0)),
                         coalesce(capacity_type, chr(0)), gpu_uuid, coalesce(gpu_index::varchar, chr(0)),
                         device_id, coalesce(gpu_model, chr(0)), coalesce(mig_profile, chr(0)),
                         coalesce(mem_total_bytes::varchar, chr(0))));

create macro gpu_pod_key(cluster, namespace, pod, job, team) as
    md5_number(concat_ws(chr(31), cluster, namespace, pod, job, coalesce(team, chr(0))));

create table gpu_usage_devices (
    device_key       uhugeint primary key,
    cluster          varchar   not null,
    node             varchar   not null,
    instance_type    varchar,
    capacity_type    varchar,
    gpu_uuid         varchar   not null,
    gpu_index        integer,
    device_id        varchar   not null,
    gpu_model        varchar,
    mig_profile      varchar,
    mem_total_bytes  bigint
);

create table gpu_usage_pods (
    pod_key    uhugeint primary key,
    cluster    varchar not null,
    namespace  varchar not null,
    pod        varchar not null,
    job        varchar not null,
    team       varchar
);

create table gpu_usage_steps (
    ts               timestamp not null,
    device_key       uhugeint  not null,
    pod_key          uhugeint,            -- null: nobody holds the device
    state            gpu_state not null,
    util_pct         double,
    mem_used_bytes   bigint,
    mem_total_bytes  bigint,              -- as sampled (MIG: the instance's memory)
    power_w          double,
    gpu_hours        double    not null,  -- the step's share of one GPU, in hours
    cost_usd         double    not null,
    price_source     varchar   not null
);

-- The public table: one row per GPU device per step. state is exactly one of
-- active | allocated_idle | unallocated | no_data.
create view gpu_usage as
select
    f.ts,
    d.cluster,
    d.node,
    d.instance_type,
    d.capacity_type,
    d.gpu_uuid,
    d.gpu_index,
    d.device_id,
    d.gpu_model,
    d.mig_profile,
    p.namespace,
    p.pod,
    p.job,
    p.team,
    f.state,
    f.util_pct,
    f.mem_used_bytes,
    coalesce(f.mem_total_bytes, d.mem_total_bytes) as mem_total_bytes,
    f.power_w,
    f.gpu_hours,
    f.cost_usd,
    f.price_source
from gpu_usage_steps as f
join gpu_usage_devices as d on d.device_key = f.device_key
left join gpu_usage_pods as p on p.pod_key = f.pod_key;

-- Per node per UTC day and price source.
create table asset_costs (
    window_start       timestamp not null,
    window_end         timestamp not null,
    cluster            varchar   not null,
    node               varchar   not null,
    instance_type      varchar,
    capacity_type      varchar,
    region             varchar,
    zone               varchar,
    price_source       varchar   not null,
    hours              double    not null,  -- node-hours billed in the window
    usd_per_hour       double,              -- mean price over those hours
    gpu_count          integer   not null,
    gpu_share          double    not null,  -- fraction of node cost attributed to GPUs
    cost_usd           double    not null,  -- whole node
    gpu_cost_usd       double    not null   -- the GPUs' share
);

create table job_costs (
    cluster              varchar   not null,
    namespace            varchar   not null,
    job                  varchar   not null,
    team                 varchar,
    gpu_model            varchar,            -- most used model (ties: alphabetical)
    first_seen_at        timestamp not null,
    last_seen_at         timestamp not null, -- end of the last step held
    gpus_max             double    not null, -- max GPUs (MIG slices as fractions) held at one step
    gpu_hours            double    not null, -- active + allocated_idle
    active_gpu_hours     double    not null,
    idle_gpu_hours       double    not null,
    no_data_gpu_hours    double    not null, -- held, but telemetry missing (not in cost_usd)
    util_avg_pct         double,
    mem_peak_bytes       bigint,
    cost_usd             double    not null, -- active + allocated_idle cost
    idle_cost_usd        double    not null, -- allocated_idle part of cost_usd
    no_data_cost_usd     double    not null  -- held with no telemetry; not in cost_usd
);

-- Per job, UTC day and GPU model: the partial sums job_costs is rolled up from, kept so
-- that a build only re-reads the days it rebuilds. Sums are exact decimals.
create table int_job_daily (
    day                  timestamp not null,
    cluster              varchar   not null,
    namespace            varchar   not null,
    job                  varchar   not null,
    team                 varchar,
    gpu_model            varchar,
    first_ts             timestamp not null,
    last_ts              timestamp not null,
    gpus_max             decimal(38, 15) not null,  -- max GPUs held at one step that day (all models)
    gpu_hours            decimal(38, 15) not null,  -- active + allocated_idle
    active_gpu_hours     decimal(38, 15) not null,
    idle_gpu_hours       decimal(38, 15) not null,
    no_data_gpu_hours    decimal(38, 15) not null,
    util_gpu_hours       decimal(38, 19),           -- sum of util_pct x gpu_hours, observed
    mem_peak_bytes       bigint,
    cost_usd             decimal(38, 15) not null,
    idle_cost_usd        decimal(38, 15) not null,
    no_data_cost_usd     decimal(38, 15) not null
);

-- What `gpucost build` last did (for incremental builds).
create table builds (
    built_at       timestamp not null,
    window_start   timestamp not null,
    window_end     timestamp not null,
    loads_through  timestamp            -- max(loads.loaded_at) included
);
