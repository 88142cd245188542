#!/usr/bin/env bash
# Train the bundled model on all of MOSES on one CUDA GPU (bf16), export it as the bundled file
# is made (a fitted prior with self-consistent sampling, an anomaly threshold, a property head
# refitted on the frozen encoder) and evaluate it the MOSES way. One command:
#
#     scripts/train_bundled.sh [OUT]            # default OUT: runs/bundled_gpu
#
# Sized for one H100: the `moses` preset (3 x 512 decoder, 128-d latent, grammar-aware
# SELFIES decoding) on the 1.58 M MOSES training molecules. The training loop has a time
# budget (MOLVAE_MAX_MINUTES, 8 by default): it times its steps and fits its schedules to the
# steps that fit, so training takes about 10 minutes on a GPU; export (with its head refit)
# and evaluation come on top.
# A second call with the same OUT resumes from OUT/last.pt (a finished run is not extended). Timings (per phase, and the
# trainer's own per-epoch rate in OUT/train.log) go to OUT/timings.json.
#
# Settings (environment variables; the defaults are the real run):
#   MOLVAE_DATA           training table          (../shared/data/moses/train.csv.gz)
#   MOLVAE_TEST           evaluation table        (test.csv.gz beside MOLVAE_DATA)
#   MOLVAE_PRESET         preset name or .toml    (moses)
#   MOLVAE_EPOCHS         override the epochs     (the preset's)
#   MOLVAE_MAX_MINUTES    training time budget    (8; 0: train every epoch, however long)
#   MOLVAE_MAX_MOLECULES  random sample of rows   (all)
#   MOLVAE_DEVICE         cuda, cpu or auto       (cuda)
#   MOLVAE_EVAL_N         molecules sampled       (30000, as issue #9's acceptance)
#   MOLVAE_N_REFERENCE    held-out molecules for the prior and threshold (10000)
#   MOLVAE_PRIOR          sampling prior fitted to them: mixture or gaussian (mixture; the
#                         recipe study in BENCHMARKS.md: it halves FCD on the same weights)
#   MOLVAE_SPREAD         mixture prior: scale of each reference posterior (1.8, as the
#                         shipped v3 model; larger: more novel, higher FCD)
#   MOLVAE_CONSISTENT_SPREAD  spread of `sample`'s default self-consistent sampling (2.2, as
#                         v3; empty, or MOLVAE_PRIOR=gaussian: every decode at MOLVAE_SPREAD)
#   MOLVAE_REFIT_HEAD     retrain the property head on this table's latent means, encoder
#                         and decoder frozen (MOLVAE_DATA, as v3: R² 0.94 -> 0.97 on logP;
#                         empty: keep the jointly trained head). On all of MOSES: ~1 h on
#                         2 CPU cores; an estimate of minutes on a GPU, not measured
#   MOLVAE_HEAD_HIDDEN    the refitted head's units per layer (512, as v3)
#   MOLVAE_EVALUATE       1: export and evaluate after training; 0: stop after training
#                         (to evaluate on another machine: run again there with 1)
#   MOLVAE_CACHE          where tokenised data is cached (~/.cache/molvae); a cache built
#                         elsewhere from the same table and options is reused
#
# train_s in timings.json includes cleaning and tokenising the data; the trainer prints the
# pure training rate (molecules/s) in OUT/train.log.
#
# Toy run on a CPU (what tests/test_scripts.py does):
#   MOLVAE_DATA=data/moses_train_2k.csv MOLVAE_TEST=data/moses_test_1k.csv MOLVAE_PRESET=tiny \
#   MOLVAE_EPOCHS=1 MOLVAE_DEVICE=cpu MOLVAE_EVAL_N=50 MOLVAE_N_REFERENCE=200 \
#   scripts/train_bundled.sh /tmp/toy
set -euo pipefail

OUT=${1:-runs/bundled_gpu}
DATA=${MOLVAE_DATA:-../shared/data/moses/train.csv.gz}
TEST=${MOLVAE_TEST:-$(dirname "$DATA")/test.csv.gz}
PRESET=${MOLVAE_PRESET:-moses}
DEVICE=${MOLVAE_DEVICE:-cuda}
MAX_MINUTES=${MOLVAE_MAX_MINUTES:-8}
EVALUATE=${MOLVAE_EVALUATE:-1}
EVAL_N=${MOLVAE_EVAL_N:-30000}
N_REFERENCE=${MOLVAE_N_REFERENCE:-10000}
PRIOR=${MOLVAE_PRIOR:-mixture}
SPREAD=${MOLVAE_SPREAD:-1.8}
CONSISTENT_SPREAD=${MOLVAE_CONSISTENT_SPREAD-2.2}
REFIT_HEAD=${MOLVAE_REFIT_HEAD-$DATA}
HEAD_HIDDEN=${MOLVAE_HEAD_HIDDEN:-512}
PY=${PYTHON:-python3}

if [[ "$DEVICE" == cuda ]] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "No CUDA device is visible; run on a GPU machine or set MOLVAE_DEVICE=cpu." >&2
    exit 1
fi
mkdir -p "$OUT"
args=(--preset "$PRESET" --properties logp,qed,sa,plogp --device "$DEVICE" --out "$OUT" --seed 0
      --max-minutes "$MAX_MINUTES")
[[ -n "${MOLVAE_EPOCHS:-}" ]] && args+=(--epochs "$MOLVAE_EPOCHS")
[[ -n "${MOLVAE_MAX_MOLECULES:-}" ]] && args+=(--max-molecules "$MOLVAE_MAX_MOLECULES")
[[ -f "$OUT/last.pt" ]] && args+=(--resume)

t0=$SECONDS
"$PY" -m molvae train "$DATA" "${args[@]}" 2>&1 | tee -a "$OUT/train.log"
t_train=$((SECONDS - t0))

write_timings() {  # OUT/timings.json: wall times of the phases and the training rate
"$PY" - "$OUT" "$DEVICE" "$@" <<'EOF'
import json
import sys

import pandas as pd
import torch

out, device, t_train, t_eval = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
metrics = pd.read_csv(f"{out}/metrics.csv")
state = torch.load(f"{out}/best.pt", map_location="cpu", weights_only=True)
n_train = len(state["train_hashes"])
rate = metrics["molecules"].sum() / metrics["train_s"].sum()  # the loop's own, over the run
timings = {
    "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    "train_command_s": t_train,  # data loading and set-up included
    "export_and_evaluate_s": int(t_eval[0]) if t_eval else None,
    "training_molecules": n_train,
    "epochs": round(float(metrics["molecules"].sum()) / n_train, 3),
    "molecules_per_s": round(float(rate), 1),
    "s_per_epoch": round(n_train / rate, 1),
}
with open(f"{out}/timings.json", "w") as f:
    json.dump(timings, f, indent=2)
print(json.dumps(timings))
EOF
}

if [[ "$EVALUATE" == 0 ]]; then
    write_timings "$t_train"
    exit 0
fi

# A held-out reference (training-table molecules the model did not see) for the prior.
"$PY" - "$OUT" "$DATA" "$N_REFERENCE" <<'EOF'
import sys
import pandas as pd
from molvae import MolVAE
from molvae.tabular import unseen_molecules

out, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
smiles = unseen_molecules(MolVAE.load(f"{out}/best.pt"), data, n)
pd.DataFrame({"SMILES": smiles}).to_csv(f"{out}/reference.csv", index=False)
print(f"{len(smiles)} held-out reference molecules -> {out}/reference.csv")
EOF

t1=$SECONDS
export_args=(--half --reference "$OUT/reference.csv" --prior "$PRIOR" --spread "$SPREAD")
# Self-consistent sampling needs the mixture prior.
[[ -n "$CONSISTENT_SPREAD" && "$PRIOR" == mixture ]] &&
    export_args+=(--consistent-spread "$CONSISTENT_SPREAD")
[[ -n "$REFIT_HEAD" ]] && export_args+=(--refit-head "$REFIT_HEAD" --head-hidden "$HEAD_HIDDEN")
"$PY" -m molvae export "$OUT/best.pt" -o "$OUT/molvae_moses.pt" "${export_args[@]}"
"$PY" -m molvae evaluate "$OUT/molvae_moses.pt" --test "$TEST" -n "$EVAL_N" \
    -o "$OUT/evaluate.json"
write_timings "$t_train" $((SECONDS - t1))
