"""Drive the tracking-parity routes of `track daemon` with the official MLflow Python client.

Run by tests/tracker_cli/mlflow_client.rs with MLFLOW_TRACKING_URI pointing at a daemon on
127.0.0.1; the first argument says how the daemon hands out artifacts: `proxied` (the default
`mlflow-artifacts:` URIs) or `direct` (`track daemon --no-serve-artifacts`: `file://` URIs the
client writes itself). Each behaviour is read back through the client and compared; any mismatch
raises (non-zero exit). The last stdout line is a JSON summary for the Rust test (what it should
and should not see).
"""

import json
import os
import sys
import tempfile
import time

import mlflow
import pandas as pd
import requests
from mlflow.entities import Dataset, DatasetInput, InputTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

MODE = sys.argv[1] if len(sys.argv) > 1 else "proxied"
URI = os.environ["MLFLOW_TRACKING_URI"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def refused(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except MlflowException as error:
        check(error.error_code == code, f"{call.__name__}: {error.error_code} {error.message}")
        return error
    raise AssertionError(f"{call.__name__}{args} was accepted")


def pause():
    # Experiments are ordered by creation time (ms): keep them apart.
    time.sleep(0.003)


def experiments(client):
    exp_id = client.create_experiment("parity", tags={"team": "vision"})
    client.set_experiment_tag(exp_id, "stage", "dev")
    check(client.get_experiment(exp_id).tags == {"team": "vision", "stage": "dev"},
          f"tags {client.get_experiment(exp_id).tags}")
    client.delete_experiment_tag(exp_id, "stage")
    check(client.get_experiment(exp_id).tags == {"team": "vision"}, "tag deleted")
    refused("RESOURCE_DOES_NOT_EXIST", client.delete_experiment_tag, exp_id, "stage")

    client.rename_experiment(exp_id, "parity-renamed")
    check(client.get_experiment_by_name("parity-renamed").experiment_id == exp_id, "renamed")
    check(client.get_experiment_by_name("parity") is None, "old name gone")

    run = client.create_run(exp_id, run_name="kept")
    client.delete_experiment(exp_id)
    check(client.get_experiment(exp_id).lifecycle_stage == "deleted", "experiment deleted")
    check(client.get_run(run.info.run_id).info.lifecycle_stage == "deleted", "its run deleted")
    names = [e.name for e in client.search_experiments()]
    check("parity-renamed" not in names, f"deleted experiment listed: {names}")
    deleted = [e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)]
    check(deleted == ["parity-renamed"], f"DELETED_ONLY {deleted}")
    refused("INVALID_PARAMETER_VALUE", client.create_run, exp_id)
    refused("RESOURCE_DOES_NOT_EXIST", client.delete_experiment, exp_id)

    client.restore_experiment(exp_id)
    check(client.get_experiment(exp_id).lifecycle_stage == "active", "experiment restored")
    check(client.get_run(run.info.run_id).info.lifecycle_stage == "active", "its run restored")
    return exp_id


def search_order(client):
    created = []
    for name in ["order-b", "order-c", "order-a"]:
        pause()
        created.append(client.create_experiment(name))
    newest = [e.name for e in client.search_experiments(filter_string="name LIKE 'order-%'")]
    check(newest == ["order-a", "order-c", "order-b"], f"default order {newest}")
    by_name = [e.name for e in client.search_experiments(
        filter_string="name LIKE 'order-%'", order_by=["name DESC"])]
    check(by_name == ["order-c", "order-b", "order-a"], f"name DESC {by_name}")
    page = client.search_experiments(max_results=2, filter_string="name LIKE 'order-%'")
    check([e.name for e in page] == ["order-a", "order-c"] and page.token, "first page")
    rest = client.search_experiments(max_results=2, filter_string="name LIKE 'order-%'",
                                     page_token=page.token)
    check([e.name for e in rest] == ["order-b"] and not rest.token, "second page")
    oldest = [e.name for e in client.search_experiments(
        filter_string="name LIKE 'order-%'", order_by=["creation_time ASC"])]
    check(oldest == ["order-b", "order-c", "order-a"], f"creation_time ASC {oldest}")


def inputs(client, exp_id):
    run = client.create_run(exp_id, run_name="with-data")
    run_id = run.info.run_id
    dataset = Dataset(name="fmnist", digest="abc123", source_type="local", source="/data/fmnist",
                      schema='{"cols": ["x"]}', profile='{"rows": 10}')
    client.log_inputs(run_id, datasets=[
        DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "train")])])
    got = client.get_run(run_id).inputs.dataset_inputs
    check(len(got) == 1, f"inputs {got}")
    check(got[0].dataset.name == "fmnist" and got[0].dataset.digest == "abc123"
          and got[0].dataset.source_type == "local" and got[0].dataset.source == "/data/fmnist"
          and got[0].dataset.schema == '{"cols": ["x"]}'
          and got[0].dataset.profile == '{"rows": 10}', f"dataset {got[0].dataset}")
    check([(t.key, t.value) for t in got[0].tags] == [("mlflow.data.context", "train")],
          f"input tags {got[0].tags}")

    # The fluent API with a pandas dataset: digest, schema and profile computed by MLflow.
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    source = mlflow.data.from_pandas(frame, source="/data/frame.csv", name="frame", targets="y")
    with mlflow.start_run(experiment_id=exp_id, run_name="fluent") as fluent:
        mlflow.log_input(source, context="eval")
    logged = client.get_run(fluent.info.run_id).inputs.dataset_inputs
    check([i.dataset.name for i in logged] == ["frame"], f"fluent inputs {logged}")
    check(logged[0].dataset.digest == source.digest, "digest kept")
    check(json.loads(logged[0].dataset.profile) == source.profile, "profile kept")
    check([(t.key, t.value) for t in logged[0].tags] == [("mlflow.data.context", "eval")],
          "context tag")
    searched = client.search_runs([exp_id], filter_string=f"attributes.run_id = '{run_id}'")
    check([r.inputs.dataset_inputs[0].dataset.name for r in searched] == ["fmnist"],
          "search_runs returns inputs")


def artifacts(client, exp_id):
    run = client.create_run(exp_id, run_name="with-files")
    run_id = run.info.run_id
    uri = run.info.artifact_uri
    if MODE == "direct":
        check(uri.startswith("file://"), f"direct mode hands out a file URI: {uri}")
        check(client.get_experiment(exp_id).artifact_location.startswith("file://"),
              "direct mode: experiment location")
    else:
        check(uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts", f"proxied URI {uri}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "my.file")
        with open(path, "w") as f:
            f.write("12345")
        client.log_artifact(run_id, path)
        client.log_artifact(run_id, path, artifact_path="dir")
    top = sorted(a.path for a in client.list_artifacts(run_id))
    check(top == ["dir", "my.file"], f"client listing {top}")
    if MODE == "direct":
        local = uri[len("file://"):]
        check(os.path.isfile(os.path.join(local, "dir", "my.file")), "the client wrote the file")
    # The daemon's own listing (what MLflow's web UI calls), under both prefixes.
    for prefix in ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]:
        answer = requests.get(f"{URI}{prefix}/artifacts/list",
                              params={"run_id": run_id, "path": "dir"}, timeout=30)
        check(answer.status_code == 200, f"{prefix} artifacts/list: {answer.text}")
        body = answer.json()
        check(body["root_uri"] == uri, f"root_uri {body}")
        check(body["files"] == [{"path": "dir/my.file", "is_dir": False, "file_size": 5}],
              f"files {body}")


def validation():
    # What the client never sends but scripts do: MLflow's 400 and message text.
    answer = requests.post(f"{URI}/api/2.0/mlflow/experiments/create", json={"name": 123},
                           timeout=30)
    check(answer.status_code == 400, f"status {answer.status_code}")
    check(answer.json()["message"].startswith(
        "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'."),
        f"message {answer.json()}")


def main():
    client = MlflowClient()
    exp_id = experiments(client)
    search_order(client)
    inputs(client, exp_id)
    artifacts(client, exp_id)
    validation()
    # Left for the Rust side: one deleted experiment with a run, that `track query` must skip.
    gone = client.create_experiment("parity-gone")
    gone_run = client.create_run(gone, run_name="gone-run")
    client.set_terminated(gone_run.info.run_id)
    client.delete_experiment(gone)
    print(json.dumps({"experiment_id": exp_id, "deleted_experiment_id": gone,
                      "deleted_run_id": gone_run.info.run_id}))


if __name__ == "__main__":
    main()
