-- An app may be limited to some methods (the products it has signed): NULL is every method,
-- otherwise a comma-separated list. A call outside it is answered 40006.
ALTER TABLE apps ADD COLUMN methods TEXT;
