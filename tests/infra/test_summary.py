"""`hrob infra summary`: what a stack deploys, in people's names, from the synthesized JSON."""

from __future__ import annotations

from infra.summary import lines, summarize
from ml.config.loader import load_settings
from ml.jobs.catalogue import JOBS, deployed_name


def names(env: str) -> dict[str, str]:
    deployment = load_settings(env).environment.deployment
    return {i.application_id: i.display_name for i in deployment.identities().values()}


def test_the_summary_names_every_job_its_start_and_who_it_runs_as(synthesized):
    summary = summarize(synthesized["prod"], synthesized["prod-bootstrap"], names("prod"))
    jobs = {j["name"]: j for j in summary["jobs"]}
    assert set(jobs) == {deployed_name("prod", name) for name in JOBS}
    assert jobs["[prod] hrob features"]["starts"] == "cron 0 0 6 * * ? UTC"
    assert jobs["[prod] hrob inference"]["starts"] == "on update of hrob.prod.member_features"
    assert jobs["[prod] hrob rollback"]["starts"] == "started by a person (or another job)"
    assert {j["runs_as"] for j in jobs.values()} == {"prod-sp (run-as)"}
    assert summary["models"] == [{"name": "hrob.prod.hrob_risk", "owner": "prod-sp (run-as)"}]
    readers = {g["principal"] for g in summary["grants"] if g["on"] == "hrob.prod.hrob_risk"}
    assert readers == {"hrob-data-scientists", "hrob-oncall", "hrob-prod-deployer (deployer)"}
    boot = summary["bootstrap"]
    assert boot["schemas"] == [{"name": "hrob.prod", "owner": "hrob-prod-deployer (deployer)"}]
    assert set(boot["trigger_tables"]) == {"member_features", "predictions"}
    assert "storage_account: sthrobprod01" in boot["azure"]
    text = "\n".join(lines("prod", summary))
    assert "${" not in text, "every reference read as what it names"


def test_dev_jobs_run_as_whoever_deploys_and_start_paused(synthesized):
    summary = summarize(synthesized["dev"], synthesized["dev-bootstrap"], {})
    for job in summary["jobs"]:
        assert job["runs_as"] == "the deploying user"
        assert job["starts"].endswith("(paused)") or job["starts"].startswith("started by a person")
