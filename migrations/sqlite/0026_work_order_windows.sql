-- A scheduled work order's day is a window its asset is not rented in (SQLite). Paired with
-- migrations/postgres/0026_work_order_windows.sql, which explains the rule.

DROP INDEX asset_bookings_work_order;
CREATE UNIQUE INDEX asset_bookings_work_order ON asset_bookings(work_order_id)
    WHERE work_order_id IS NOT NULL AND released_at IS NULL;

-- An order's window: its scheduled day, or for work started unscheduled, the day it started.
CREATE TEMP TABLE work_order_windows AS
SELECT id, asset_id, title,
       COALESCE(scheduled_for, CASE WHEN state = 'in_progress' THEN started_at END) AS at,
       date(COALESCE(scheduled_for, CASE WHEN state = 'in_progress' THEN started_at END)) AS day
FROM work_orders
WHERE state IN ('open', 'scheduled', 'in_progress');

-- The windows on days their asset is free; of several orders of one asset on one day, the
-- earliest (then the lowest id) holds it.
INSERT INTO asset_bookings (id, asset_id, kind, work_order_id, starts_on, ends_on, reason,
                            created_at)
SELECT w.id, w.asset_id, 'maintenance', w.id, w.day, w.day, 'work order: ' || w.title,
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM work_order_windows w
WHERE w.day IS NOT NULL
  AND w.id = (
      SELECT o.id FROM work_order_windows o
      WHERE o.asset_id = w.asset_id AND o.day = w.day
      ORDER BY o.at, o.id LIMIT 1)
  AND NOT EXISTS (
      SELECT 1 FROM asset_bookings b
      WHERE b.asset_id = w.asset_id AND b.released_at IS NULL
        AND b.starts_on <= w.day AND b.ends_on >= w.day);

DROP TABLE work_order_windows;
