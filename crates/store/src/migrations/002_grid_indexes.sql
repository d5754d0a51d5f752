-- The results grid reads runs page by page in case order.
CREATE INDEX cases_by_position ON cases (experiment_id, position);
