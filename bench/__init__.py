"""Benchmarks: `make bench` (or `.venv/bin/python -m bench --help`) prints figures against
targets and exits 1 when one is missed.

- checkout: members.services.checkout_commit in one process, commits/s and latency;
- expiry: members.services.points_expire on 250,000 and 1,000,000 lots against a raw
  SQL UPDATE of the same rows (and the same work in one unbatched statement), with
  the process's peak memory.

PostgreSQL only. The bench works in a database of its own (`loyalty_bench`, or the
DATABASE_URL server's `<name>_bench`; see bench.database), never in the developer's.
"""
