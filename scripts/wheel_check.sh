#!/usr/bin/env bash
# The distribution as users install it: build the sdist and the wheel, install the wheel
# into a fresh venv outside the checkout (first without torch, with MyGrad; then with
# torch added), run the suite, and compare its verdicts with the editable install's.
# usage: scripts/wheel_check.sh EDITABLE_MYGRAD_REPORT EDITABLE_TORCH_REPORT
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mygrad_report=$(realpath "$1")
torch_report=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    exit 1
}
wheel=$(ls "$work"/dist/*.whl)
ls "$work"/dist/*.tar.gz >/dev/null  # the sdist too
python3 -m venv "$work/venv"
pip=("$work/venv/bin/pip" install -q -c "$root/constraints.txt")
"${pip[@]}" "$wheel[mygrad]"
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "wheel check: torch came with the wheel's MyGrad install; it must not" >&2
    exit 1
fi
# a folder outside the checkout: the installed package is judged, not the source tree
cd "$work"
"$work/venv/bin/autograd-conformance" --version
"$work/venv/bin/autograd-conformance" --backend mygrad --quiet --report-dir wheel-mygrad
"$work/venv/bin/python" "$root/scripts/same_verdicts.py" "$mygrad_report" wheel-mygrad

"${pip[@]}" torch
"$work/venv/bin/autograd-conformance" --backend torch --quiet --report-dir wheel-torch
"$work/venv/bin/python" "$root/scripts/same_verdicts.py" "$torch_report" wheel-torch
echo "wheel check: the installed wheel gives the editable install's verdicts (mygrad, torch)"
