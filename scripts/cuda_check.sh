#!/usr/bin/env bash
# The CUDA path of the torch adapter, checked on a machine with an NVIDIA GPU whose python3
# has torch (CUDA build), hypothesis, pytest and pytest-xdist, from a checkout that is not
# installed (the plugin is loaded through PYTEST_PLUGINS). Writes each run's reports under
# $OUT (default ./cuda-check). Usage: bash scripts/cuda_check.sh
set -u
cd "$(dirname "$0")/.."
out=${OUT:-cuda-check}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTEST_PLUGINS=conformance.run.plugin PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, hypothesis, numpy; print('torch', torch.__version__, 'cuda', \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', \
'hypothesis', hypothesis.__version__, 'numpy', numpy.__version__)"
for device in cuda cpu; do
    start=$(date +%s)
    timeout 240 python3 -m conformance.run.cli --backend torch --device "$device" --quiet \
        --report-dir "$out/torch-$device" > "$out/torch-$device.log" 2>&1
    echo "torch --device $device: exit $? in $(( $(date +%s) - start )) s"
    grep -E "^claim x dtype|passed|failed" "$out/torch-$device.log" | tail -3
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
docs = {d: json.load(open(f"{out}/torch-{d}/results.json")) for d in ("cuda", "cpu")}
for device, doc in docs.items():
    bad = {c["id"]: c["verdicts"] for c in doc["claims"]
           if set(c["verdicts"].values()) - {"passed", "informational"}}
    print(device, doc["status"], doc["exit_status"], doc["backend"]["versions"], "not passed:", bad)
same = {c["id"]: c["verdicts"] for c in docs["cuda"]["claims"]} == {
    c["id"]: c["verdicts"] for c in docs["cpu"]["claims"]}
print("cuda verdicts equal cpu verdicts:", same)
for c in docs["cuda"]["claims"]:
    for t in c["tests"]:
        if t["verdict"] in ("failed", "error", "xpassed"):
            print("---", t["nodeid"], t["verdict"]); print(t["message"][:1500])
PY
