"""Tables the ML jobs write, each named once. Source tables are in ml/data/schema.py."""

FEATURES = "member_features"  # keyed by (member_id, as_of), partitioned by as_of
PREDICTIONS = "predictions"  # partitioned by scoring_date
OUTREACH = "outreach_list"  # partitioned by scoring_date
FEATURE_KEY = ("member_id", "as_of")
