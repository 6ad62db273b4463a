-- materialize: replace
-- Cost per job over all built days (DESIGN.md public table), rolled up from int_job_daily.
-- cost_usd = the job's active + allocated_idle GPU cost; idle_cost_usd is the
-- allocated_idle part of it. Steps the job held with no telemetry are reported apart
-- (no_data_*) and are not in cost_usd. So, over any set of jobs and the whole fleet:
--   sum(cost_usd) + unallocated cost + no_data cost = the GPUs' share of asset cost.
-- gpus_max: the most GPUs (MIG instances as fractions) held at one step.
-- util_avg_pct: GPU-hour-weighted mean activity over observed steps.
-- gpu_model: the model with the most GPU-hours (ties: alphabetical).
-- spot_gpu_hours / spot_cost_usd: the part of gpu_hours / cost_usd on spot nodes.
with

daily as (
    select * from int_job_daily
),

models as (
    select cluster, namespace, job, gpu_model,
           sum(gpu_hours + no_data_gpu_hours) as held_hours
    from daily
    group by cluster, namespace, job, gpu_model
),

top_model as (
    select cluster, namespace, job,
           first(gpu_model order by held_hours desc, gpu_model) as gpu_model
    from models
    group by cluster, namespace, job
),

totals as (
    select
        cluster,
        namespace,
        job,
        min(team) as team,
        min(first_ts) as first_seen_at,
        max(last_ts) + to_seconds($step_seconds) as last_seen_at,
        max(gpus_max)::double as gpus_max,
        sum(gpu_hours)::double as gpu_hours,
        sum(active_gpu_hours)::double as active_gpu_hours,
        sum(idle_gpu_hours)::double as idle_gpu_hours,
        sum(no_data_gpu_hours)::double as no_data_gpu_hours,
        (sum(util_gpu_hours) / nullif(sum(gpu_hours), 0))::double as util_avg_pct,
        max(mem_peak_bytes) as mem_peak_bytes,
        sum(cost_usd)::double as cost_usd,
        sum(idle_cost_usd)::double as idle_cost_usd,
        sum(no_data_cost_usd)::double as no_data_cost_usd,
        sum(spot_gpu_hours)::double as spot_gpu_hours,
        sum(spot_cost_usd)::double as spot_cost_usd
    from daily
    group by cluster, namespace, job
),

final as (
    select
        t.cluster,
        t.namespace,
        t.job,
        t.team,
        m.gpu_model,
        t.first_seen_at,
        t.last_seen_at,
        t.gpus_max,
        t.gpu_hours,
        t.active_gpu_hours,
        t.idle_gpu_hours,
        t.no_data_gpu_hours,
        t.util_avg_pct,
        t.mem_peak_bytes,
        t.cost_usd,
        t.idle_cost_usd,
        t.no_data_cost_usd,
        t.spot_gpu_hours,
        t.spot_cost_usd
    from totals as t
    join top_model as m using (cluster, namespace, job)
    order by t.cluster, t.namespace, t.job
)

select * from final
