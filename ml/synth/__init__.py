"""Synthetic HROB cohort: a generative model calibrated to published Medicaid rates.

Real member data never enters this repository; every job, test and benchmark runs
on tables written by this package instead. See docs/synthetic_cohort.md.
"""
