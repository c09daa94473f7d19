"""Running the parts together, as `autovalue demo` does on one machine (docker-compose.yml does
the same in production): the command line of a part as a child process, a server child ready
when its /readyz answers, the process-group stop, the supervisor that restarts a dying child
with backoff, and the demo's order of start (deploy/demo.py)."""
