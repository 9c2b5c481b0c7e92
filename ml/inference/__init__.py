"""Batch inference: scoring open pregnancies with the champion, and the outreach list."""
