#!/usr/bin/env bash
# Train on a Cloud TPU VM pod slice: create, copy, install, run on all hosts, fetch results, delete.
#
#   experiments/tpu/pod.sh create            # the TPU VM slice (every host is a VM)
#   experiments/tpu/pod.sh copy              # this checkout (git archive of HEAD) to every host
#   experiments/tpu/pod.sh install           # venv + the package + jax[tpu] + the bucket mount, every host
#   experiments/tpu/pod.sh data              # the dataset onto every host's local disk (per-host loading)
#   experiments/tpu/pod.sh run [OVERRIDES]   # the same `armodels train --distributed` on every host
#   experiments/tpu/pod.sh status            # the last log lines of process 0
#   experiments/tpu/pod.sh fetch             # metrics, config and samples of the run, to runs/<RUN>
#   experiments/tpu/pod.sh delete
#
# Settings come from the environment (defaults below). DRY_RUN=1 prints the commands instead of
# running them. After a preemption (spot VM reclaimed, maintenance), `run` again: every host restores
# the latest checkpoint from the shared workdir and goes on from there.
#
# How the pieces fit (armodels_jax/training/distributed.py): `--distributed` calls
# jax.distributed.initialize(), which finds the other hosts of the slice by itself; the mesh then spans
# every chip of every host, each host loads only its slice of every global batch
# (train.batch_size is global, divisible by the number of chips), process 0 alone writes logs and
# metrics, and orbax writes each checkpoint once into the workdir, which must be the same folder on
# every host: here a Cloud Storage bucket mounted with gcsfuse at /gcs on each host.
set -euo pipefail

TPU="${TPU:-armodels-pod}"
ZONE="${ZONE:-us-central2-b}"
ACCELERATOR="${ACCELERATOR:-v4-32}"          # v4-32: 4 hosts x 4 chips
RUNTIME="${RUNTIME:-tpu-ubuntu2204-base}"
BUCKET="${BUCKET:-my-armodels-bucket}"       # gs://$BUCKET holds the workdirs (and the data, see `data`)
CONFIG="${CONFIG:-experiments/configs/pixelcnn_pp_cifar10.py}"
RUN="${RUN:-$(basename "${CONFIG%.py}")}"
DATA="${DATA:-}"                             # optional gs:// folder copied to ~/data on every host
SPOT="${SPOT:-0}"                            # 1: a spot (preemptible) slice
REMOTE_DIR="armodels_jax"
WORKDIR="/gcs/runs/$RUN"

run() {  # Prints, then runs unless DRY_RUN=1.
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ "${DRY_RUN:-0}" != "1" ]]; then "$@"; fi
}

on_all_hosts() {
  run gcloud compute tpus tpu-vm ssh "$TPU" --zone="$ZONE" --worker=all --command="$1"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  create)
    extra=()
    [[ "$SPOT" == "1" ]] && extra+=(--spot)
    run gcloud compute tpus tpu-vm create "$TPU" --zone="$ZONE" --accelerator-type="$ACCELERATOR" \
      --version="$RUNTIME" "${extra[@]}"
    ;;
  copy)
    archive="$(mktemp -d)/armodels_jax.tar.gz"
    run git archive --format=tar.gz --prefix="$REMOTE_DIR/" -o "$archive" HEAD
    run gcloud compute tpus tpu-vm scp "$archive" "$TPU:" --zone="$ZONE" --worker=all
    on_all_hosts "rm -rf $REMOTE_DIR && tar xzf armodels_jax.tar.gz"
    ;;
  install)
    on_all_hosts "set -e; cd $REMOTE_DIR && python3 -m venv .venv && .venv/bin/pip install -q -U pip \
&& .venv/bin/pip install -q -e . 'jax[tpu]' \
&& (command -v gcsfuse >/dev/null || (sudo apt-get -qq update && sudo apt-get -qq install -y gcsfuse)) \
&& sudo mkdir -p /gcs && sudo chown \$USER /gcs \
&& (mountpoint -q /gcs || gcsfuse --implicit-dirs $BUCKET /gcs)"
    ;;
  data)
    if [[ -z "$DATA" ]]; then
      echo "set DATA=gs://bucket/folder (an .npz, or a tensorflow_datasets folder) to copy" >&2
      exit 2
    fi
    on_all_hosts "mkdir -p ~/data && gcloud storage cp -r $DATA ~/data/"
    ;;
  run)
    overrides="$*"
    # nohup: the job survives the ssh session; every host writes its own log, process 0 the metrics.
    on_all_hosts "cd $REMOTE_DIR && TFDS_DATA_DIR=\$HOME/data/tensorflow_datasets nohup .venv/bin/armodels \
train --config $CONFIG --workdir $WORKDIR --distributed $overrides > ~/train_$RUN.log 2>&1 &"
    ;;
  status)
    run gcloud compute tpus tpu-vm ssh "$TPU" --zone="$ZONE" --worker=0 --command="tail -n 20 ~/train_$RUN.log"
    ;;
  fetch)
    run mkdir -p "runs/$RUN"
    run gcloud storage rsync -r --exclude='checkpoints/.*' "gs://$BUCKET/runs/$RUN" "runs/$RUN"
    ;;
  delete)
    run gcloud compute tpus tpu-vm delete "$TPU" --zone="$ZONE" --quiet
    ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    [[ -z "$cmd" || "$cmd" == "help" || "$cmd" == "-h" ]] && exit 0
    exit 2
    ;;
esac
