"""Market data: the simulated Indonesian used-car market and importers for real CSVs."""
