"""Admin of campaigns (Unfold): segments, campaigns with their status buttons and
results, and what campaigns gave members (offers, rewards, participants), read-only."""

from campaigns.admin import campaigns, records, segments

__all__ = ["campaigns", "records", "segments"]
