"""The daemon: push receiver (Outbound Messages, signed webhooks), push worker, scheduler,
health, metrics and hot standby on the store's fenced lease."""
