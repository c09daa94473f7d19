"""Kafka consumers: the streaming scorer, the rescorer and the listing simulator."""
