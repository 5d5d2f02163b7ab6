"""Pure model code: no faust, Kafka or Redis imports. Testable in microseconds."""
