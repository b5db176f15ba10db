"""API plumbing shared by the apps' api modules: partner key auth and scopes, the one
exception handler, idempotency keys."""
