"""One Databricks job from the job catalogue: a job cluster, tasks that run the entry
points in ml/jobs from Git, schedule, notifications, retries, timeouts and permissions.

Pinned environments (staging, prod) run the exact commit they were deployed from, so a
later push to `main` or `release` reaches no job until it is tested, approved and
deployed; dev follows its branch. The jobs run as the run-as principal, which may also
start them (a retraining trigger does); the planner may view them."""

from __future__ import annotations

from cdktn import Token
from cdktn_provider_databricks.job import (
    Job,
    JobEmailNotifications,
    JobGitSource,
    JobHealth,
    JobHealthRules,
    JobJobCluster,
    JobJobClusterNewCluster,
    JobJobClusterNewClusterAutoscale,
    JobJobClusterNewClusterAzureAttributes,
    JobParameter,
    JobQueue,
    JobRunAs,
    JobSchedule,
    JobTask,
    JobTaskConditionTask,
    JobTaskDependsOn,
    JobTaskLibrary,
    JobTaskLibraryPypi,
    JobTaskRunJobTask,
    JobTaskSparkPythonTask,
    JobTrigger,
    JobTriggerTableUpdate,
)
from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl
from constructs import Construct

from infra.props import EnvironmentProps, JobProps
from ml.jobs.catalogue import OPERATED, Condition, RunJob, deployed_name

CLUSTER_KEY = "main"
JOB_LEVEL = {"manage": "CAN_MANAGE", "view": "CAN_VIEW"}
RUN_AS_LEVEL = "CAN_MANAGE_RUN"
DURATION_WARNING = 0.8  # of the timeout


def _cluster(props: EnvironmentProps, spark_version: str) -> JobJobCluster:
    cluster = props.deployment.cluster
    autoscale = (
        JobJobClusterNewClusterAutoscale(
            min_workers=cluster.autoscale.min_workers, max_workers=cluster.autoscale.max_workers
        )
        if cluster.autoscale
        else None
    )
    return JobJobCluster(
        job_cluster_key=CLUSTER_KEY,
        new_cluster=JobJobClusterNewCluster(
            spark_version=spark_version,
            node_type_id=cluster.node_type_id,
            num_workers=cluster.num_workers,
            autoscale=autoscale,
            data_security_mode="SINGLE_USER",  # the job's run-as identity, and Unity Catalog
            azure_attributes=JobJobClusterNewClusterAzureAttributes(availability="ON_DEMAND_AZURE"),
            custom_tags=props.tags,
        ),
    )


class MlJob(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: EnvironmentProps,
        job_props: JobProps,
        job_identity: str | None,
        planner: str | None,
        spark_version: str,
        other_jobs: dict[str, str],
        after: list | None = None,
    ):
        """`other_jobs`: job name -> id of the jobs declared before this one (run-job tasks);
        `after`: what must exist first (the bootstrap: run-as roles, trigger tables)."""
        super().__init__(scope, id_)
        spec = job_props.job
        recipients = list(props.deployment.notifications.on_failure)
        libraries = [JobTaskLibrary(pypi=JobTaskLibraryPypi(package=p)) for p in props.libraries]
        tasks = []
        for task in spec.tasks:
            depends_on = [
                JobTaskDependsOn(task_key=key, outcome=task.outcome if isinstance(task, RunJob) else None)
                for key in task.depends_on
            ] or None
            if isinstance(task, Condition):  # no cluster, no retries (Databricks allows neither)
                tasks.append(
                    JobTask(
                        task_key=task.key,
                        description=task.description,
                        condition_task=JobTaskConditionTask(left=task.left, op=task.op, right=task.right),
                        depends_on=depends_on,
                    )
                )
            elif isinstance(task, RunJob):  # no cluster: the started job brings its own
                tasks.append(
                    JobTask(
                        task_key=task.key,
                        description=task.description,
                        run_job_task=JobTaskRunJobTask(
                            job_id=Token.as_number(other_jobs[task.job]),
                            job_parameters=dict(task.parameters) or None,
                        ),
                        depends_on=depends_on,
                        timeout_seconds=dict(job_props.run_job_timeouts)[task.key],  # as long as that job may run
                    )
                )
            else:
                tasks.append(
                    JobTask(
                        task_key=task.key,
                        description=task.description,
                        job_cluster_key=CLUSTER_KEY,
                        spark_python_task=JobTaskSparkPythonTask(
                            python_file=task.entry_point, source="GIT", parameters=task.arguments(props.env)
                        ),
                        depends_on=depends_on,
                        library=libraries,
                        max_retries=job_props.max_retries,
                        min_retry_interval_millis=spec.min_retry_interval_millis,
                        retry_on_timeout=False,
                        timeout_seconds=job_props.task_timeout_seconds or job_props.timeout_seconds,
                    )
                )
        schedule = job_props.schedule
        on_update = job_props.on_table_update
        self.job = Job(
            self,
            "job",
            name=deployed_name(props.env, spec.name),
            description=spec.description,
            tags={**props.tags, "job": spec.name},
            git_source=JobGitSource(
                url=props.platform.git_repository,
                provider=props.platform.git_provider,
                commit=props.git_commit,
                branch=None if props.git_commit else props.deployment.branch,
            ),
            job_cluster=[_cluster(props, spark_version)],
            task=tasks,
            parameter=[JobParameter(name=name, default=default) for name, default in spec.parameters.items()] or None,
            schedule=JobSchedule(
                quartz_cron_expression=schedule.quartz_cron,
                timezone_id=schedule.timezone,
                pause_status="PAUSED" if schedule.paused else "UNPAUSED",
            )
            if schedule
            else None,
            trigger=JobTrigger(
                pause_status="PAUSED" if on_update.paused else "UNPAUSED",
                table_update=JobTriggerTableUpdate(
                    table_names=[f"{props.catalog}.{props.schema}.{spec.after_table}"],
                    condition="ANY_UPDATED",
                    wait_after_last_change_seconds=on_update.wait_after_last_change_seconds,
                ),
            )
            if on_update
            else None,
            email_notifications=JobEmailNotifications(
                on_failure=recipients,
                on_duration_warning_threshold_exceeded=recipients,
                no_alert_for_skipped_runs=True,
            ),
            health=JobHealth(
                rules=[
                    JobHealthRules(
                        metric="RUN_DURATION_SECONDS",
                        op="GREATER_THAN",
                        value=int(job_props.timeout_seconds * DURATION_WARNING),
                    )
                ]
            ),
            timeout_seconds=job_props.timeout_seconds,
            max_concurrent_runs=1,
            queue=JobQueue(enabled=True),
            run_as=JobRunAs(service_principal_name=job_identity) if job_identity else None,
            depends_on=after,
        )
        controls = [
            PermissionsAccessControl(
                group_name=props.platform.data_science_group,
                permission_level=JOB_LEVEL[props.deployment.data_science_access],
            )
        ]
        if job_identity:
            controls.append(
                PermissionsAccessControl(service_principal_name=job_identity, permission_level=RUN_AS_LEVEL)
            )
        if spec.name in OPERATED:  # on call may start it (a rollback), not change it
            controls.append(
                PermissionsAccessControl(group_name=props.platform.operations_group, permission_level=RUN_AS_LEVEL)
            )
        if planner:
            controls.append(PermissionsAccessControl(service_principal_name=planner, permission_level="CAN_VIEW"))
        Permissions(self, "permissions", job_id=self.job.id, access_control=controls)
