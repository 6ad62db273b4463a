-- gpucost warehouse, schema version 9 (numbered after 0008_fragmentation_hourly).
-- The spot part of each job's cost: GPU-hours and cost (active + allocated_idle, as cost_usd)
-- on spot nodes. The next build rebuilds every loaded day, which fills them.
alter table int_job_daily add column spot_gpu_hours decimal(38, 15);
alter table int_job_daily add column spot_cost_usd decimal(38, 15);
alter table job_costs add column spot_gpu_hours double;
alter table job_costs add column spot_cost_usd double;
