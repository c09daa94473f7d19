"""The Feast repository: market features defined once for training and serving."""
