-- The fleet's pressing services (SQLite). Paired with migrations/postgres/0013_service_due.sql.
--
-- "Which assets are due or overdue for service" is a dispatcher's list over the whole fleet; a
-- forecast per asset on every request is seconds at 100,000 assets (BENCHMARKS.md, "Maintenance
-- sweep"). The clock's sweep computes every asset's forecast anyway, so it keeps here the most
-- pressing service of each asset that has one in its lead window or past it (urgency soon = 1,
-- due = 2, overdue = 3); assets with nothing pressing have no row. The list reads an index and
-- re-forecasts only the page it answers, so what it shows is live; the ranking and the total
-- are as of the sweep's last pass over the asset (within the hour at 100,000 assets).
CREATE TABLE asset_service_status (
    asset_id      BLOB PRIMARY KEY NOT NULL,
    plan_id       BLOB NOT NULL,
    service       TEXT NOT NULL,
    urgency_rank  INTEGER NOT NULL CHECK (urgency_rank BETWEEN 1 AND 3),
    forecast_date TEXT NOT NULL,
    computed_at   TEXT NOT NULL
) WITHOUT ROWID;
-- The list's order: most urgent first, then the soonest date.
CREATE INDEX asset_service_status_pressing
    ON asset_service_status(urgency_rank DESC, forecast_date, asset_id);
