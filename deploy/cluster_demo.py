"""The whole system on the local cluster: `make k8s-demo` (after `make images`; it brings the
cluster up when it is down). The steps docs/deploying.md gives for minikube, on this machine's
Kubernetes: images into containerd, each role's Secret, a hostPath volume the pods may write,
the overlay, the demo tweets copied through the volume-loader pod, prepare, a first model, the API
restarted onto the prepared volume. Then it prints how to reach the API; `make k8s-down` ends it.

Credentials are generated here and written to var/k8s/credentials.json (mode 0600), never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy import cluster, kube, run_pods  # noqa: E402

DEMO_TWEETS = run_pods.ROOT / "data" / "sample" / "sentiment140_30k.csv.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000, help="tweets the first model trains on")
    args = parser.parse_args(argv)
    started = time.monotonic()
    cluster.up()
    cluster.load_images()
    docs = kube.for_this_cluster(run_pods.render())

    kube.apply(*[d for d in docs if d["kind"] == "Namespace"])
    credentials = {"api_token": secrets.token_hex(24), "operator_token": secrets.token_hex(24),
                   "labeller": "ada", "labeller_password": secrets.token_urlsafe(18)}  # fmt: skip
    store = cluster.DATA / "credentials.json"
    store.write_text(json.dumps(credentials, indent=2))
    store.chmod(0o600)
    accounts = cluster.DATA / "labellers"
    sentiops = Path(sys.executable).parent / "sentiops"
    subprocess.run([str(sentiops), "labellers", "add", "ada", "--file", str(accounts), "--password-stdin"],
                   input=credentials["labeller_password"], text=True, check=True, capture_output=True)  # fmt: skip
    kube.kubectl("create", "secret", "generic", "sentiops-api-token", "--from-file=token=/dev/stdin",
                 stdin=credentials["api_token"])  # fmt: skip
    kube.kubectl("create", "secret", "generic", "sentiops-admin-token", "--from-file=token=/dev/stdin",
                 stdin=credentials["operator_token"])  # fmt: skip
    kube.kubectl("create", "secret", "generic", "sentiops-labellers", f"--from-file=accounts={accounts}")
    accounts.unlink()

    # The pods' group owns the folder and what is made in it: what fsGroup does where a volume supports it.
    volume = cluster.DATA / "volume"
    volume.mkdir()
    shutil.chown(volume, 10001, 10001)
    volume.chmod(0o2775)
    kube.apply(kube.persistent_volume(volume))
    kube.apply(*[d for d in docs if d["kind"] in kube.OVERLAY_KINDS])
    kube.copy_to_volume(docs, DEMO_TWEETS, "/data/input")
    train_env = {"SENTIOPS_TRAIN_MAX_EXAMPLES": str(args.examples)}
    for name, env in (("sentiops-prepare", {}), ("sentiops-train", train_env)):
        print(f"job {name} ...", flush=True)
        if kube.run_job(docs, "Job", name, env, timeout=3600) != "Complete":
            print(kube.job_logs(name)[-3000:], file=sys.stderr)
            return 1
    # `data prepare` replaced data/ under the running API pods' mounts: restart them onto it.
    kube.kubectl("rollout", "restart", "deployment/sentiops-api")
    kube.kubectl("rollout", "status", "deployment/sentiops-api", "--timeout=600s")
    kubectl = f"KUBECONFIG={os.path.relpath(cluster.KUBECONFIG)} {os.path.relpath(run_pods.KUBECTL)}"
    print(
        f"\nsentiops is up on the local cluster in {time.monotonic() - started:.0f} s (credentials: "
        f"{os.path.relpath(store)}).\n"
        f"  {kubectl} -n sentiops get pods\n"
        f"  {kubectl} -n sentiops port-forward svc/sentiops-api 8000:80 &\n"
        '  curl -s localhost:8000/predict -H "Authorization: Bearer $(jq -r .api_token '
        f'{os.path.relpath(store)})" -H \'Content-Type: application/json\' -d \'{{"text": "what a lovely day"}}\'\n'
        f"  {kubectl} -n sentiops create job --from=cronjob/sentiops-batch batch-now   # a daily run, now\n"
        "  make k8s-down   # everything stopped and removed",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
