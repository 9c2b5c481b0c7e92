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


def prediction_columns(top_factors: int) -> list[tuple[str, str]]:
    """The predictions table's columns and Spark SQL types, in order: what scoring writes and
    what the bootstrap stack creates the table with (the monitoring job's trigger and the
    predictions monitor need it to exist before the first scoring run)."""
    return [
        ("member_id", "bigint"),
        ("episode_id", "bigint"),
        ("landmark", "string"),
        ("landmark_date", "date"),
        ("landmark_week", "double"),
        ("scoring_date", "date"),
        ("gestational_age_days", "int"),
        ("days_since_landmark", "int"),
        ("expected_delivery_date", "date"),
        ("feature_as_of", "date"),
        ("risk_score", "double"),
        ("risk_rank", "int"),
        ("risk_tier", "string"),
        *[(f"top_factor_{i + 1}", "string") for i in range(top_factors)],
        ("model_name", "string"),
        ("model_version", "string"),
        ("scored_at", "timestamp"),
    ]


# The feature table's key and partition columns; the feature job adds the features (its
# writes merge new columns into the table's schema).
FEATURE_COLUMNS = [("member_id", "bigint"), ("as_of", "date"), (FEATURE_PARTITION, "date")]
