-- The maintenance planner role (PostgreSQL). Paired with
-- migrations/sqlite/0012_maintenance_planner_role.sql.
--
-- `users.role` and `tasks.assignee_role` accept 'maintenance_planner'. The CHECKs keep the
-- names PostgreSQL gave the inline ones in 0001 and 0006, so a later change finds them. The new
-- lists are wider than the old, so re-checking the existing rows cannot fail.
ALTER TABLE users
    DROP CONSTRAINT users_role_check,
    ADD CONSTRAINT users_role_check
        CHECK (role IN ('admin','dispatcher','technician','rental_office','viewer','maintenance_planner'));

ALTER TABLE tasks
    DROP CONSTRAINT tasks_assignee_role_check,
    ADD CONSTRAINT tasks_assignee_role_check
        CHECK (assignee_role IN ('admin','dispatcher','technician','rental_office','viewer','maintenance_planner'));
