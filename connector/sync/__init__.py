"""Inbound and outbound synchronisation: poller, backfill, reconcile, page pipeline."""
