"""The daemon's operational surface: metrics, `/metrics` + `/healthz`, JSON logs."""
