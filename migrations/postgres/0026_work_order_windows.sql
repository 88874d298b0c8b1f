-- A scheduled work order's day is a window its asset is not rented in (PostgreSQL). Paired with
-- migrations/sqlite/0026_work_order_windows.sql.
--
-- From this migration on, the service keeps one live booking per scheduled work order
-- (`contracts::availability::hold_for_work_order`): a `maintenance` row of `asset_bookings`
-- linked by `work_order_id`, so the exclusion constraint refuses a contract over it as it
-- refuses one over a maintenance block. This books the orders already scheduled (or started) by
-- the same rule:
-- - an order on a day its asset is already booked books nothing (on a contract's day the machine
--   is serviced on hire; on a block's day it is blocked already);
-- - of several orders of one asset on one day, the earliest scheduled holds the day.
-- A booking made here takes its order's id: unique, and the same statement works on SQLite,
-- which has no UUID function. Later bookings get fresh ids.

-- One live booking per work order; the hold's lookup walks this index.
DROP INDEX asset_bookings_work_order;
CREATE UNIQUE INDEX asset_bookings_work_order ON asset_bookings(work_order_id)
    WHERE work_order_id IS NOT NULL AND released_at IS NULL;

-- An order's window: its scheduled day, or for work started unscheduled, the day it started.
INSERT INTO asset_bookings (id, asset_id, kind, work_order_id, starts_on, ends_on, reason,
                            created_at)
SELECT DISTINCT ON (w.asset_id, w.day)
       w.id, w.asset_id, 'maintenance', w.id, w.day, w.day, 'work order: ' || w.title, now()
FROM (
    SELECT id, asset_id, title,
           COALESCE(scheduled_for, CASE WHEN state = 'in_progress' THEN started_at END) AS at,
           (COALESCE(scheduled_for, CASE WHEN state = 'in_progress' THEN started_at END)
               AT TIME ZONE 'UTC')::date AS day
    FROM work_orders
    WHERE state IN ('open', 'scheduled', 'in_progress')
) w
WHERE w.day IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM asset_bookings b
      WHERE b.asset_id = w.asset_id AND b.released_at IS NULL
        AND daterange(b.starts_on, b.ends_on, '[]') @> w.day)
ORDER BY w.asset_id, w.day, w.at, w.id;
