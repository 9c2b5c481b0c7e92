"""The registered MLflow model (models-from-code): risk scores from a frame of features.

Loaded by `mlflow.pyfunc.load_model("models:/<name>@champion")`. It applies the
imputation fitted on the training split, in the order saved with the model.
"""

import mlflow
import pandas as pd

from ml.training.scorer import RiskScorer


class HrobRiskModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.scorer = RiskScorer.load(context.artifacts["booster"], context.artifacts["imputation"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        try:
            scores = self.scorer.predict(model_input)
        except KeyError as error:
            # a bad request (HTTP 400 from the scoring server) that says what is missing, not a
            # server error with a stack trace
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(error.args[0], error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame({"risk_score": scores}, index=model_input.index)


mlflow.models.set_model(HrobRiskModel())
