-- gpucost warehouse, schema version 7 (numbered after 0006_dcgm_counters).
--
-- Which GPU device each DRA ResourceClaim holds, as seen by `gpucost collect kubernetes`
-- (ResourceClaims' allocation results looked up in ResourceSlices; ingest/kubernetes.py).
-- One row per allocated device and pod the claim is reserved for, per observation (a
-- snapshot: observed_at is when the objects were read). A claim's devices do not change
-- while its pod runs, so the build uses them for that pod whenever a collector could not
-- tell its devices (raw_pod_allocations.devices is null). nvlink_domain: the device's
-- NVLink clique (ResourceSlice attribute, node label nvidia.com/gpu.clique).
create table raw_dra_allocations (
    observed_at    timestamp not null,
    cluster        varchar   not null,
    namespace      varchar   not null,
    claim          varchar   not null,
    pod            varchar,              -- a pod in the claim's reservedFor (null: none yet)
    node           varchar,
    driver         varchar   not null,
    pool           varchar   not null,
    device         varchar   not null,   -- the device's name in its ResourceSlice
    device_class   varchar,
    kind           varchar,              -- the driver's 'type' attribute: gpu | mig | vfio | channel ...
    gpu_uuid       varchar,              -- the physical GPU (the parent of a MIG device)
    device_id      varchar,              -- raw_gpu_devices' key, when it can be told
    mig_profile    varchar,
    nvlink_domain  varchar,
    source         varchar   not null
);
