-- agentbox sample data: loaded only on request (`agentbox serve --sample-data`), run as the
-- database owner (RLS does not apply), after the migrations.
--
-- Creates, deterministically (no random()):
--   * 3 companies: Acme Manufacturing, Globex Retail, Initech Software;
--   * 5 departments each (Sales, Marketing, Finance, plus Engineering/Operations,
--     E-commerce/Store Operations, Engineering/Customer Success);
--   * 12 KPIs per company: "Revenue" for each department (USD, sum), and Gross Margin, Customer
--     Churn, Net Promoter Score, Headcount, Operating Expenses (company-wide, department NULL),
--     Tickets Resolved (the support/operations department) and Marketing Qualified Leads
--     (Marketing);
--   * 24 months of kpi_targets and kpi_values per KPI, one row per month (period = first day of
--     the month), ending with the month before date_trunc('month', now()).
-- Targets grow and follow a seasonal curve (cosine of the calendar month); values deviate from
-- their target by a sine of the month index with a per-KPI phase. In the last complete quarter
-- each department's revenue carries a fixed per-department bias (+3 % .. +9 % or -4 % .. -9 %, noise
-- within +/- 1 %), so "Which departments missed their revenue target last quarter?" always has
-- a mixed answer, whatever the date the data is loaded:
--   missed - Acme: Marketing, Operations; Globex: Sales, Finance, Store Operations;
--            Initech: Marketing, Engineering.  Every other department met its target.
--
-- Idempotent: does nothing when the company "Acme Manufacturing" already exists.
do $sample$
declare
    v_first_month  date := (date_trunc('month', now()) - interval '24 months')::date;
    v_last_quarter date := (date_trunc('quarter', now()) - interval '3 months')::date;
begin
    if exists (select 1 from public.companies where name = 'Acme Manufacturing') then
        raise notice 'agentbox sample data already present: nothing to do';
        return;
    end if;

    insert into public.companies (name)
    values ('Acme Manufacturing'), ('Globex Retail'), ('Initech Software')
    on conflict (name) do nothing;

    insert into public.departments (company_id, name)
    select c.id, d.name
      from (values ('Acme Manufacturing', 'Sales'),
                   ('Acme Manufacturing', 'Marketing'),
                   ('Acme Manufacturing', 'Engineering'),
                   ('Acme Manufacturing', 'Finance'),
                   ('Acme Manufacturing', 'Operations'),
                   ('Globex Retail',      'Sales'),
                   ('Globex Retail',      'Marketing'),
                   ('Globex Retail',      'E-commerce'),
                   ('Globex Retail',      'Finance'),
                   ('Globex Retail',      'Store Operations'),
                   ('Initech Software',   'Sales'),
                   ('Initech Software',   'Marketing'),
                   ('Initech Software',   'Engineering'),
                   ('Initech Software',   'Finance'),
                   ('Initech Software',   'Customer Success')) as d (company, name)
      join public.companies c on c.name = d.company
    on conflict (company_id, name) do nothing;

    -- spec: base = target of the first month; growth = monthly growth of the target;
    -- season / peak = amplitude and peak calendar month of the target's seasonal curve;
    -- noise = amplitude of the value's deviation from target; phase = per-KPI offset;
    -- bias = revenue deviation in the last complete quarter (NULL: not a revenue KPI).
    with spec (company, department, name, unit, higher_is_better, aggregation, description,
               base, growth, season, peak, noise, phase, bias, decimals) as (
        values
        -- Acme Manufacturing (seasonal peak in June)
        ('Acme Manufacturing', 'Sales',       'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 1250000.0, 0.008, 0.06, 6, 0.045, 1.0, 0.06, 2),
        ('Acme Manufacturing', 'Marketing',   'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  310000.0, 0.010, 0.06, 6, 0.045, 2.0, -0.08, 2),
        ('Acme Manufacturing', 'Engineering', 'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  540000.0, 0.007, 0.06, 6, 0.045, 3.0, 0.04, 2),
        ('Acme Manufacturing', 'Finance',     'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  120000.0, 0.004, 0.06, 6, 0.045, 4.0, 0.03, 2),
        ('Acme Manufacturing', 'Operations',  'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  860000.0, 0.006, 0.06, 6, 0.045, 5.0, -0.05, 2),
        ('Acme Manufacturing', null, 'Gross Margin',        '%',      true,  'avg',  'Gross profit as a share of revenue',                 34.5,     0.0005, 0.0, 6, 0.040, 6.0,  null, 1),
        ('Acme Manufacturing', null, 'Customer Churn',      '%',      false, 'avg',  'Share of customers lost in the month',               1.8,     -0.003,  0.0, 6, 0.120, 7.0,  null, 2),
        ('Acme Manufacturing', null, 'Net Promoter Score',  'score',  true,  'avg',  'Promoters minus detractors, survey of the month',    38.0,     0.002,  0.0, 6, 0.100, 8.0,  null, 0),
        ('Acme Manufacturing', null, 'Headcount',           'people', true,  'last', 'Employees at month end against the hiring plan',    420.0,     0.006,  0.0, 6, 0.015, 9.0,  null, 0),
        ('Acme Manufacturing', null, 'Operating Expenses',  'USD',    false, 'sum',  'Operating expenses of the month',              2400000.0,     0.005,  0.03, 6, 0.035, 10.0, null, 2),
        ('Acme Manufacturing', 'Operations', 'Tickets Resolved',   'tickets', true, 'sum', 'Support and service tickets closed in the month', 820.0, 0.010, 0.0, 6, 0.070, 11.0, null, 0),
        ('Acme Manufacturing', 'Marketing',  'Marketing Qualified Leads', 'leads', true, 'sum', 'Leads accepted by sales in the month',      560.0, 0.012, 0.05, 6, 0.090, 12.0, null, 0),
        -- Globex Retail (seasonal peak in December)
        ('Globex Retail', 'Sales',            'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 2100000.0, 0.006, 0.12, 12, 0.045, 13.0, -0.07, 2),
        ('Globex Retail', 'Marketing',        'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  260000.0, 0.008, 0.12, 12, 0.045, 14.0, 0.05, 2),
        ('Globex Retail', 'E-commerce',       'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 1450000.0, 0.015, 0.12, 12, 0.045, 15.0, 0.09, 2),
        ('Globex Retail', 'Finance',          'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',   95000.0, 0.003, 0.12, 12, 0.045, 16.0, -0.04, 2),
        ('Globex Retail', 'Store Operations', 'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 1800000.0, 0.002, 0.12, 12, 0.045, 17.0, -0.06, 2),
        ('Globex Retail', null, 'Gross Margin',        '%',      true,  'avg',  'Gross profit as a share of revenue',                 28.0,     0.0005, 0.0, 12, 0.040, 18.0, null, 1),
        ('Globex Retail', null, 'Customer Churn',      '%',      false, 'avg',  'Share of loyalty members lost in the month',         4.2,     -0.003,  0.0, 12, 0.120, 19.0, null, 2),
        ('Globex Retail', null, 'Net Promoter Score',  'score',  true,  'avg',  'Promoters minus detractors, survey of the month',    31.0,     0.002,  0.0, 12, 0.100, 20.0, null, 0),
        ('Globex Retail', null, 'Headcount',           'people', true,  'last', 'Employees at month end against the hiring plan',   1150.0,     0.004,  0.04, 12, 0.015, 21.0, null, 0),
        ('Globex Retail', null, 'Operating Expenses',  'USD',    false, 'sum',  'Operating expenses of the month',              4100000.0,     0.004,  0.06, 12, 0.035, 22.0, null, 2),
        ('Globex Retail', 'Store Operations', 'Tickets Resolved',   'tickets', true, 'sum', 'Customer service tickets closed in the month',  2400.0, 0.008, 0.10, 12, 0.070, 23.0, null, 0),
        ('Globex Retail', 'Marketing',        'Marketing Qualified Leads', 'leads', true, 'sum', 'Leads accepted by sales in the month',  1900.0, 0.010, 0.10, 12, 0.090, 24.0, null, 0),
        -- Initech Software (seasonal peak in December: year-end deals)
        ('Initech Software', 'Sales',            'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 980000.0, 0.012, 0.05, 12, 0.045, 25.0, 0.03, 2),
        ('Initech Software', 'Marketing',        'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 150000.0, 0.010, 0.05, 12, 0.045, 26.0, -0.05, 2),
        ('Initech Software', 'Engineering',      'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 420000.0, 0.009, 0.05, 12, 0.045, 27.0, -0.09, 2),
        ('Initech Software', 'Finance',          'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month',  60000.0, 0.005, 0.05, 12, 0.045, 28.0, 0.05, 2),
        ('Initech Software', 'Customer Success', 'Revenue', 'USD', true, 'sum', 'Revenue booked by the department in the month', 350000.0, 0.014, 0.05, 12, 0.045, 29.0, 0.07, 2),
        ('Initech Software', null, 'Gross Margin',        '%',      true,  'avg',  'Gross profit as a share of revenue',                76.0,     0.0005, 0.0, 12, 0.020, 30.0, null, 1),
        ('Initech Software', null, 'Customer Churn',      '%',      false, 'avg',  'Share of subscriptions cancelled in the month',     1.1,     -0.003,  0.0, 12, 0.120, 31.0, null, 2),
        ('Initech Software', null, 'Net Promoter Score',  'score',  true,  'avg',  'Promoters minus detractors, survey of the month',   52.0,     0.002,  0.0, 12, 0.100, 32.0, null, 0),
        ('Initech Software', null, 'Headcount',           'people', true,  'last', 'Employees at month end against the hiring plan',   185.0,     0.010,  0.0, 12, 0.015, 33.0, null, 0),
        ('Initech Software', null, 'Operating Expenses',  'USD',    false, 'sum',  'Operating expenses of the month',             1300000.0,     0.007,  0.02, 12, 0.035, 34.0, null, 2),
        ('Initech Software', 'Customer Success', 'Tickets Resolved',   'tickets', true, 'sum', 'Support tickets closed in the month',     1350.0, 0.010, 0.0, 12, 0.070, 35.0, null, 0),
        ('Initech Software', 'Marketing',        'Marketing Qualified Leads', 'leads', true, 'sum', 'Leads accepted by sales in the month', 740.0, 0.015, 0.05, 12, 0.090, 36.0, null, 0)
    ),
    located as (
        select s.*, c.id as company_id, d.id as department_id
          from spec s
          join public.companies c on c.name = s.company
          left join public.departments d on d.company_id = c.id and d.name = s.department
         where s.department is null or d.id is not null
    ),
    new_kpis as (
        insert into public.kpis (company_id, department_id, name, unit, description, higher_is_better, aggregation)
        select company_id, department_id, name, unit, description, higher_is_better, aggregation
          from located
        on conflict (company_id, department_id, name) do nothing
        returning id, company_id, department_id, name
    ),
    months as (
        select m, (v_first_month + make_interval(months => m))::date as period
          from generate_series(0, 23) as m
    ),
    series as (
        select k.id as kpi_id,
               mo.period,
               l.decimals,
               -- target before rounding: growth x seasonal curve
               l.base::float8 * power(1 + l.growth::float8, mo.m)
                 * (1 + l.season::float8
                        * cos(2 * pi() * (extract(month from mo.period)::float8 - l.peak) / 12)) as target,
               -- relative deviation of the value from its target
               case
                   when l.bias is not null
                        and mo.period >= v_last_quarter
                        and mo.period < (v_last_quarter + interval '3 months')::date
                       then l.bias::float8 + 0.01 * sin(mo.m + l.phase::float8)
                   when l.bias is not null
                       then l.noise::float8 * sin(0.9 * mo.m + l.phase::float8) + 0.005
                   else l.noise::float8 * sin(0.7 * mo.m + l.phase::float8)
               end as deviation
          from new_kpis k
          join located l
            on l.company_id = k.company_id
           and l.department_id is not distinct from k.department_id
           and l.name = k.name
         cross join months mo
    ),
    new_targets as (
        insert into public.kpi_targets (kpi_id, period, target)
        select kpi_id, period, round(target::numeric, decimals)
          from series
        on conflict (kpi_id, period) do nothing
    )
    insert into public.kpi_values (kpi_id, period, value)
    select kpi_id, period, round((target * (1 + deviation))::numeric, decimals)
      from series
    on conflict (kpi_id, period) do nothing;
end
$sample$;
