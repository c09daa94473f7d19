"""The valuation service's HTTP paths its callers use (the scorer, the dashboard, the demo, the
tests): declared here once, served by bento/ (bento/service.py, bento/pages.py)."""

READY_PATH = "/readyz"  # 200 once every worker has its model loaded and warmed up
BATCH_PATH = "/valuate_batch"
