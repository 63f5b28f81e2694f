-- `orders` rows were keyed by the order id alone, but an order id is unique only within its
-- profile: a caller choosing its own ids could place orders under one id on two profiles, and
-- the second overwrote the first's row. Rows are now keyed `<profile id>/<order id>`
-- (`OrderRow::key`). The overwritten rows cannot be told from the table, so the view is emptied
-- and its checkpoint reset: the projector rebuilds it from the log at its next pass (the other
-- read models are untouched).

DELETE FROM orders;

UPDATE projection_checkpoints
   SET position = 0, failed_position = NULL, failure = NULL, updated_at = now()
 WHERE name = 'orders';
