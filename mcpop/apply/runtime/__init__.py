"""Generic controller machinery: client, informers, work queue, leader election, reconciler types,
health, metrics, events, logging and time."""
