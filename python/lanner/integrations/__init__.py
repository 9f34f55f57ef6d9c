"""Adapters that plug lanner into other tools (lm-evaluation-harness: `lanner.integrations.lm_eval`)."""
