-- `orders` rows were keyed by the order id alone, but an order id is unique only within its
-- profile: a caller choosing its own ids could place orders under one id on two profiles, and
-- the second overwrote the first's row. Rows are now keyed `<profile id>/<order id>`
-- (`OrderRow::key`). The overwritten rows cannot be told from the table, so the view is emptied
-- and its checkpoint reset: the projector rebuilds it from the log at its next pass (the other
-- read models are untouched).
--
-- The checkpoint is locked first, as a projector's batch and `Projector::reset` lock it: the
-- update waits for a batch in flight to commit, and the delete then sees all of its rows. The
-- constraint refuses rows under the old keys, so a projector of an earlier version still running
-- stops with an error on its next batch instead of rebuilding the view under the old keys.

UPDATE projection_checkpoints
   SET position = 0, failed_position = NULL, failure = NULL, updated_at = now()
 WHERE name = 'orders';

DELETE FROM orders;

ALTER TABLE orders ADD CONSTRAINT orders_keyed_by_profile CHECK (key LIKE '%/%');
