DROP INDEX deliveries_kind_due;
