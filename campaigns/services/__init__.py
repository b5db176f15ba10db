"""Business writes of campaigns: one function per write (see the modules)."""
