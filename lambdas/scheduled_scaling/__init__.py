"""The scheduled-scaling Lambda: time-based pool floors plus one reconcile pass."""
