"""Planning: how long a profile takes on this machine, before anything trains (`landmarks plan`)."""
