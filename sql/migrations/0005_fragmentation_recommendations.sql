-- gpucost warehouse, schema version 5 (numbered after 0004_usage_hourly).
--
-- Inputs for fragmentation: the CPU and memory a GPU pod requests (sum over its containers,
-- kube_pod_container_resource_requests resource="cpu"/"memory"; null when unknown), and the
-- NVLink domain of each GPU device (all GPUs behind one NVSwitch, or one NVLink clique as
-- GPU feature discovery's nvidia.com/gpu.clique label or a DRA ResourceSlice attribute
-- names it; null when the topology is unknown or the GPU has no NVLink peer).
alter table raw_pod_allocations add column cpu_request_cores double;
alter table raw_pod_allocations add column memory_request_bytes bigint;
alter table raw_gpu_devices add column nvlink_domain varchar;

-- Public table (DESIGN.md): per node per step, written by `gpucost build` from
-- sql/models/fragmentation.sql (see it for the formulas). Free = no pod holds the capacity.
create table fragmentation (
    ts                   timestamp not null,  -- step start
    cluster              varchar   not null,
    node                 varchar   not null,
    instance_type        varchar,
    capacity_type        varchar,
    gpu_model            varchar,
    gpu_count            integer   not null,  -- physical GPUs on the node
    free_gpus            double    not null,  -- free GPU capacity, MIG slices as fractions
    free_whole_gpus      integer   not null,  -- GPUs with nothing allocated on them
    frag_gpu_milli       double    not null,  -- FGD F_n(M), milli-GPUs (1000 = one GPU)
    largest_free_block   integer   not null,  -- the largest whole-GPU request the node can take
    nvlink_free_block    integer,             -- free whole GPUs in its best NVLink domain; null: unknown
    cpu_free_cores       double,              -- capacity minus GPU pods' requests; null: unknown
    memory_free_bytes    bigint,
    stranded_gpus        double    not null,  -- free capacity no common request shape can use
    stranded_reason      varchar,             -- 'cpu' | 'memory' | 'gpus' (too few free) | null
    free_cost_usd        double    not null,  -- the step's GPU cost of the free capacity
    stranded_cost_usd    double    not null   -- ... of the stranded part
);

-- Public table (DESIGN.md): what to change, with the monthly saving and its evidence.
-- Written by the recommendation rules (analytics/recommend), replaced whole per run.
create table recommendations (
    id                   varchar   primary key,  -- stable: hash of kind, target and window
    kind                 varchar   not null,     -- rule name, e.g. 'idle-reclaim'
    cluster              varchar,
    namespace            varchar,
    target               varchar   not null,     -- what to change, e.g. 'ns/Deployment/name' or a node
    team                 varchar,
    evidence             varchar   not null,     -- JSON object: the numbers behind the saving
    action               varchar   not null,     -- one sentence, imperative
    monthly_savings_usd  double    not null,     -- per 30-day month, from the window's rate
    gpu_hours_saved      double    not null,     -- in the window
    confidence           varchar   not null,     -- 'high' | 'medium' | 'low'
    patch                varchar,                -- YAML of a reviewable Kubernetes change, if any
    window_start         timestamp not null,
    window_end           timestamp not null
);
