-- materialize: replace
-- Cost per job over everything in gpu_usage (DESIGN.md public table).
-- cost_usd = the job's active + allocated_idle GPU cost; idle_cost_usd is the
-- allocated_idle part of it. Steps the job held with no telemetry are reported apart
-- (no_data_*) and are not in cost_usd. So, over any set of jobs and the whole fleet:
--   sum(cost_usd) + unallocated cost + no_data cost = the GPUs' share of asset cost.
-- Sums run over decimals so that they do not depend on the order rows are added in.
with

usage as (
    select * from gpu_usage where pod is not null
),

held as (
    select
        *,
        state in ('active', 'allocated_idle') as observed,
        gpu_hours::decimal(24, 15) as gpu_hours_d,
        cost_usd::decimal(24, 15) as cost_d
    from usage
),

job_steps as (
    select cluster, namespace, job, ts, sum(gpu_hours_d) as gpu_hours_d
    from held
    group by cluster, namespace, job, ts
),

peaks as (
    select
        cluster, namespace, job,
        (max(gpu_hours_d) * 3600 / $step_seconds)::double as gpus_max
    from job_steps
    group by cluster, namespace, job
),

models as (
    select cluster, namespace, job, gpu_model, sum(gpu_hours_d) as gpu_hours_d
    from held
    group by cluster, namespace, job, gpu_model
),

top_model as (
    select cluster, namespace, job, first(gpu_model order by gpu_hours_d desc, gpu_model) as gpu_model
    from models
    group by cluster, namespace, job
),

totals as (
    select
        cluster,
        namespace,
        job,
        min(team) as team,
        min(ts) as first_seen_at,
        max(ts) + to_seconds($step_seconds) as last_seen_at,
        coalesce(sum(gpu_hours_d) filter (where observed), 0)::double as gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'active'), 0)::double as active_gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'allocated_idle'), 0)::double as idle_gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'no_data'), 0)::double as no_data_gpu_hours,
        (sum(util_pct::decimal(9, 4) * gpu_hours_d) filter (where observed)
            / nullif(sum(gpu_hours_d) filter (where observed), 0))::double as util_avg_pct,
        max(mem_used_bytes) as mem_peak_bytes,
        coalesce(sum(cost_d) filter (where observed), 0)::double as cost_usd,
        coalesce(sum(cost_d) filter (where state = 'allocated_idle'), 0)::double as idle_cost_usd,
        coalesce(sum(cost_d) filter (where state = 'no_data'), 0)::double as no_data_cost_usd
    from held
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
        p.gpus_max,
        t.gpu_hours,
        t.active_gpu_hours,
        t.idle_gpu_hours,
        t.no_data_gpu_hours,
        t.util_avg_pct,
        t.mem_peak_bytes,
        t.cost_usd,
        t.idle_cost_usd,
        t.no_data_cost_usd
    from totals as t
    join peaks as p using (cluster, namespace, job)
    join top_model as m using (cluster, namespace, job)
    order by t.cluster, t.namespace, t.job
)

select * from final
