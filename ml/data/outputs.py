"""Tables the ML jobs write, each named once. Source tables are in ml/data/schema.py."""

FEATURES = "member_features"  # keyed by (member_id, as_of), partitioned by FEATURE_PARTITION
# The month of as_of: snapshots fall on every day (each at some episode's landmark), and a
# partition per day would mean thousands of small files to list and open on every read.
FEATURE_PARTITION = "as_of_month"
PREDICTIONS = "predictions"  # partitioned by scoring_date
OUTREACH = "outreach_list"  # partitioned by scoring_date
FEATURE_KEY = ("member_id", "as_of")
REJECTIONS = "source_rejections"  # rows rejected per source table and rule, partitioned by as_of
MONITORING = "model_monitoring"  # one row per date, metric and slice, partitioned by monitoring_date
ACKNOWLEDGEMENTS = "monitoring_acknowledgements"  # drifts people have looked at: they no longer start training
