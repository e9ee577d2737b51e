"""Billing rules: periods between fixed-day readings, consumption, bill drafts, explanations, bill shock."""
